//! `aiops audit-namespaces` against a wiremock Kubernetes API (namespaces in pages of
//! three with `continue` tokens, labels shaped like a real kube-apiserver's answer) and
//! the real test Backstage catalog: every finding kind, the stored document, one audit
//! record per finding, and what happens when a cluster stops answering mid-list.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use aiops::audit::{self, Auditor, Kind};
use aiops_tests::chain_rig::mount_victorialogs;
use serde_json::{Value, json};
use shared::clock::{SharedClock, SystemClock};
use shared::config::MapEnv;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A namespace as kube-apiserver returns it (metadata with managedFields, spec, status).
fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut all: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.insert("kubernetes.io/metadata.name".into(), name.into());
    json!({
        "metadata": {
            "name": name,
            "uid": uuid::Uuid::new_v4().to_string(),
            "resourceVersion": "211",
            "creationTimestamp": "2026-11-26T05:06:31Z",
            "labels": all,
            "managedFields": [{
                "manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                "time": "2026-11-26T05:06:31Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}
            }]
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}

fn page(items: &[Value], next: Option<&str>, remaining: usize) -> Value {
    let mut metadata = json!({"resourceVersion": "214"});
    if let Some(next) = next {
        metadata["continue"] = json!(next);
        metadata["remainingItemCount"] = json!(remaining);
    }
    json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": metadata, "items": items})
}

const OWNER: &str = "aiops.io/owner";
const ENV: &str = "aiops.io/environment";

/// Two pages: the first without `continue`, the second only with the first's token.
async fn mount_namespaces(server: &MockServer, second: ResponseTemplate) -> String {
    let token = format!(
        "eyJ2IjoibWV0YS5rOHMuaW8vdjEi{}",
        uuid::Uuid::new_v4().simple()
    );
    let first = [
        namespace("web-dev", &[(OWNER, "web"), (ENV, "dev")]),
        namespace("billing-staging", &[(OWNER, "billing"), (ENV, "staging")]),
        namespace("sandbox", &[]),
    ];
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces"))
        .and(query_param("limit", "3"))
        .and(query_param_is_missing("continue"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&first, Some(&token), 3)))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces"))
        .and(query_param("limit", "3"))
        .and(query_param("continue", token.as_str()))
        .respond_with(second)
        .expect(1)
        .mount(server)
        .await;
    token
}

fn second_page() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(page(
        &[
            namespace("cart-qa2", &[]),
            namespace("shop-prod", &[(OWNER, "web")]),
            namespace("kube-system", &[]),
        ],
        None,
        0,
    ))
}

struct Rig {
    kube: MockServer,
    logs: MockServer,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Self {
        let logs = MockServer::start().await;
        mount_victorialogs(&logs).await;
        Self {
            kube: MockServer::start().await,
            logs,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn env(&self) -> MapEnv {
        let (url, token) = aiops_tests::services::backstage();
        MapEnv::new()
            .with(
                "AIOPS_STORE",
                self.dir.path().join("store").to_string_lossy(),
            )
            .with("AIOPS_BACKSTAGE_URL", url)
            .with("AIOPS_BACKSTAGE_TOKEN", token)
            .with(
                "AIOPS_CLUSTERS",
                json!({"test-eu1": {"url": self.kube.uri()}}).to_string(),
            )
            .with("AIOPS_VICTORIALOGS_URL", self.logs.uri())
            .with("AIOPS_AUDIT_FLUSH_TIMEOUT", "2s")
            .with("AIOPS_AUDIT_PAGE_SIZE", "3")
    }

    async fn audit_records(&self) -> Vec<Value> {
        let requests = self.logs.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.url.path() == "/insert/jsonline")
            .flat_map(|r| {
                String::from_utf8_lossy(&r.body)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .collect::<Vec<_>>()
            })
            .filter(|r| r["eventId"] == "namespace-audit")
            .collect()
    }
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

fn kinds_of(report: &audit::Report, namespace: &str) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = report
        .findings
        .iter()
        .filter(|f| f.namespace == namespace)
        .map(|f| f.kind)
        .collect();
    kinds.sort();
    kinds
}

#[tokio::test]
async fn every_finding_kind_is_found_across_pages_and_stored_with_one_audit_record_each() {
    let rig = Rig::start().await;
    mount_namespaces(&rig.kube, second_page()).await;
    let auditor = Auditor::from_env(&rig.env(), clock()).await.unwrap();
    let mut stdout = Vec::new();
    let report = audit::run(&auditor, &audit::Args::default(), &mut stdout)
        .await
        .unwrap();

    // Labels, convention, owner and component agree: nothing to say.
    assert_eq!(kinds_of(&report, "web-dev"), vec![]);
    // The label names a team the catalog does not have; its component belongs to web.
    assert_eq!(
        kinds_of(&report, "billing-staging"),
        vec![Kind::OwnerNotInCatalog, Kind::OwnerMismatch]
    );
    // No owner from any source, and no component.
    assert_eq!(
        kinds_of(&report, "sandbox"),
        vec![Kind::Unmapped, Kind::OrphanNamespace]
    );
    // The convention gives team `cart` (not in the catalog) and environment `qa2`.
    assert_eq!(
        kinds_of(&report, "cart-qa2"),
        vec![
            Kind::OwnerNotInCatalog,
            Kind::UnknownEnvironment,
            Kind::OrphanNamespace
        ]
    );
    // Labelled for web while the name says shop; the component in it belongs to payments.
    assert_eq!(
        kinds_of(&report, "shop-prod"),
        vec![Kind::LabelConventionMismatch, Kind::OwnerMismatch]
    );
    // The cluster's own namespaces are left alone.
    assert_eq!(kinds_of(&report, "kube-system"), vec![]);
    // A component points at a namespace the cluster does not have.
    let missing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::ComponentNamespaceMissing)
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", report.findings);
    assert_eq!(missing[0].namespace, "ledger-prod");
    assert_eq!(missing[0].cluster, None);
    assert_eq!(
        missing[0].evidence["components"],
        json!(["component:default/ledger"])
    );

