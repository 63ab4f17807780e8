//! `aiops audit-namespaces`: the nightly namespace-ownership audit.
//!
//! For every audited cluster the namespaces are listed page by page (`limit` and
//! `continue`) and each is resolved with the same policy code policy-check uses, with
//! its own labels. The catalog's Groups, Users and Components are read first
//! (`by-query`, cursor pagination, only the fields needed), so memory follows the size of
//! the catalog and the number of findings, not the number of namespaces.
//!
//! Finding kinds: `unmapped`, `owner_not_in_catalog`, `unknown_environment`,
//! `label_convention_mismatch`, `component_namespace_missing`, `owner_mismatch`,
//! `orphan_namespace`. Output: the findings document in the store
//! (`audits/namespaces/<date>.json`), one audit record per finding, the document on
//! stdout and a summary on stderr.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use shared::audit::{AuditConfig, AuditError, AuditLogger, Console, Severity};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::entity::{EntityRef, Namespace};
use shared::error::{Classify, ErrorKind};
use shared::policy::{Policy, Source};
use shared::redact::Redactor;
use shared::sources::backstage::BackstageCatalog;
use shared::sources::clusters::{CLUSTERS_VAR, ClustersConfig, KubeClusters};
use shared::sources::{ClusterProvider, SourceError};
use shared::store::{self, SharedStore, StoreConfig, StoreError, Update};

/// Namespaces (and catalog entities) asked for per page.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Namespaces the audit leaves alone unless told otherwise: the cluster's own.
pub const DEFAULT_IGNORE: &str = "kube-*,default";
const NAMESPACE_ANNOTATION: &str = "backstage.io/kubernetes-namespace";

/// Arguments of `aiops audit-namespaces`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Audit only these clusters (comma-separated; default `AIOPS_AUDIT_CLUSTERS`, then
    /// every cluster in `AIOPS_CLUSTERS`, then `AIOPS_CLUSTER_NAME`).
    #[arg(long, value_delimiter = ',')]
    pub cluster: Vec<String>,
}

/// Why the audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit logger could not be built.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The catalog could not be read.
    #[error("reading the catalog: {0}")]
    Catalog(#[source] SourceError),
    /// No cluster could be listed.
    #[error("no cluster could be audited: {0}")]
    Clusters(String),
    /// The document could not be printed.
    #[error("writing the findings")]
    Output(#[source] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Audit(e) => e.kind(),
            Self::Catalog(e) => e.kind(),
            Self::Clusters(_) | Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// No owner can be resolved: in strict mode nobody may look into it.
    Unmapped,
    /// The owner is not a Group or User in the catalog: no token carries it.
    OwnerNotInCatalog,
    /// The environment text is not one the policy knows.
    UnknownEnvironment,
    /// The namespace's labels and the naming convention disagree.
    LabelConventionMismatch,
    /// A component points at a namespace no audited cluster has.
    ComponentNamespaceMissing,
    /// The namespace's owner differs from the owners of the components in it.
    OwnerMismatch,
    /// No component refers to the namespace.
    OrphanNamespace,
}

impl Kind {
    /// The name used in documents and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unmapped => "unmapped",
            Self::OwnerNotInCatalog => "owner_not_in_catalog",
            Self::UnknownEnvironment => "unknown_environment",
            Self::LabelConventionMismatch => "label_convention_mismatch",
            Self::ComponentNamespaceMissing => "component_namespace_missing",
            Self::OwnerMismatch => "owner_mismatch",
            Self::OrphanNamespace => "orphan_namespace",
        }
    }

    /// How urgent it is: an owner nobody holds or a wrong owner locks a team out or
    /// lets another in; a missing mapping or namespace misleads; an orphan is tidying.
    pub fn severity(self) -> Severity {
        match self {
            Self::OwnerNotInCatalog | Self::OwnerMismatch => Severity::High,
            Self::Unmapped
            | Self::UnknownEnvironment
            | Self::LabelConventionMismatch
            | Self::ComponentNamespaceMissing => Severity::Medium,
            Self::OrphanNamespace => Severity::Low,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What it is.
    pub kind: Kind,
    /// `low`, `medium`, `high`.
    pub severity: Severity,
    /// The cluster (absent for a component whose namespace no cluster has).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The namespace.
    pub namespace: String,
    /// What the audit saw.
    pub evidence: Value,
}

impl Finding {
    fn new(kind: Kind, cluster: Option<&str>, namespace: &str, evidence: Value) -> Self {
        Self {
            kind,
            severity: kind.severity(),
            cluster: cluster.map(str::to_owned),
            namespace: namespace.to_owned(),
            evidence,
        }
    }
}

/// How one cluster went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    /// The cluster.
    pub name: String,
    /// Namespaces audited (ignored ones not counted).
    pub namespaces: u64,
    /// Namespaces skipped by the ignore list.
    pub ignored: u64,
    /// Pages read.
    pub pages: u64,
    /// Why listing stopped early, when it did (the findings of the pages read stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The audit's document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The day it covers (UTC), which names its store key.
    pub date: String,
    /// When it ran.
    pub generated_at: DateTime<Utc>,
    /// Where it is stored.
    pub store_key: String,
    /// Per cluster.
    pub clusters: Vec<ClusterReport>,
    /// Catalog entities read.
    pub catalog: BTreeMap<&'static str, usize>,
    /// Findings by kind.
    pub by_kind: BTreeMap<Kind, usize>,
    /// Findings by cluster (`-` for findings of no one cluster).
    pub by_cluster: BTreeMap<String, usize>,
    /// Every finding, cluster by cluster, in listing order.
    pub findings: Vec<Finding>,
}

