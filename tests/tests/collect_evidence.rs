//! The collect-evidence step end to end: configuration from the environment, a catalog,
//! a Kubernetes API and VictoriaLogs served from real answers with secrets seeded into
//! pod env, events and log lines, and the persisted bundle read back from the store.
#![allow(clippy::unwrap_used)]

use aiops_tests::kube_api::{self, HEALTHY_POD, Seed, data, text};
use collect_evidence::{Config, Context, Input, handle};
use shared::collect::CollectSettings;
use shared::config::MapEnv;
use shared::evidence::{EvidenceBundle, SourceState};
use shared::redact::RedactionConfig;
use shared::sources::clusters::ClustersConfig;
use shared::sources::logsql::LogSchema;
use shared::store::StoreConfig;
use wiremock::matchers::{header, method, path, query_param_contains};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "Sup3rS3cretDbPassw0rd";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

async fn catalog() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/catalog/entities/by-name/component/default/web"))
        .and(header("authorization", "Bearer catalog-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(data("backstage/entity-by-name.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn logs() -> MockServer {
    let server = MockServer::start().await;
    let errors = text("victorialogs/query-web-errors.jsonl");
    let leaked = errors.lines().next().unwrap().replace(
        "config: unknown key",
        &format!("aws_secret_access_key={AWS_KEY} password={PASSWORD} config: unknown key"),
    );
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .and(query_param_contains("query", "\"kubernetes.pod_labels."))
        .and(query_param_contains("query", "AND (\"level\""))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(format!("{leaked}\n"), "application/stream+json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .and(query_param_contains("query", "\"kubernetes.pod_labels."))
        .and(query_param_contains("query", "AND NOT (\"level\""))
        .respond_with(ResponseTemplate::new(200).set_body_raw("", "application/stream+json"))
        .expect(1)
        .mount(&server)
        .await;
    // The healthy pod logged nothing under its labels: it is looked up by name, both
    // parts, and has nothing either.
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .and(query_param_contains(
            "query",
            format!("\"kubernetes.pod_name\":in(\"{HEALTHY_POD}\")"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw("", "application/stream+json"))
        .expect(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn evidence_is_collected_redacted_and_persisted_before_the_step_returns() {
    let (catalog, logs, kube) = (catalog().await, logs().await, MockServer::start().await);
    let seed = Seed {
        env_secret: Some(PASSWORD.into()),
        event_secret: Some(PASSWORD.into()),
        ..Seed::default()
    };
    kube_api::mount_web(&kube, &seed).await;
    kube_api::mount_k8sgpt(&kube, true, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = MapEnv::new()
        .with("AIOPS_STORE", dir.path().to_string_lossy())
        .with("AIOPS_BACKSTAGE_URL", catalog.uri())
        .with("AIOPS_BACKSTAGE_TOKEN", "catalog-token")
        .with("AIOPS_VICTORIALOGS_URL", logs.uri())
        .with(
            "AIOPS_CLUSTERS",
            format!(r#"{{"dev": {{"url": "{}"}}}}"#, kube.uri()),
        );
    let ctx = Context::from_env(&env).await.unwrap();
    let input: Input = serde_json::from_value(serde_json::json!({
        "run_id": "run-e2e", "entity": "component:default/web", "cluster": "dev",
        "since": "2026-11-26T03:00:00Z", "until": "2026-11-26T06:00:00Z"
    }))
    .unwrap();
    let out = handle(&ctx, input).await.unwrap();

    assert_eq!(out.evidence_key, "evidence/run-e2e.json");
    for name in ["catalog", "kubernetes", "logs", "k8sgpt"] {
        assert_eq!(
            out.sources[name].status,
            SourceState::Ok,
            "{name}: {:?}",
            out.sources[name]
        );
    }
    assert_eq!(
        (out.counts.pods, out.counts.events, out.counts.rollouts),
        (2, 4, 1)
    );
    assert_eq!((out.counts.logs, out.counts.findings), (1, 1));

    let stored = std::fs::read_to_string(dir.path().join("evidence/run-e2e.json")).unwrap();
    for secret in [PASSWORD, AWS_KEY] {
        assert!(
            !stored.contains(secret),
            "{secret} reached the bundle: {stored}"
        );
    }
    let bundle: EvidenceBundle = serde_json::from_str(&stored).unwrap();
    assert_eq!(bundle.schema, "aiops.evidence/v1");
    assert_eq!(
        bundle.target.namespace, "web-dev",
        "from the entity's annotation"
    );
    assert_eq!(
        bundle.entity.unwrap().owner.as_deref(),
        Some("group:default/web")
    );
    assert!(
        bundle.logs[0].message.contains("config: unknown key"),
        "{}",
        bundle.logs[0].message
    );
    assert!(
        bundle
            .events
            .iter()
            .any(|e| e.message.contains("Back-off restarting"))
    );
}

#[tokio::test]
async fn a_bad_event_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let env = MapEnv::new().with("AIOPS_STORE", dir.path().to_string_lossy());
    let ctx = Context::from_env(&env).await.unwrap();
    let input: Input = serde_json::from_value(serde_json::json!({
        "run_id": "r", "entity": "component:default/web", "cluster": "dev", "since": "last tuesday"
    }))
    .unwrap();
    let err = handle(&ctx, input).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: since: expected a duration such as 2h or an RFC 3339 time"
    );
    assert_eq!(shared::Classify::kind(&err), shared::ErrorKind::Invalid);
}

#[tokio::test]
async fn the_config_reads_the_log_tenant_once_and_a_literal_config_connects() {
    let dir = tempfile::tempdir().unwrap();
    let env = MapEnv::new()
        .with("AIOPS_STORE", dir.path().to_string_lossy())
        .with("AIOPS_VICTORIALOGS_URL", "http://logs.example.com:9428")
        .with("AIOPS_VICTORIALOGS_ACCOUNT_ID", "42");
    let config = Config::from_env(&env).unwrap();
    assert_eq!(
        config
            .logs
            .as_ref()
            .and_then(shared::victorialogs::Endpoint::account_id),
        Some(42)
    );
    let err =
        Config::from_env(&env.clone().with("AIOPS_VICTORIALOGS_PROJECT_ID", "x")).unwrap_err();
    assert_eq!(err.var(), "AIOPS_VICTORIALOGS_PROJECT_ID");

    let literal = Config {
        settings: CollectSettings::default(),
        catalog: None,
        logs: None,
        log_schema: LogSchema::vector(),
        clusters: ClustersConfig::default(),
        store: StoreConfig::Local(dir.path().to_path_buf()),
        redaction: RedactionConfig::default(),
    };
    let ctx = Context::connect(literal).await.unwrap();
    assert!(ctx.collect.catalog.is_none() && ctx.collect.logs.is_none());
}
