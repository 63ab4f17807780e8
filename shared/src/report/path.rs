//! Where a report goes in the repository: `AIOPS_REPORT_PATH`, a pattern with
//! placeholders in braces. The path depends only on the run (its id, its date, its
//! target), never on the analysis, so a re-run that upgrades a preliminary report
//! rewrites the same file.
//!
//! Placeholders: `{entity_name}`, `{entity_kind}`, `{entity_namespace}` (from the
//! target's entity ref `kind:namespace/name`), `{cluster}`, `{namespace}`, `{date}`
//! (`YYYY-MM-DD` of the run's collection time, UTC) and `{run_id}` (required, so two
//! runs never share a file). Substituted values keep only `A-Z a-z 0-9 . _ -`; anything
//! else becomes `-`.

use crate::evidence::EvidenceBundle;

use super::index::INDEX_PATH;

/// The default pattern.
pub const DEFAULT_PATTERN: &str = "rca/{entity_name}/{date}-{run_id}.md";

pub(crate) const EXPECTED: &str = "a relative path pattern ending in .md with {run_id}, e.g. \
     rca/{entity_name}/{date}-{run_id}.md (placeholders: entity_name, entity_kind, \
     entity_namespace, cluster, namespace, date, run_id)";

const PLACEHOLDERS: [&str; 7] = [
    "entity_name",
    "entity_kind",
    "entity_namespace",
    "cluster",
    "namespace",
    "date",
    "run_id",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(&'static str),
}

/// A parsed, checked path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    parts: Vec<Part>,
}

impl Default for PathPattern {
    fn default() -> Self {
        Self::parse(DEFAULT_PATTERN).unwrap_or(Self { parts: Vec::new() })
    }
}

impl PathPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        let mut parts = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| "an opening { has no closing }".to_owned())?;
            if rest[..open].contains('}') {
                return Err("a closing } has no opening {".into());
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let name = &rest[open + 1..close];
            let known = PLACEHOLDERS
                .iter()
                .find(|p| **p == name)
                .ok_or_else(|| format!("unknown placeholder {{{name}}}"))?;
            parts.push(Part::Placeholder(known));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err("a closing } has no opening {".into());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.contains(&Part::Placeholder("run_id")) {
            return Err("{run_id} is missing, so runs would overwrite each other".into());
        }
        if !std::path::Path::new(pattern)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            return Err("the path must end in .md".into());
        }
        let literal: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Placeholder(_) => None,
            })
            .collect();
        if pattern.starts_with('/')
            || literal.contains('\\')
            || pattern
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err("the path must be relative, without empty, . or .. segments".into());
        }
        Ok(Self { parts })
    }

    /// The report path for `bundle`'s run.
    pub fn path_for(&self, bundle: &EvidenceBundle) -> String {
        let (kind, namespace, name) = parse_entity_ref(&bundle.target.entity);
        let date = bundle.collected_at.format("%Y-%m-%d").to_string();
        let path: String = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.clone(),
                Part::Placeholder(p) => sanitize(match *p {
                    "entity_name" => name,
                    "entity_kind" => kind,
                    "entity_namespace" => namespace,
                    "cluster" => &bundle.target.cluster,
                    "namespace" => &bundle.target.namespace,
                    "date" => &date,
                    _ => &bundle.run_id,
                }),
            })
            .collect();
        // The index has its own path; a pattern that lands on it must not clobber it.
        if path == INDEX_PATH {
            format!(
                "{}-{}.md",
                path.trim_end_matches(".md"),
                sanitize(&bundle.run_id)
            )
        } else {
            path
        }
    }
}

/// Splits `kind:namespace/name` (kind defaults to `component`, namespace to `default`,
/// as in Backstage) into kind, namespace and name, as written.
pub fn parse_entity_ref(entity: &str) -> (&str, &str, &str) {
    let (kind, rest) = entity.split_once(':').unwrap_or(("component", entity));
    let (namespace, name) = rest.split_once('/').unwrap_or(("default", rest));
    (kind, namespace, name)
}

fn sanitize(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // A value of dots alone would make a `.`/`..` segment.
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "unknown".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(entity: &str, run_id: &str) -> EvidenceBundle {
        serde_json::from_value(serde_json::json!({
            "schema": "aiops.evidence/v1",
            "run_id": run_id,
            "collected_at": "2026-11-26T05:10:00Z",
            "target": {"entity": entity, "cluster": "dev-eu1", "namespace": "web-dev",
                       "since": "2026-11-26T04:10:00Z", "until": "2026-11-26T05:10:00Z"}
        }))
        .unwrap()
    }

    #[test]
    fn default_pattern_uses_entity_name_run_date_and_run_id() {
        let p = PathPattern::default();
        assert_eq!(
            p.path_for(&bundle("component:default/web", "r-1")),
            "rca/web/2026-11-26-r-1.md"
        );
    }

    #[test]
    fn every_placeholder_substitutes_and_unsafe_characters_become_dashes() {
        let p = PathPattern::parse(
            "{cluster}/{namespace}/{entity_kind}/{entity_namespace}/{entity_name}/{date}/{run_id}.md",
        )
        .unwrap();
        assert_eq!(
            p.path_for(&bundle("Component:team a/../web", "../x")),
            "dev-eu1/web-dev/Component/team-a/..-web/2026-11-26/..-x.md"
        );
        assert_eq!(
            p.path_for(&bundle("web", "..")),
            "dev-eu1/web-dev/component/default/web/2026-11-26/unknown.md"
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (pattern, reason) in [
            ("rca/{entity_name}.md", "{run_id} is missing"),
            ("rca/{owner}/{run_id}.md", "unknown placeholder {owner}"),
            ("rca/{run_id.md", "no closing"),
            ("rca/run_id}/{run_id}.md", "no opening"),
            ("/abs/{run_id}.md", "relative"),
            ("rca/../{run_id}.md", "relative"),
            ("rca/{run_id}.txt", ".md"),
        ] {
            let err = PathPattern::parse(pattern).unwrap_err();
            assert!(err.contains(reason), "{pattern}: {err}");
        }
    }

    #[test]
    fn a_pattern_landing_on_the_index_does_not_overwrite_it() {
        let p = PathPattern::parse("rca/{run_id}.md").unwrap();
        assert_eq!(p.path_for(&bundle("web", "README")), "rca/README-README.md");
    }
}
