//! The handler with a local store and the local git sink: from the store, inline, and
//! the errors that name what is missing.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use commit_report::{Config, Context, Error, Input, handle};
use shared::analysis::Analysis;
use shared::config::MapEnv;
use shared::error::{Classify, ErrorKind};
use shared::evidence::EvidenceBundle;
use shared::redact::{RedactionConfig, Redactor};
use shared::report::ReportConfig;
use shared::report::sink::{GitAuthor, LocalGitConfig, LocalGitSink, SinkConfig};
use shared::store::{LocalStore, SharedStore, StoreConfig};

const RUN: &str = "01936b61-0c1d-7e2f-a345-b6c7d8e9f0a1";

fn bundle() -> EvidenceBundle {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/bundles/unschedulable.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("example bundle")).expect("bundle")
}

fn analysis() -> Analysis {
    serde_json::from_value(serde_json::json!({
        "run_id": RUN,
        "analyzer": {"kind": "builtin"},
        "preliminary": true,
        "summary": "billing-0 cannot be scheduled: no node matches its node selector.",
        "root_cause": "The StatefulSet's nodeSelector matches none of the 3 nodes.",
        "confidence": "high",
        "evidence_ids": ["pod/billing-0", "event/0"],
        "remediation": ["Fix the nodeSelector of StatefulSet billing, or label a node to match."],
        "generated_at": "2026-11-26T05:10:30Z"
    }))
    .expect("analysis")
}

fn context(tmp: &std::path::Path) -> (Context, SharedStore) {
    let store: SharedStore = Arc::new(LocalStore::open(tmp.join("store")).expect("store"));
    let sink = Arc::new(LocalGitSink::new(LocalGitConfig {
        dir: tmp.join("reports"),
        author: GitAuthor {
            name: "aiops".into(),
            email: "aiops@localhost".into(),
        },
    }));
    let ctx = Context::new(
        store.clone(),
        ReportConfig::default(),
        Arc::new(Redactor::default()),
        sink,
    );
    (ctx, store)
}

async fn put(store: &SharedStore, key: &str, value: &impl serde::Serialize) {
    let bytes = Bytes::from(serde_json::to_vec(value).expect("json"));
    store.put_if_absent(key, bytes).await.expect("put");
}

#[tokio::test]
async fn reads_bundle_and_analysis_from_the_store_and_commits_idempotently() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ctx, store) = context(tmp.path());
    put(&store, &format!("evidence/{RUN}.json"), &bundle()).await;
    put(&store, &format!("analyses/{RUN}.json"), &analysis()).await;
    let input = Input {
        run_id: RUN.into(),
        bundle: None,
        analysis: None,
    };

    let first = handle(&ctx, input.clone()).await.expect("first");
    assert_eq!(first.path, format!("rca/billing/2026-11-26-{RUN}.md"));
    assert_eq!(first.commit.len(), 40);
    let file =
        std::fs::read_to_string(tmp.path().join("reports").join(&first.path)).expect("report file");
    assert!(file.contains("billing-0 cannot be scheduled"));

    let retried = handle(&ctx, input).await.expect("retry");
    assert_eq!(retried, first, "a retried step commits nothing new");
}

#[tokio::test]
async fn inline_documents_need_no_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ctx, _) = context(tmp.path());
    let out = handle(
        &ctx,
        Input {
            run_id: RUN.into(),
            bundle: Some(bundle()),
            analysis: Some(analysis()),
        },
    )
    .await
    .expect("inline");
    assert!(out.url.starts_with("file://"));
}

#[tokio::test]
async fn a_missing_analysis_names_its_store_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ctx, store) = context(tmp.path());
    put(&store, &format!("evidence/{RUN}.json"), &bundle()).await;
    let err = handle(
        &ctx,
        Input {
            run_id: RUN.into(),
            bundle: None,
            analysis: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Stored { missing: true, .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("analyses/{RUN}.json")),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[tokio::test]
async fn documents_of_another_run_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ctx, _) = context(tmp.path());
    let err = handle(
        &ctx,
        Input {
            run_id: "other".into(),
            bundle: Some(bundle()),
            analysis: Some(analysis()),
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with("event.bundle.run_id: "),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_event_field_is_refused_by_name() {
    let err =
        shared::invoke::decode_event::<Input>(serde_json::json!({"run_id": RUN, "bundel": {}}))
            .unwrap_err();
    assert!(err.message.contains("bundel"), "{}", err.message);
}

#[tokio::test]
async fn a_config_built_literally_opens_the_store_and_sink_it_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = Config {
        store: StoreConfig::Local(tmp.path().join("store")),
        report: ReportConfig::default(),
        sink: SinkConfig::Local(LocalGitConfig {
            dir: tmp.path().join("reports"),
            author: GitAuthor {
                name: "aiops".into(),
                email: "aiops@localhost".into(),
            },
        }),
        redaction: RedactionConfig::default(),
    };
    let ctx = Context::connect(config).await.expect("context");
    let out = handle(
        &ctx,
        Input {
            run_id: RUN.into(),
            bundle: Some(bundle()),
            analysis: Some(analysis()),
        },
    )
    .await
    .expect("committed");
    assert!(tmp.path().join("reports").join(&out.path).is_file());
}

#[test]
fn the_config_is_read_from_the_environment_once_and_names_a_bad_variable() {
    let env = MapEnv::new()
        .with("AIOPS_STORE", "s3://reports-bucket/aiops")
        .with("AIOPS_VICTORIALOGS_URL", "https://logs.example.com");
    let config = Config::from_env(&env).expect("valid");
    assert!(matches!(config.store, StoreConfig::S3(_)));
    assert!(config.report.victorialogs_url.is_some());
    let err = Config::from_env(&env.clone().with("AIOPS_VICTORIALOGS_URL", "ftp://logs"))
        .expect_err("bad URL");
    assert_eq!(err.var(), "AIOPS_VICTORIALOGS_URL");
}