/// What the audit needs, built once.
#[derive(Debug, Clone)]
pub struct Auditor {
    clusters: Arc<dyn ClusterProvider>,
    cluster_names: Vec<String>,
    catalog: BackstageCatalog,
    policy: Arc<Policy>,
    store: SharedStore,
    audit: AuditLogger,
    clock: SharedClock,
    page_size: u32,
    ignore: Vec<String>,
}

/// The audit's settings besides its clients.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Clusters to audit, by name.
    pub clusters: Vec<String>,
    /// Page size of namespace and catalog lists.
    pub page_size: u32,
    /// Namespace names (a trailing `*` matches any suffix) left alone.
    pub ignore: Vec<String>,
}

impl Settings {
    /// `AIOPS_AUDIT_CLUSTERS`, `AIOPS_AUDIT_PAGE_SIZE`, `AIOPS_AUDIT_IGNORE`.
    pub fn from_env(env: &impl Env, clusters: &ClustersConfig) -> Result<Self, ConfigError> {
        let list = |raw: String| -> Vec<String> {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let names = env
            .get("AIOPS_AUDIT_CLUSTERS")
            .map(list)
            .or_else(|| {
                clusters
                    .named
                    .as_ref()
                    .map(|named| named.keys().cloned().collect())
            })
            .or_else(|| env.get("AIOPS_CLUSTER_NAME").map(|n| vec![n]))
            .unwrap_or_default();
        let page_size = env
            .parse::<u32>("AIOPS_AUDIT_PAGE_SIZE", "a whole number from 1 to 10000")?
            .unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=10_000).contains(&page_size) {
            return Err(ConfigError::invalid(
                "AIOPS_AUDIT_PAGE_SIZE",
                "a whole number from 1 to 10000",
                None,
            ));
        }
        Ok(Self {
            clusters: names,
            page_size,
            ignore: list(
                env.get("AIOPS_AUDIT_IGNORE")
                    .unwrap_or_else(|| DEFAULT_IGNORE.into()),
            ),
        })
    }
}

impl Auditor {
    /// From the environment: clusters, catalog (required), policy, store, audit sink.
    pub async fn from_env(env: &impl Env, clock: SharedClock) -> Result<Self, Error> {
        let clusters_config = ClustersConfig::from_env(env)?;
        let settings = Settings::from_env(env, &clusters_config)?;
        let catalog = BackstageCatalog::from_env(env, std::time::Duration::from_secs(30))?
            .ok_or_else(|| {
                ConfigError::invalid(
                    shared::sources::backstage::URL_VAR,
                    "the Backstage base URL: the audit compares namespaces with the catalog",
                    None,
                )
            })?;
        let redactor = Arc::new(Redactor::from_env(env)?);
        let mut audit_config = AuditConfig::from_env(env)?.with_function("aiops");
        // Stdout carries the findings: audit lines that are not sent go to stderr.
        audit_config.console = Console::Stderr;
        let audit = AuditLogger::new(&audit_config, redactor, clock.clone())?;
        let store = StoreConfig::from_env(env)?.open().await?;
        Ok(Self::new(
            Arc::new(KubeClusters::new(clusters_config)),
            catalog,
            Policy::from_env(env)?,
            store,
            audit,
            clock,
            settings,
        ))
    }