    let mismatch = report
        .findings
        .iter()
        .find(|f| f.namespace == "shop-prod" && f.kind == Kind::OwnerMismatch)
        .unwrap();
    assert_eq!(mismatch.evidence["namespace_owner"], "group:default/web");
    assert_eq!(
        mismatch.evidence["components"][0]["owner"], "group:default/payments",
        "a bare spec.owner is a Group in the component's namespace"
    );
    let label = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::LabelConventionMismatch)
        .unwrap();
    assert_eq!(
        label.evidence["owner"],
        json!({"labels": "group:default/web", "convention": "group:default/shop"})
    );

    let cluster = &report.clusters[0];
    assert_eq!(
        (cluster.namespaces, cluster.ignored, cluster.pages),
        (5, 1, 2)
    );
    assert_eq!(report.by_cluster["test-eu1"], report.findings.len() - 1);
    assert_eq!(report.by_cluster["-"], 1);
    assert_eq!(report.by_kind[&Kind::OrphanNamespace], 2);

    // The same document on stdout and in the store under the day's key.
    let printed: Value = serde_json::from_slice(&stdout).unwrap();
    let key = format!(
        "audits/namespaces/{}.json",
        report.generated_at.format("%Y-%m-%d")
    );
    assert_eq!(printed["store_key"], key);
    let stored: Value =
        serde_json::from_slice(&std::fs::read(rig.dir.path().join("store").join(&key)).unwrap())
            .unwrap();
    assert_eq!(stored, printed);
    assert_eq!(
        stored["findings"].as_array().unwrap().len(),
        report.findings.len()
    );

    // One audit record per finding, with its kind as the reason and its severity.
    let records = rig.audit_records().await;
    assert_eq!(records.len(), report.findings.len(), "{records:#?}");
    let owner_mismatch = records
        .iter()
        .find(|r| r["reason"] == "owner_mismatch" && r["resource"]["namespace"] == "shop-prod")
        .unwrap();
    assert_eq!(owner_mismatch["severityLevel"], "high");
    assert_eq!(owner_mismatch["resource"]["cluster"], "test-eu1");
}

#[tokio::test]
async fn a_cluster_that_fails_mid_list_keeps_the_pages_read_and_claims_no_missing_namespace() {
    let rig = Rig::start().await;
    mount_namespaces(
        &rig.kube,
        ResponseTemplate::new(410).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "The provided continue parameter is too old to display a consistent list result.",
            "reason": "Expired", "code": 410
        })),
    )
    .await;
    let auditor = Auditor::from_env(&rig.env(), clock()).await.unwrap();
    let report = auditor.run(&[]).await.unwrap();
    let cluster = &report.clusters[0];
    assert_eq!(cluster.pages, 1);
    assert_eq!(cluster.namespaces, 3);
    assert!(
        cluster.error.as_deref().unwrap().contains("410"),
        "{cluster:?}"
    );
    assert_eq!(
        kinds_of(&report, "sandbox"),
        vec![Kind::Unmapped, Kind::OrphanNamespace]
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != Kind::ComponentNamespaceMissing),
        "an incomplete list cannot prove a namespace missing: {:#?}",
        report.findings
    );
}

#[tokio::test]
async fn an_audit_that_cannot_list_any_cluster_is_an_error_naming_the_cluster() {
    let rig = Rig::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401
        })))
        .mount(&rig.kube)
        .await;
    let auditor = Auditor::from_env(&rig.env(), clock()).await.unwrap();
    let err = auditor.run(&[]).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("test-eu1"), "{text}");
    assert!(text.contains("AIOPS_CLUSTERS or KUBECONFIG"), "{text}");
    assert_eq!(
        shared::error::Classify::kind(&err),
        shared::error::ErrorKind::Dependency
    );
}

#[tokio::test]
async fn the_audit_needs_the_catalog_and_says_which_variable() {
    let rig = Rig::start().await;
    let env = MapEnv::new()
        .with(
            "AIOPS_STORE",
            rig.dir.path().join("store").to_string_lossy(),
        )
        .with("AIOPS_CLUSTER_NAME", "dev");
    let err = Auditor::from_env(&env, clock()).await.unwrap_err();
    assert!(err.to_string().contains("AIOPS_BACKSTAGE_URL"), "{err}");
}
