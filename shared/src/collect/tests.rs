//! Collection scenarios with in-process sources on a paused clock: concurrency, timeouts,
//! partial failure, relocation by the entity's annotations, redaction, re-collection.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::clock::ManualClock;
use crate::evidence::{
    CatalogEntity, ContainerEvidence, ContainerState, EventGroup, LogLine, ObjectRef, PodEvidence,
    Termination,
};
use crate::sources::{Cluster, ClusterSources, FindingSource};
use crate::store::LocalStore;

const SECRET: &str = "AKIAIOSFODNN7EXAMPLE";

#[derive(Debug, Default)]
struct Script {
    catalog_delay: u64,
    cluster_delay: u64,
    logs_delay: u64,
    findings_delay: u64,
    entity: Option<CatalogEntity>,
    findings_fail: bool,
    selectors: Mutex<Vec<String>>,
    /// Log records carry pod names but no label fields: the label query finds nothing.
    logs_without_labels: bool,
    /// The log source holds no line at all.
    no_logs: bool,
    /// Pod names asked for by name.
    pod_queries: Mutex<Vec<Vec<String>>>,
}

#[derive(Debug, Clone)]
struct Fake(Arc<Script>);

async fn after(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[async_trait]
impl Catalog for Fake {
    async fn entity(&self, entity: &EntityRef) -> Result<CatalogEntity, SourceError> {
        after(self.0.catalog_delay).await;
        self.0.entity.clone().ok_or_else(|| SourceError::NotFound {
            what: format!("entity {entity}"),
        })
    }
}

#[async_trait]
impl Cluster for Fake {
    async fn workload(
        &self,
        w: &Workload,
        _: &Window,
        _: &ClusterOptions,
    ) -> Result<ClusterEvidence, SourceError> {
        self.0.selectors.lock().unwrap().push(w.selector.clone());
        after(self.0.cluster_delay).await;
        Ok(ClusterEvidence {
            pods: vec![PodEvidence {
                id: "pod/web-1".into(),
                name: "web-1".into(),
                phase: "Running".into(),
                node: None,
                owner: Some(ObjectRef {
                    kind: "ReplicaSet".into(),
                    name: "web-6f9".into(),
                }),
                conditions: vec![],
                containers: vec![ContainerEvidence {
                    name: "web".into(),
                    image: None,
                    ready: false,
                    restart_count: 3,
                    state: ContainerState::Unknown,
                    last_termination: Some(Termination {
                        reason: Some("Error".into()),
                        exit_code: Some(1),
                        signal: None,
                        message: Some(format!("AWS_ACCESS_KEY_ID={SECRET} rejected")),
                        started_at: None,
                        finished_at: None,
                    }),
                    requests: std::collections::BTreeMap::default(),
                    limits: std::collections::BTreeMap::default(),
                    previous_logs: vec![format!("connecting with password=hunter2-{SECRET}")],
                }],
                reason: None,
                message: None,
            }],
            events: vec![EventGroup {
                id: String::new(),
                type_: "Warning".into(),
                reason: "Failed".into(),
                object: ObjectRef {
                    kind: "Pod".into(),
                    name: "web-1".into(),
                },
                message: format!("pull failed: token ghp_{}", "a".repeat(36)),
                count: 2,
                first_seen: None,
                last_seen: None,
            }],
            rollouts: vec![],
            objects: crate::evidence::RelatedObjects::default(),
            notes: vec![],
            dropped_items: 4,
            dropped_bytes: 0,
        })
    }
}

#[async_trait]
impl LogSource for Fake {
    async fn logs(
        &self,
        _: &Workload,
        _: &Window,
        _: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        after(self.0.logs_delay).await;
        if self.0.logs_without_labels || self.0.no_logs {
            return Ok(Capped::default());
        }
        Ok(Capped {
            items: vec![LogLine {
                id: "log/0".into(),
                time: None,
                pod: Some("web-1".into()),
                container: None,
                level: Some("error".into()),
                message: format!("db url postgres://app:s3cr3t-pw@db:5432/app key {SECRET}"),
            }],
            dropped_items: 7,
            dropped_bytes: 100,
        })
    }

    async fn pod_logs(
        &self,
        namespace: &str,
        pods: &[String],
        _: &Window,
        caps: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        assert_eq!(namespace, "web-dev");
        assert!(caps.log_lines > 0);
        self.0.pod_queries.lock().unwrap().push(pods.to_vec());
        if self.0.no_logs {
            return Ok(Capped::default());
        }
        Ok(Capped {
            items: pods
                .iter()
                .map(|p| LogLine {
                    id: "log/0".into(),
                    time: None,
                    pod: Some(p.clone()),
                    container: None,
                    level: None,
                    message: "dial tcp db:5432: connect: connection refused".into(),
                })
                .collect(),
            ..Capped::default()
        })
    }
}

#[async_trait]
impl FindingSource for Fake {
    async fn findings(&self, _: &Workload) -> Result<Capped<Finding>, SourceError> {
        after(self.0.findings_delay).await;
        if self.0.findings_fail {
            return Err(SourceError::failed(
                "listing k8sgpt results: 500 InternalError",
                true,
            ));
        }
        let finding = |kind: &str, name: &str, parent: &str| Finding {
            id: String::new(),
            kind: kind.into(),
            name: name.into(),
            parent_object: Some(parent.into()),
            errors: vec!["exit code 1".into()],
            details: None,
        };
        Ok(Capped {
            items: vec![
                finding("Pod", "web-1", "Deployment/web"),
                finding("Pod", "other-1", "Deployment/other"),
            ],
            ..Capped::default()
        })
    }
}

#[async_trait]
impl ClusterProvider for Fake {
    async fn cluster(&self, name: &str) -> Result<ClusterSources, SourceError> {
        if name != "prod" {
            return Err(SourceError::failed(
                format!("cluster {name:?} is not in AIOPS_CLUSTERS"),
                false,
            ));
        }
        Ok(ClusterSources {
            cluster: Arc::new(self.clone()),
            findings: Arc::new(self.clone()),
        })
    }
}

fn web_entity() -> CatalogEntity {
    CatalogEntity {
        entity_ref: "component:default/web".into(),
        kubernetes_id: Some("web".into()),
        kubernetes_namespace: Some("web-dev".into()),
        ..CatalogEntity::default()
    }
}

fn context(script: Script, dir: &std::path::Path) -> (CollectContext, Arc<Script>) {
    let script = Arc::new(script);
    let fake = Fake(script.clone());
    let ctx = CollectContext {
        catalog: Some(Arc::new(fake.clone())),
        clusters: Arc::new(fake.clone()),
        logs: Some(Arc::new(fake)),
        store: Arc::new(LocalStore::open(dir).unwrap()),
        redactor: Arc::new(Redactor::default()),
        clock: Arc::new(ManualClock::at("2026-11-26T06:00:00Z")),
        settings: CollectSettings {
            timeout: Duration::from_secs(1),
            caps: Caps::default(),
        },
    };
    (ctx, script)
}

fn request(namespace: Option<&str>) -> CollectRequest {
    let now = DateTime::parse_from_rfc3339("2026-11-26T06:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    parse_request(
        "run-1",
        "component:default/web",
        "prod",
        namespace,
        "2h",
        None,
        now,
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn wall_time_follows_the_slowest_source_not_the_sum() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            catalog_delay: 100,
            cluster_delay: 200,
            logs_delay: 400,
            findings_delay: 300,
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    let start = Instant::now();
    let bundle = collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed <= Duration::from_millis(480),
        "took {elapsed:?}, slowest is 400 ms"
    );
    assert!(elapsed >= Duration::from_millis(400), "took {elapsed:?}");
    for name in ["catalog", "kubernetes", "logs", "k8sgpt"] {
        assert_eq!(
            bundle.sources[name].status,
            SourceState::Ok,
            "{name}: {:?}",
            bundle.sources[name]
        );
    }
    assert_eq!(bundle.sources["logs"].elapsed_ms, 400);
}

#[tokio::test(start_paused = true)]
async fn a_slow_source_times_out_and_a_failing_one_is_recorded_while_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            logs_delay: 30_000,
            findings_fail: true,
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    let start = Instant::now();
    let bundle = collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(1100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(bundle.sources["logs"].status, SourceState::Timeout);
    assert!(bundle.logs.is_empty());
    assert_eq!(bundle.sources["k8sgpt"].status, SourceState::Failed);
    assert!(
        bundle.sources["k8sgpt"]
            .error
            .as_deref()
            .unwrap()
            .contains("500 InternalError")
    );
    assert_eq!(bundle.sources["kubernetes"].status, SourceState::Ok);
    assert_eq!(bundle.pods.len(), 1);
    assert_eq!(bundle.sources["kubernetes"].dropped_items, 4);
    let stored = ctx
        .store
        .get("evidence/run-1.json")
        .await
        .unwrap()
        .expect("persisted");
    let back: EvidenceBundle = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(back, bundle);
}

#[tokio::test(start_paused = true)]
async fn a_missing_entity_stops_the_run_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(Script::default(), dir.path());
    let err = collect(&ctx, &request(Some("web-dev"))).await.unwrap_err();
    assert_eq!(err.to_string(), "entity component:default/web not found");
    assert_eq!(crate::Classify::kind(&err), crate::ErrorKind::Invalid);
    assert!(
        ctx.store
            .get("evidence/run-1.json")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn an_entity_selector_relocates_the_workload_and_the_namespace_comes_from_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let entity = CatalogEntity {
        label_selector: Some("app.kubernetes.io/name=web".into()),
        ..web_entity()
    };
    let (ctx, script) = context(
        Script {
            entity: Some(entity),
            ..Script::default()
        },
        dir.path(),
    );
    collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    assert_eq!(
        *script.selectors.lock().unwrap(),
        [
            "backstage.io/kubernetes-id=web",
            "app.kubernetes.io/name=web"
        ],
        "started on the default selector, restarted on the entity's"
    );

    let (ctx, script) = context(
        Script {
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    let mut req = request(None);
    req.run_id = "run-2".into();
    let bundle = collect(&ctx, &req).await.unwrap();
    assert_eq!(bundle.target.namespace, "web-dev");
    assert_eq!(script.selectors.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn findings_are_narrowed_to_the_workload_and_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    let bundle = collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    assert_eq!(bundle.findings.len(), 1);
    assert_eq!(bundle.findings[0].id, "finding/0");
    assert_eq!(bundle.findings[0].name, "web-1");
    assert_eq!(bundle.events[0].id, "event/0");
    let ids = bundle.evidence_ids();
    assert!(
        ids.contains("pod/web-1") && ids.contains("log/0"),
        "{ids:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn secrets_in_sources_never_reach_the_persisted_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    let stored = ctx.store.get("evidence/run-1.json").await.unwrap().unwrap();
    let text = String::from_utf8(stored.value.to_vec()).unwrap();
    for secret in [
        SECRET,
        "hunter2",
        "s3cr3t-pw",
        &format!("ghp_{}", "a".repeat(36)),
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    assert!(text.contains("[REDACTED"), "{text}");
    assert!(
        text.contains("pull failed"),
        "the rest of the message stays readable"
    );
}

#[tokio::test(start_paused = true)]
async fn re_collection_replaces_the_stored_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    let first = ctx.store.get("evidence/run-1.json").await.unwrap().unwrap();
    let mut again = request(Some("web-dev"));
    again.window.since -= chrono::Duration::hours(1);
    collect(&ctx, &again).await.unwrap();
    let second = ctx.store.get("evidence/run-1.json").await.unwrap().unwrap();
    assert_ne!(first.version, second.version);
    let back: EvidenceBundle = serde_json::from_slice(&second.value).unwrap();
    assert_eq!(back.target.since, again.window.since);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_cluster_and_a_missing_catalog_are_recorded_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ctx, _) = context(Script::default(), dir.path());
    ctx.catalog = None;
    let mut req = request(Some("web-dev"));
    req.cluster = "staging".into();
    let bundle = collect(&ctx, &req).await.unwrap();
    assert_eq!(bundle.sources["catalog"].status, SourceState::Unavailable);
    assert_eq!(
        bundle.sources["catalog"].error.as_deref(),
        Some("AIOPS_BACKSTAGE_URL is not set")
    );
    assert_eq!(bundle.sources["kubernetes"].status, SourceState::Failed);
    assert!(
        bundle.sources["kubernetes"]
            .error
            .as_deref()
            .unwrap()
            .contains("\"staging\"")
    );
    assert_eq!(bundle.sources["logs"].status, SourceState::Ok);
}

#[tokio::test(start_paused = true)]
async fn lines_recorded_without_label_fields_are_found_by_the_pods_names() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, script) = context(
        Script {
            entity: Some(web_entity()),
            logs_without_labels: true,
            ..Script::default()
        },
        dir.path(),
    );
    let bundle = collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    assert_eq!(
        *script.pod_queries.lock().unwrap(),
        [vec!["web-1".to_owned()]]
    );
    assert_eq!(bundle.logs.len(), 1);
    assert_eq!(bundle.logs[0].id, "log/0");
    assert_eq!(bundle.logs[0].pod.as_deref(), Some("web-1"));
    assert_eq!(bundle.sources["logs"].status, SourceState::Ok);
    assert_eq!(bundle.sources["logs"].items, 1);
}

#[tokio::test(start_paused = true)]
async fn the_label_query_answering_for_every_pod_needs_no_second_look() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, script) = context(
        Script {
            entity: Some(web_entity()),
            ..Script::default()
        },
        dir.path(),
    );
    collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    assert!(script.pod_queries.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn pods_that_ran_without_a_single_line_make_the_logs_source_empty_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(
        Script {
            entity: Some(web_entity()),
            no_logs: true,
            ..Script::default()
        },
        dir.path(),
    );
    let bundle = collect(&ctx, &request(Some("web-dev"))).await.unwrap();
    let logs = &bundle.sources["logs"];
    assert_eq!(logs.status, SourceState::Empty);
    let why = logs.error.as_deref().unwrap();
    assert!(why.contains("1 started pods"), "{why}");
    assert!(why.contains("backstage.io/kubernetes-id=web"), "{why}");
    assert!(why.contains("AIOPS_LOGS_SCHEMA"), "{why}");
}

#[test]
fn request_fields_are_checked_and_named() {
    let now = DateTime::parse_from_rfc3339("2026-11-26T06:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let field = |r: Result<CollectRequest>| match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    };
    let ok = parse_request("r", "web", "prod", None, "2026-11-26T05:00:00Z", None, now).unwrap();
    assert_eq!(ok.window.since.to_rfc3339(), "2026-11-26T05:00:00+00:00");
    assert_eq!(
        field(parse_request("../x", "web", "prod", None, "2h", None, now)),
        "run_id"
    );
    assert_eq!(
        field(parse_request("r", "a b", "prod", None, "2h", None, now)),
        "entity"
    );
    assert_eq!(
        field(parse_request("r", "web", "", None, "2h", None, now)),
        "cluster"
    );
    assert_eq!(
        field(parse_request(
            "r",
            "web",
            "prod",
            Some("Web_Dev"),
            "2h",
            None,
            now
        )),
        "namespace"
    );
    assert_eq!(
        field(parse_request(
            "r",
            "web",
            "prod",
            None,
            "yesterday",
            None,
            now
        )),
        "since"
    );
    assert_eq!(
        field(parse_request(
            "r",
            "web",
            "prod",
            None,
            "2h",
            Some("noon"),
            now
        )),
        "until"
    );
    assert_eq!(
        field(parse_request(
            "r",
            "web",
            "prod",
            None,
            "2026-11-26T07:00:00Z",
            None,
            now
        )),
        "since"
    );
}

#[test]
fn settings_read_caps_and_timeout_and_name_bad_variables() {
    use crate::config::MapEnv;
    let env = MapEnv::new()
        .with("AIOPS_COLLECT_TIMEOUT", "5s")
        .with("AIOPS_COLLECT_MAX_LOG_LINES", "10");
    let s = CollectSettings::from_env(&env).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert_eq!(s.caps.log_lines, 10);
    let bad = MapEnv::new().with("AIOPS_COLLECT_MAX_EVENTS", "lots");
    assert_eq!(
        CollectSettings::from_env(&bad).unwrap_err().var(),
        "AIOPS_COLLECT_MAX_EVENTS"
    );
}
