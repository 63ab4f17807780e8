//! Rendering: a view of the bundle and analysis ([`view`]), redacted field by field,
//! through the embedded template with its escaping filters ([`markdown`]), then through
//! the redactor once more as a whole. The report names the evidence by its digest
//! ([`digest`]).

mod digest;
mod markdown;
mod view;

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::analysis::Analysis;
use crate::evidence::{BUNDLE_SCHEMA, EvidenceBundle};
use crate::redact::Redactor;

use super::index::IndexEntry;
use super::path::parse_entity_ref;
use super::{ReportConfig, ReportError};

pub use digest::bundle_digest;
pub(crate) use markdown::cell;
use markdown::{block_text, fenced, first_line, inline_code, step};
use view::build_view;

const REPORT_TEMPLATE: &str = include_str!("templates/report.md.j2");

/// A rendered, redacted report, ready for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The run.
    pub run_id: String,
    /// Path in the repository.
    pub path: String,
    /// The markdown, front matter included.
    pub markdown: String,
    /// The report's row in the index.
    pub entry: IndexEntry,
    /// Whether the analysis was preliminary.
    pub preliminary: bool,
    /// The commit message for this report.
    pub commit_message: String,
}

/// Renders the report for `bundle` and its `analysis`. The same inputs give the same
/// bytes: nothing here reads the clock or depends on hash order.
pub fn render(
    bundle: &EvidenceBundle,
    analysis: &Analysis,
    config: &ReportConfig,
    redactor: &Redactor,
) -> Result<Report, ReportError> {
    if bundle.schema != BUNDLE_SCHEMA {
        return Err(ReportError::invalid(
            "bundle.schema",
            format!("{BUNDLE_SCHEMA:?}"),
        ));
    }
    if analysis.run_id != bundle.run_id {
        return Err(ReportError::invalid(
            "analysis.run_id",
            format!("the bundle's run id {:?}", bundle.run_id),
        ));
    }
    let mut view = serde_json::to_value(build_view(bundle, analysis, config))
        .map_err(|e| ReportError::invalid("bundle", format!("serialisable evidence ({e})")))?;
    redact_strings(redactor, &mut view);
    let markdown = environment()
        .get_template("report.md")?
        .render(minijinja::value::Serde(&view))?;
    let markdown = redactor.redact_text(&markdown).into_owned();

    let path = config.path.path_for(bundle);
    let summary = redactor.redact_text(&analysis.summary).into_owned();
    let (_, _, name) = parse_entity_ref(&bundle.target.entity);
    let commit_message = redactor
        .redact_text(&format!(
            "rca({name}): {}{}\n\nRun {} in {}/{}.\n",
            first_line(&summary, 60),
            if analysis.preliminary {
                " [preliminary]"
            } else {
                ""
            },
            bundle.run_id,
            bundle.target.cluster,
            bundle.target.namespace,
        ))
        .into_owned();
    Ok(Report {
        run_id: bundle.run_id.clone(),
        entry: IndexEntry {
            date: bundle.collected_at.format("%Y-%m-%d").to_string(),
            entity: redactor.redact_text(&bundle.target.entity).into_owned(),
            summary,
            preliminary: analysis.preliminary,
            path: path.clone(),
        },
        path,
        markdown,
        preliminary: analysis.preliminary,
        commit_message,
    })
}

fn redact_strings(redactor: &Redactor, value: &mut Value) {
    match value {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(clean) = redactor.redact_text(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(redactor, v)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_strings(redactor, v)),
        _ => {}
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => tracing::error!("the report template syntax settings are refused: {e}"),
        }
        env.add_filter("cell", |s: String| cell(&s));
        env.add_filter("text", |s: String| block_text(&s));
        env.add_filter("yaml", |s: String| Value::String(s).to_string());
        env.add_filter("code", |s: String| inline_code(&s));
        env.add_filter("fence", |s: String| fenced(&s));
        env.add_filter("step", |s: String| step(&s));
        // The template is part of the binary; a syntax error is caught by every test.
        if let Err(e) = env.add_template("report.md", REPORT_TEMPLATE) {
            tracing::error!("the embedded report template does not parse: {e}");
        }
        env
    })
}
