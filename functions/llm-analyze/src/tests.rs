//! The handler on a local store, without an LLM (the LLM paths are proven against
//! wiremock in the aiops-tests crate).

use std::collections::BTreeMap;

use serde_json::json;
use shared::analysis::Analyzer;
use shared::clock::ManualClock;
use shared::config::MapEnv;
use shared::evidence::{BUNDLE_SCHEMA, ContainerEvidence, ContainerState, PodEvidence, Target};
use shared::store::LocalStore;

use super::*;

fn bundle(run_id: &str) -> EvidenceBundle {
    let t = |s: &str| chrono_time(s);
    EvidenceBundle {
        schema: BUNDLE_SCHEMA.into(),
        run_id: run_id.into(),
        collected_at: t("2026-11-26T05:06:32Z"),
        target: Target {
            entity: "component:default/web".into(),
            cluster: "dev-eu1".into(),
            namespace: "web-dev".into(),
            since: t("2026-11-26T03:06:32Z"),
            until: t("2026-11-26T05:06:32Z"),
        },
        entity: None,
        pods: vec![PodEvidence {
            id: "pod/web-1".into(),
            name: "web-1".into(),
            phase: "Pending".into(),
            node: None,
            owner: None,
            conditions: Vec::new(),
            containers: vec![ContainerEvidence {
                name: "web".into(),
                image: Some("ghcr.io/example/web:9.9.9".into()),
                ready: false,
                restart_count: 0,
                state: ContainerState::Waiting {
                    reason: Some("ErrImagePull".into()),
                    message: Some("manifest unknown".into()),
                },
                last_termination: None,
                requests: BTreeMap::new(),
                limits: BTreeMap::new(),
                previous_logs: Vec::new(),
            }],
            reason: None,
            message: None,
        }],
        events: Vec::new(),
        rollouts: Vec::new(),
        logs: Vec::new(),
        findings: Vec::new(),
        sources: BTreeMap::new(),
        objects: shared::evidence::RelatedObjects::default(),
    }
}

fn chrono_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("a test time")
        .with_timezone(&chrono::Utc)
}

fn context() -> (tempfile::TempDir, Context, SharedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(LocalStore::open(dir.path()).unwrap());
    let clock: SharedClock = Arc::new(ManualClock::at("2026-11-26T05:10:00Z"));
    let analyze = AnalyzeContext::from_env(&MapEnv::new(), store.clone(), clock).unwrap();
    (dir, Context::new(store.clone(), analyze), store)
}

#[tokio::test]
async fn a_run_id_reads_the_stored_bundle_and_the_analysis_is_stored_next_to_it() {
    let (_dir, ctx, store) = context();
    let b = bundle("run-7");
    store
        .put_if_absent(
            "evidence/run-7.json",
            Bytes::from(serde_json::to_vec(&b).unwrap()),
        )
        .await
        .unwrap();
    let a = handle(
        &ctx,
        Input {
            run_id: Some("run-7".into()),
            ..Input::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(a.analyzer, Analyzer::Builtin);
    assert!(a.summary.contains("does not exist"), "{}", a.summary);
    let stored = store
        .get("analyses/run-7.json")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        serde_json::from_slice::<Analysis>(&stored.value).unwrap(),
        a
    );

    // A re-run replaces it.
    let again = handle(
        &ctx,
        Input {
            evidence_key: Some("evidence/run-7.json".into()),
            ..Input::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(again, a);
}

#[tokio::test]
async fn an_inline_bundle_is_analysed_without_reading_the_store() {
    let (_dir, ctx, store) = context();
    let a = handle(
        &ctx,
        Input {
            bundle: Some(Box::new(bundle("run-8"))),
            ..Input::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(a.run_id, "run-8");
    assert!(store.get("analyses/run-8.json").await.unwrap().is_some());
}

#[tokio::test]
async fn bad_references_are_invalid_input_naming_the_field() {
    let (_dir, ctx, _store) = context();
    let cases = [
        (Input::default(), "event: expected exactly one of"),
        (
            Input {
                run_id: Some("a".into()),
                evidence_key: Some("evidence/a.json".into()),
                bundle: None,
            },
            "event: expected exactly one of",
        ),
        (
            Input {
                run_id: Some("../x".into()),
                ..Input::default()
            },
            "event.run_id:",
        ),
        (
            Input {
                evidence_key: Some("runs/a.json".into()),
                ..Input::default()
            },
            "event.evidence_key: expected a store key of the form evidence/<id>.json",
        ),
        (
            Input {
                run_id: Some("missing".into()),
                ..Input::default()
            },
            "no evidence bundle at evidence/missing.json",
        ),
    ];
    for (input, expected) in cases {
        let err = handle(&ctx, input).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(err.to_string().starts_with(expected), "{err}");
    }
}

#[tokio::test]
async fn the_event_mode_decodes_the_bundle_and_names_a_bad_nested_field() {
    let (dir, ctx, _store) = context();
    let mut event = json!({"bundle": bundle("run-9")});
    event["bundle"]["pods"][0]["phase"] = json!(3);
    let path = dir.path().join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = shared::invoke::run_local(
        "llm-analyze",
        &["--event".into(), path.display().to_string()],
        &mut std::io::empty(),
        &mut out,
        &mut err,
        |input| handle(&ctx, input),
    )
    .await;
    assert_eq!(code, 2);
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("event.bundle.pods[0].phase"), "{err}");
}

#[tokio::test]
async fn a_config_built_literally_connects_with_the_builtin_analyzers() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        store: StoreConfig::Local(dir.path().to_path_buf()),
        llm: LlmConfig::from_env(&MapEnv::new()).unwrap(),
        redaction: RedactionConfig::default(),
    };
    let ctx = Context::connect(config).await.unwrap();
    assert!(ctx.analyze().llm().is_none(), "no provider configured");
    let err = Config::from_env(&MapEnv::new().with("AIOPS_LLM_PROVIDER", "clippy"))
        .expect_err("unknown provider");
    assert_eq!(err.var(), "AIOPS_LLM_PROVIDER");
}
