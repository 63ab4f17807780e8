//! The analysis step: the configured LLM behind its protections, with the built-in
//! analyzers as the fast, honest fallback.
//!
//! - provider `none`: the built-in analysis, `preliminary`, no fallback reason;
//! - LLM answered in the schema: an LLM analysis, citations checked;
//! - LLM answered, but not in the schema even after one repair: its text is kept
//!   (`structured: false`, `raw_text`) next to the built-in findings, marked for re-run;
//! - breaker open, provider failing, deadline passed: the built-in analysis with
//!   `fallback_reason` and `needs_rerun`, so the nightly job tries the LLM again.

use std::sync::Arc;

use crate::analysis::{Analysis, Analyzer};
use crate::analyzers;
use crate::clock::SharedClock;
use crate::config::Env;
use crate::error::{Error, Result};
use crate::evidence::{BUNDLE_SCHEMA, EvidenceBundle};
use crate::llm::client::{Answer, Parts};
use crate::llm::retry::{RandomJitter, TokioSleeper};
use crate::llm::{LlmConfig, ResilientLlm, prompt};
use crate::redact::Redactor;
use crate::store::SharedStore;

/// Everything the analysis step needs, built once per process.
#[derive(Debug)]
pub struct AnalyzeContext {
    llm: Option<ResilientLlm>,
    input_tokens: usize,
    redactor: Arc<Redactor>,
    clock: SharedClock,
}

impl AnalyzeContext {
    /// From `AIOPS_LLM_*`, `AIOPS_BREAKER_*` and the redaction variables.
    pub fn from_env(env: &impl Env, store: SharedStore, clock: SharedClock) -> Result<Self> {
        let config = LlmConfig::from_env(env)?;
        let redactor = Redactor::from_env(env)?;
        Self::connect(config, Arc::new(redactor), store, clock)
    }

    /// The provider `config` names (none: the built-in analyzers alone), protected by the
    /// breaker whose state lives in `store`.
    pub fn connect(
        config: LlmConfig,
        redactor: Arc<Redactor>,
        store: SharedStore,
        clock: SharedClock,
    ) -> Result<Self> {
        let provider = crate::llm::provider(&config, &clock)?;
        let parts = provider.map(|llm| Parts {
            llm,
            store,
            clock: clock.clone(),
            sleeper: Arc::new(TokioSleeper),
            jitter: Arc::new(RandomJitter),
        });
        Ok(Self::new(config, parts, redactor, clock))
    }

    /// From parts: tests pass a manual clock, a clock-driven sleeper and fixed jitter.
    /// `parts` is `None` for the built-in analyzers only.
    pub fn new(
        config: LlmConfig,
        parts: Option<Parts>,
        redactor: Arc<Redactor>,
        clock: SharedClock,
    ) -> Self {
        if parts.is_some() {
            crate::llm::tokens::warm_up();
        }
        Self {
            input_tokens: config.input_tokens,
            llm: parts.map(|p| ResilientLlm::new(config, p)),
            redactor,
            clock,
        }
    }

    /// The protected LLM client, when a provider is configured.
    pub fn llm(&self) -> Option<&ResilientLlm> {
        self.llm.as_ref()
    }
}