    /// From parts (tests, the nightly job).
    pub fn new(
        clusters: Arc<dyn ClusterProvider>,
        catalog: BackstageCatalog,
        policy: Policy,
        store: SharedStore,
        audit: AuditLogger,
        clock: SharedClock,
        settings: Settings,
    ) -> Self {
        Self {
            clusters,
            cluster_names: settings.clusters,
            catalog,
            policy: Arc::new(policy),
            store,
            audit,
            clock,
            page_size: settings.page_size,
            ignore: settings.ignore,
        }
    }

    /// The audit logger (flushed by the caller before it exits).
    pub fn audit_logger(&self) -> &AuditLogger {
        &self.audit
    }

    fn ignored(&self, namespace: &str) -> bool {
        self.ignore.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => namespace.starts_with(prefix),
            None => p == namespace,
        })
    }

    /// Runs the audit over `only` (or every configured cluster), stores the document
    /// and writes one audit record per finding.
    pub async fn run(&self, only: &[String]) -> Result<Report, Error> {
        let names: Vec<String> = if only.is_empty() {
            self.cluster_names.clone()
        } else {
            only.to_vec()
        };
        if names.is_empty() {
            return Err(ConfigError::invalid(
                "AIOPS_AUDIT_CLUSTERS",
                format!(
                    "the clusters to audit (comma-separated), or {CLUSTERS_VAR} / AIOPS_CLUSTER_NAME"
                ),
                None,
            )
            .into());
        }
        let now = self.clock.now();
        let catalog = Catalog::read(&self.catalog, self.page_size)
            .await
            .map_err(Error::Catalog)?;
        eprintln!(
            "aiops audit-namespaces: catalog: {} groups, {} users, {} components ({} naming a namespace)",
            catalog.groups.len(),
            catalog.users,
            catalog.components,
            catalog.by_namespace.len()
        );
        let mut findings = Vec::new();
        let mut reports = Vec::new();
        // Namespaces that components name and some cluster has.
        let mut found: BTreeSet<String> = BTreeSet::new();
        for name in &names {
            let report = self
                .audit_cluster(name, &catalog, &mut found, &mut findings)
                .await;
            eprintln!(
                "aiops audit-namespaces: cluster {name}: {} namespaces in {} pages{}",
                report.namespaces,
                report.pages,
                report
                    .error
                    .as_deref()
                    .map(|e| format!(", stopped early: {e}"))
                    .unwrap_or_default()
            );
            reports.push(report);
        }
        if reports.iter().all(|r| r.error.is_some() && r.pages == 0) {
            let errors: Vec<String> = reports
                .iter()
                .map(|r| format!("{}: {}", r.name, r.error.as_deref().unwrap_or_default()))
                .collect();
            return Err(Error::Clusters(errors.join("; ")));
        }
        // Only a namespace every cluster was fully listed for can be called missing.
        if reports.iter().all(|r| r.error.is_none()) {
            for (namespace, components) in &catalog.by_namespace {
                if !found.contains(namespace) {
                    findings.push(Finding::new(
                        Kind::ComponentNamespaceMissing,
                        None,
                        namespace,
                        json!({
                            "components": components.iter().map(|c| &c.entity).collect::<Vec<_>>(),
                            "clusters": names,
                        }),
                    ));
                }
            }
        }
        let date = now.format("%Y-%m-%d").to_string();
        let mut report = Report {
            store_key: format!("audits/namespaces/{date}.json"),
            date,
            generated_at: now,
            clusters: reports,
            catalog: BTreeMap::from([
                ("groups", catalog.groups.len()),
                ("users", catalog.users),
                ("components", catalog.components),
            ]),
            by_kind: BTreeMap::new(),
            by_cluster: BTreeMap::new(),
            findings,
        };
        for f in &report.findings {
            *report.by_kind.entry(f.kind).or_default() += 1;
            *report
                .by_cluster
                .entry(f.cluster.clone().unwrap_or_else(|| "-".into()))
                .or_default() += 1;
        }
        self.record_and_store(&report).await?;
        Ok(report)
    }

    /// One audit record per finding, and the document under its store key.
    async fn record_and_store(&self, report: &Report) -> Result<(), Error> {
        for f in &report.findings {
            self.audit.record(
                shared::audit::AuditEvent::new("namespace-audit")
                    .severity(f.severity)
                    .actor("aiops:audit-namespaces")
                    .cluster(f.cluster.clone().unwrap_or_default())
                    .namespace(f.namespace.clone())
                    .reason(f.kind.as_str())
                    .meta("evidence", f.evidence.clone()),
            );
        }
        let body = Bytes::from(
            serde_json::to_vec_pretty(report)
                .map_err(|e| Error::Output(std::io::Error::other(e)))?,
        );
        store::update(self.store.as_ref(), &report.store_key, 8, |_| {
            Update::Write(body.clone(), ())
        })
        .await?;
        Ok(())
    }

    async fn audit_cluster(
        &self,
        name: &str,
        catalog: &Catalog,
        found: &mut BTreeSet<String>,
        findings: &mut Vec<Finding>,
    ) -> ClusterReport {
        let mut report = ClusterReport {
            name: name.to_owned(),
            namespaces: 0,
            ignored: 0,
            pages: 0,
            error: None,
        };
        let sources = match self.clusters.cluster(name).await {
            Ok(s) => s,
            Err(e) => {
                report.error = Some(shared::error::one_line(&e));
                return report;
            }
        };
        let mut token: Option<String> = None;
        loop {
            let page = match sources
                .cluster
                .namespaces(self.page_size, token.as_deref())
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    report.error = Some(shared::error::one_line(&e));
                    return report;
                }
            };
            report.pages += 1;
            for ns in page.items {
                if self.ignored(&ns.name) {
                    report.ignored += 1;
                    continue;
                }
                report.namespaces += 1;
                if catalog.by_namespace.contains_key(&ns.name) {
                    found.insert(ns.name.clone());
                }
                self.judge(name, &ns, catalog, findings);
            }
            if report.pages.is_multiple_of(20) {
                eprintln!(
                    "aiops audit-namespaces: cluster {name}: {} namespaces so far",
                    report.namespaces
                );
            }
            match page.continue_token {
                Some(next) => token = Some(next),
                None => return report,
            }
        }
    }

    /// The findings about one namespace.
    fn judge(
        &self,
        cluster: &str,
        ns: &shared::sources::NamespaceInfo,
        catalog: &Catalog,
        findings: &mut Vec<Finding>,
    ) {
        let Ok(namespace) = Namespace::parse(&ns.name) else {
            return;
        };
        let add = |findings: &mut Vec<Finding>, kind, evidence| {
            findings.push(Finding::new(kind, Some(cluster), &ns.name, evidence));
        };
        let mapping = self.policy.resolve(&namespace, Some(&ns.labels));
        let labels = ns_labels(&ns.labels, self.policy.labels.as_ref());
        match &mapping.owner {
            None => add(
                findings,
                Kind::Unmapped,
                json!({"labels": labels, "reason": "no policy entry, owner label or naming pattern gives an owner"}),
            ),
            Some(owner) if !catalog.has_owner(owner) => add(
                findings,
                Kind::OwnerNotInCatalog,
                json!({"owner": owner.to_string(), "owner_source": mapping.owner_source, "labels": labels}),
            ),
            Some(_) => {}
        }
        if let Some(text) = &mapping.unknown_environment {
            add(
                findings,
                Kind::UnknownEnvironment,
                json!({"environment": text, "environment_source": mapping.environment_source, "known": shared::policy::Environment::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()}),
            );
        }
        // What the convention alone says, against what the labels say.
        if mapping.owner_source == Some(Source::Labels)
            || mapping.environment_source == Some(Source::Labels)
        {
            let convention = self.policy.resolve(&namespace, None);
            let mut differs = serde_json::Map::new();
            if mapping.owner_source == Some(Source::Labels)
                && let (Some(label), Some(named)) = (&mapping.owner, &convention.owner)
                && label != named
            {
                differs.insert(
                    "owner".into(),
                    json!({"labels": label.to_string(), "convention": named.to_string()}),
                );
            }
            if mapping.environment_source == Some(Source::Labels) {
                let label_env = env_text(&mapping);
                let named_env = env_text(&convention);
                if let (Some(l), Some(n)) = (&label_env, &named_env)
                    && l != n
                {
                    differs.insert("environment".into(), json!({"labels": l, "convention": n}));
                }
            }
            if !differs.is_empty() {
                add(
                    findings,
                    Kind::LabelConventionMismatch,
                    Value::Object(differs),
                );
            }
        }
        match catalog.by_namespace.get(&ns.name) {
            None => add(
                findings,
                Kind::OrphanNamespace,
                json!({"owner": mapping.owner.as_ref().map(ToString::to_string)}),
            ),
            Some(components) => {
                if let Some(owner) = &mapping.owner {
                    let others: Vec<&Component> = components
                        .iter()
                        .filter(|c| c.owner.as_ref().is_some_and(|o| o != owner))
                        .collect();
                    if !others.is_empty() {
                        add(
                            findings,
                            Kind::OwnerMismatch,
                            json!({
                                "namespace_owner": owner.to_string(),
                                "owner_source": mapping.owner_source,
                                "components": others.iter().map(|c| json!({
                                    "entity": c.entity,
                                    "owner": c.owner.as_ref().map(ToString::to_string),
                                })).collect::<Vec<_>>(),
                            }),
                        );
                    }
                }
            }
        }
    }
}

fn env_text(mapping: &shared::policy::Mapping) -> Option<String> {
    mapping
        .environment
        .map(|e| e.as_str().to_owned())
        .or_else(|| mapping.unknown_environment.clone())
}

/// Only the labels the policy reads, as evidence.
fn ns_labels(
    labels: &BTreeMap<String, String>,
    names: Option<&shared::policy::LabelNames>,
) -> BTreeMap<String, String> {
    let Some(names) = names else {
        return BTreeMap::new();
    };
    labels
        .iter()
        .filter(|(k, _)| **k == names.owner || **k == names.environment)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A component that names a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Component {
    entity: String,
    owner: Option<EntityRef>,
}

/// What the audit keeps of the catalog.
#[derive(Debug, Default)]
struct Catalog {
    groups: BTreeSet<EntityRef>,
    user_refs: BTreeSet<EntityRef>,
    users: usize,
    components: usize,
    by_namespace: HashMap<String, Vec<Component>>,
}

impl Catalog {
    async fn read(catalog: &BackstageCatalog, page_size: u32) -> Result<Self, SourceError> {
        let mut out = Self::default();
        for (kind, fields) in [
            ("group", "kind,metadata.name,metadata.namespace"),
            ("user", "kind,metadata.name,metadata.namespace"),
            (
                "component",
                "kind,metadata.name,metadata.namespace,metadata.annotations,spec.owner",
            ),
        ] {
            let mut cursor: Option<String> = None;
            loop {
                let page = catalog
                    .query_page(
                        &format!("kind={kind}"),
                        fields,
                        page_size,
                        cursor.as_deref(),
                    )
                    .await?;
                for item in &page.items {
                    out.add(kind, item);
                }
                match page.page_info.next_cursor {
                    Some(next) if !page.items.is_empty() => cursor = Some(next),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    fn add(&mut self, kind: &str, item: &Value) {
        let text = |pointer: &str| item.pointer(pointer).and_then(Value::as_str);
        let Some(name) = text("/metadata/name") else {
            return;
        };
        let namespace = text("/metadata/namespace").unwrap_or("default");
        let Ok(entity) = EntityRef::new(kind, namespace, name).map(|r| r.lowercased()) else {
            return;
        };
        match kind {
            "group" => {
                self.groups.insert(entity);
            }
            "user" => {
                self.users += 1;
                self.user_refs.insert(entity);
            }
            _ => {
                self.components += 1;
                let Some(ns) = text(&format!(
                    "/metadata/annotations/{}",
                    NAMESPACE_ANNOTATION.replace('/', "~1")
                )) else {
                    return;
                };
                let owner = text("/spec/owner")
                    .and_then(|o| shared::sources::backstage::owner_ref(o, namespace));
                self.by_namespace
                    .entry(ns.to_owned())
                    .or_default()
                    .push(Component {
                        entity: entity.to_string(),
                        owner,
                    });
            }
        }
    }

    fn has_owner(&self, owner: &EntityRef) -> bool {
        let owner = owner.lowercased();
        self.groups.contains(&owner) || self.user_refs.contains(&owner)
    }
}

/// Runs the command: the document on `stdout`, the summary on stderr.
pub async fn run(
    auditor: &Auditor,
    args: &Args,
    mut stdout: impl std::io::Write,
) -> Result<Report, Error> {
    let report = auditor.run(&args.cluster).await?;
    auditor.audit_logger().flush().await;
    eprintln!("{}", summary_line(&report));
    serde_json::to_writer_pretty(&mut stdout, &report).map_err(|e| Error::Output(e.into()))?;
    writeln!(stdout).map_err(Error::Output)?;
    Ok(report)
}

/// One line of counts by kind and cluster.
pub fn summary_line(report: &Report) -> String {
    let kinds: Vec<String> = report
        .by_kind
        .iter()
        .map(|(k, n)| format!("{}={n}", k.as_str()))
        .collect();
    let clusters: Vec<String> = report
        .by_cluster
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect();
    format!(
        "aiops audit-namespaces: {} findings ({}) by cluster ({}); stored at {}",
        report.findings.len(),
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(", ")
        },
        clusters.join(", "),
        report.store_key
    )
}