/// Analyses `bundle`. Fails only on a bundle of an unknown schema: every LLM failure
/// becomes the built-in analysis with a fallback reason.
#[tracing::instrument(skip(ctx, bundle), fields(run_id = %bundle.run_id))]
pub async fn analyze(ctx: &AnalyzeContext, bundle: &EvidenceBundle) -> Result<Analysis> {
    if bundle.schema != BUNDLE_SCHEMA {
        return Err(Error::InvalidInput {
            field: "bundle.schema".into(),
            expected: format!("\"{BUNDLE_SCHEMA}\""),
        });
    }
    let builtin = analyzers::analyze(bundle, ctx.clock.now());
    let Some(llm) = &ctx.llm else {
        // Without an LLM the analysis is a pure function of the bundle: stamping it
        // with the collection time makes a re-run reproduce the same report exactly.
        return Ok(Analysis {
            generated_at: bundle.collected_at,
            ..builtin
        });
    };
    let prompt = prompt::build(bundle, &ctx.redactor, ctx.input_tokens);
    tracing::info!(
        tokens = prompt.tokens,
        omitted = prompt.omitted.len(),
        provider = llm.provider(),
        "prompt built"
    );
    let analyzer = Analyzer::Llm {
        provider: llm.provider().to_owned(),
        model: llm.model().to_owned(),
    };
    let mut analysis = match llm.analyze(&prompt).await {
        Ok(Answer::Structured(a)) => Analysis {
            analyzer,
            preliminary: false,
            structured: true,
            summary: a.summary,
            root_cause: a.root_cause,
            confidence: a.confidence,
            impact: a.impact,
            evidence_ids: a.evidence_ids,
            remediation: a.remediation,
            follow_ups: a.follow_ups,
            omitted: prompt.omitted,
            ..builtin
        },
        Ok(Answer::Unstructured { text, error }) => Analysis {
            analyzer,
            structured: false,
            raw_text: Some(text),
            omitted: prompt.omitted,
            fallback_reason: Some(
                ctx.redactor
                    .redact_text(&format!(
                        "the model's answer did not match the schema: {error}"
                    ))
                    .into_owned(),
            ),
            needs_rerun: true,
            ..builtin
        },
        Err(e) => {
            let reason = ctx.redactor.redact_text(&e.to_string()).into_owned();
            tracing::warn!(
                provider = llm.provider(),
                "LLM unavailable, built-in analysis stands in: {reason}"
            );
            Analysis {
                fallback_reason: Some(reason),
                needs_rerun: true,
                ..builtin
            }
        }
    };
    analysis.flag_unknown_citations(bundle);
    Ok(analysis)
}

/// The store key an analysis is kept under.
pub fn store_key(run_id: &str) -> String {
    Analysis::store_key(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::MapEnv;
    use crate::store::LocalStore;

    fn ctx(env: &MapEnv) -> (tempfile::TempDir, AnalyzeContext) {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(LocalStore::open(dir.path()).unwrap());
        let ctx = AnalyzeContext::from_env(
            env,
            store,
            Arc::new(ManualClock::at("2026-11-26T05:10:00Z")),
        )
        .unwrap();
        (dir, ctx)
    }

    #[tokio::test]
    async fn provider_none_answers_with_the_builtins_preliminary_without_a_fallback_reason() {
        let (_dir, ctx) = ctx(&MapEnv::new());
        assert!(ctx.llm().is_none());
        let bundle = analyzers::tests::crash_looping_web();
        let a = analyze(&ctx, &bundle).await.unwrap();
        assert_eq!(a.analyzer, Analyzer::Builtin);
        assert!(a.preliminary && !a.needs_rerun);
        assert_eq!(a.fallback_reason, None);
        assert_eq!(
            a.generated_at, bundle.collected_at,
            "stamped with the bundle, not the clock, so re-runs are identical"
        );
    }

    #[tokio::test]
    async fn a_bundle_of_another_schema_is_refused_naming_the_field() {
        let (_dir, ctx) = ctx(&MapEnv::new());
        let mut b = analyzers::tests::crash_looping_web();
        b.schema = "aiops.evidence/v0".into();
        let err = analyze(&ctx, &b).await.unwrap_err();
        assert!(err.to_string().contains("bundle.schema"), "{err}");
    }

    #[test]
    fn a_configured_provider_builds_the_protected_client() {
        let env = MapEnv::new()
            .with("AIOPS_LLM_PROVIDER", "anthropic")
            .with("AIOPS_LLM_MODEL", "claude-sonnet-4-5")
            .with("AIOPS_LLM_API_KEY", "sk-ant-test");
        let (_dir, ctx) = ctx(&env);
        let llm = ctx.llm().expect("an LLM");
        assert_eq!(
            (llm.provider(), llm.model()),
            ("anthropic", "claude-sonnet-4-5")
        );
        assert_eq!(llm.breaker().key(), "breakers/anthropic.json");
        assert_eq!(store_key("run-1"), "analyses/run-1.json");
    }
}
