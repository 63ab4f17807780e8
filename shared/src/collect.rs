//! Evidence collection: every source at once, each under its own timeout, then one
//! redacted bundle persisted as `evidence/<run-id>.json` before the step returns.
//!
//! The catalog tells where the workload is, yet waiting for it first would add its
//! latency to every run. So when the request names the namespace, the cluster, log and
//! k8sgpt sources start at once on the default locator (`backstage.io/kubernetes-id=
//! <entity name>`); only if the entity's annotations locate the workload differently
//! are they restarted with the right selector.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::clock::SharedClock;
use crate::config::{ConfigError, Env, parse_duration};
use crate::error::{Error, Result};
use crate::evidence::{BUNDLE_SCHEMA, EvidenceBundle, Finding, SourceState, SourceStatus, Target};
use crate::redact::Redactor;
use crate::sources::{
    Capped, Caps, Catalog, ClusterEvidence, ClusterOptions, ClusterProvider, EntityRef, LogSource,
    SourceError, Window, Workload,
};
use crate::store::{self, SharedStore};

/// Settings of the collection step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectSettings {
    /// Per-source timeout.
    pub timeout: Duration,
    /// Per-source caps.
    pub caps: Caps,
}

impl Default for CollectSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            caps: Caps::default(),
        }
    }
}

impl CollectSettings {
    /// `AIOPS_COLLECT_TIMEOUT` and the `AIOPS_COLLECT_MAX_*` caps, all optional.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        if let Some(t) = env.duration("AIOPS_COLLECT_TIMEOUT")? {
            s.timeout = t;
        }
        let caps = &mut s.caps;
        for (var, slot) in [
            ("AIOPS_COLLECT_MAX_PODS", &mut caps.pods),
            ("AIOPS_COLLECT_MAX_EVENTS", &mut caps.events),
            ("AIOPS_COLLECT_MAX_LOG_LINES", &mut caps.log_lines),
            ("AIOPS_COLLECT_MAX_LOG_BYTES", &mut caps.log_bytes),
            ("AIOPS_COLLECT_MAX_LINE_BYTES", &mut caps.line_bytes),
            ("AIOPS_COLLECT_MAX_FINDINGS", &mut caps.findings),
            (
                "AIOPS_COLLECT_PREVIOUS_LOG_LINES",
                &mut caps.previous_log_lines,
            ),
        ] {
            if let Some(n) = env.parse::<usize>(var, "a whole number")? {
                *slot = n;
            }
        }
        if s.caps.line_bytes < 64 {
            return Err(ConfigError::invalid(
                "AIOPS_COLLECT_MAX_LINE_BYTES",
                "a whole number of at least 64",
                None,
            ));
        }
        Ok(s)
    }
}

/// What collection needs: the sources, the store, the redactor and the clock.
#[derive(Debug, Clone)]
pub struct CollectContext {
    /// The catalog; `None` reports it unavailable.
    pub catalog: Option<Arc<dyn Catalog>>,
    /// Clusters by name (pods, events, rollouts, k8sgpt).
    pub clusters: Arc<dyn ClusterProvider>,
    /// The log source; `None` reports it unavailable and fetches previous container
    /// logs from the cluster instead.
    pub logs: Option<Arc<dyn LogSource>>,
    /// Where the bundle is written.
    pub store: SharedStore,
    /// The redactor every bundle passes through.
    pub redactor: Arc<Redactor>,
    /// Time.
    pub clock: SharedClock,
    /// Timeouts and caps.
    pub settings: CollectSettings,
}

/// One collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectRequest {
    /// The run; names the store key.
    pub run_id: String,
    /// The entity under investigation.
    pub entity: EntityRef,
    /// Cluster name.
    pub cluster: String,
    /// Namespace; from the entity's `backstage.io/kubernetes-namespace` when `None`.
    pub namespace: Option<String>,
    /// The window.
    pub window: Window,
}

fn invalid(field: &str, expected: &str) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Validates the request fields, naming the bad one. `since` is `2h`-style (before
/// `until`) or RFC 3339; `until` is RFC 3339 and defaults to `now`.
pub fn parse_request(
    run_id: &str,
    entity: &str,
    cluster: &str,
    namespace: Option<&str>,
    since: &str,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CollectRequest> {
    let key_safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !key_safe(run_id) {
        return Err(invalid("run_id", "1-128 letters, digits, '-', '_' or '.'"));
    }
    let entity = super::sources::component_ref(entity)
        .ok_or_else(|| invalid("entity", "an entity ref such as component:default/checkout"))?;
    if !key_safe(cluster) {
        return Err(invalid("cluster", "a cluster name such as prod-eu1"));
    }
    let namespace = namespace.map(str::trim).filter(|n| !n.is_empty());
    if let Some(ns) = namespace
        && !(ns.len() <= 63
            && ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(invalid(
            "namespace",
            "a Kubernetes namespace name (lower case, digits, '-')",
        ));
    }
    let rfc3339 = |t: &str| DateTime::parse_from_rfc3339(t.trim()).map(|t| t.with_timezone(&Utc));
    let until = match until {
        None => now,
        Some(t) => rfc3339(t)
            .map_err(|_| invalid("until", "an RFC 3339 time such as 2026-11-26T10:00:00Z"))?,
    };
    let since = match parse_duration(since) {
        Some(d) => chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| until.checked_sub_signed(d))
            .ok_or_else(|| invalid("since", "a duration such as 2h or an RFC 3339 time"))?,
        None => rfc3339(since)
            .map_err(|_| invalid("since", "a duration such as 2h or an RFC 3339 time"))?,
    };
    if since >= until {
        return Err(invalid("since", "a time before until"));
    }
    Ok(CollectRequest {
        run_id: run_id.to_owned(),
        entity,
        cluster: cluster.to_owned(),
        namespace: namespace.map(str::to_owned),
        window: Window { since, until },
    })
}

/// How one source ended.
enum Ran<T> {
    Done(T),
    Failed(SourceError),
    TimedOut,
}

struct Timed<T> {
    ran: Ran<T>,
    elapsed_ms: u64,
}

async fn timed<T>(limit: Duration, work: impl Future<Output = Result<T, SourceError>>) -> Timed<T> {
    let start = Instant::now();
    let ran = match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ran::Done(value),
        Ok(Err(e)) => Ran::Failed(e),
        Err(_) => Ran::TimedOut,
    };
    Timed {
        ran,
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

struct ClusterSide {
    workload: Workload,
    kubernetes: Timed<ClusterEvidence>,
    logs: Timed<Capped<crate::evidence::LogLine>>,
    findings: Timed<Capped<Finding>>,
}

async fn cluster_side(
    ctx: &CollectContext,
    request: &CollectRequest,
    workload: Workload,
) -> ClusterSide {
    let limit = ctx.settings.timeout;
    let options = ClusterOptions {
        caps: ctx.settings.caps,
        previous_logs: ctx.logs.is_none(),
    };
    let window = request.window;
    let (kubernetes, logs, findings) = tokio::join!(
        timed(limit, async {
            let sources = ctx.clusters.cluster(&request.cluster).await?;
            sources.cluster.workload(&workload, &window, &options).await
        }),
        timed(limit, async {
            match &ctx.logs {
                Some(logs) => logs.logs(&workload, &window, &ctx.settings.caps).await,
                None => Err(SourceError::unavailable(
                    "AIOPS_VICTORIALOGS_URL is not set; previous container logs were read from the cluster instead",
                )),
            }
        }),
        timed(limit, async {
            let sources = ctx.clusters.cluster(&request.cluster).await?;
            sources.findings.findings(&workload).await
        }),
    );
    let logs = match (&ctx.logs, &kubernetes.ran) {
        (Some(source), Ran::Done(found)) => {
            by_pod_name(
                source.as_ref(),
                &workload,
                found,
                logs,
                &window,
                ctx.settings,
            )
            .await
        }
        _ => logs,
    };
    ClusterSide {
        workload,
        kubernetes,
        logs,
        findings,
    }
}

/// Pods the Kubernetes API listed whose lines the label query did not find are looked
/// up again by name: collectors that record pod names without label fields still
/// yield their lines. The lines found are added to the first answer and renumbered.
async fn by_pod_name(
    source: &dyn LogSource,
    workload: &Workload,
    found: &ClusterEvidence,
    first: Timed<Capped<crate::evidence::LogLine>>,
    window: &Window,
    settings: CollectSettings,
) -> Timed<Capped<crate::evidence::LogLine>> {
    let Ran::Done(mut kept) = first.ran else {
        return first;
    };
    let missing: Vec<String> = found
        .pods
        .iter()
        .filter(|p| ran(p))
        .map(|p| p.name.clone())
        .filter(|name| !kept.items.iter().any(|l| l.pod.as_deref() == Some(name)))
        .collect();
    let used_bytes: usize = kept.items.iter().map(|l| l.message.len()).sum();
    let caps = Caps {
        log_lines: settings.caps.log_lines.saturating_sub(kept.items.len()),
        log_bytes: settings.caps.log_bytes.saturating_sub(used_bytes),
        ..settings.caps
    };
    if missing.is_empty() || caps.log_lines == 0 || caps.log_bytes == 0 {
        return Timed {
            ran: Ran::Done(kept),
            elapsed_ms: first.elapsed_ms,
        };
    }
    let more = timed(
        settings.timeout,
        source.pod_logs(&workload.namespace, &missing, window, &caps),
    )
    .await;
    let elapsed_ms = first.elapsed_ms.saturating_add(more.elapsed_ms);
    let ran = match more.ran {
        Ran::Done(more) => {
            kept.items.extend(more.items);
            kept.dropped_items += more.dropped_items;
            kept.dropped_bytes += more.dropped_bytes;
            for (i, line) in kept.items.iter_mut().enumerate() {
                line.id = format!("log/{i}");
            }
            Ran::Done(kept)
        }
        // The label query answered; a failed second look is only worth a note when
        // nothing was found at all.
        failed if kept.items.is_empty() => failed,
        _ => Ran::Done(kept),
    };
    Timed { ran, elapsed_ms }
}

/// Collects, redacts and persists the evidence for one run. Fails only when the entity
/// does not exist, the namespace cannot be determined, or the bundle cannot be stored;
/// every other source problem is recorded in `sources`.
#[tracing::instrument(skip(ctx, request), fields(run_id = %request.run_id, entity = %request.entity, cluster = %request.cluster))]
pub async fn collect(ctx: &CollectContext, request: &CollectRequest) -> Result<EvidenceBundle> {
    let catalog = timed(ctx.settings.timeout, async {
        match &ctx.catalog {
            Some(catalog) => catalog.entity(&request.entity).await,
            None => Err(SourceError::unavailable("AIOPS_BACKSTAGE_URL is not set")),
        }
    });
    let guess = request
        .namespace
        .as_deref()
        .map(|ns| Workload::locate(request.entity.name(), None, ns));

    let (catalog, early) = match guess {
        None => (catalog.await, None),
        Some(guess) => {
            let side = cluster_side(ctx, request, guess);
            tokio::pin!(catalog, side);
            let mut side_done = None;
            let catalog = loop {
                tokio::select! {
                    c = &mut catalog => break c,
                    s = &mut side, if side_done.is_none() => side_done = Some(s),
                }
            };
            let early = match side_done {
                Some(s) => s,
                None => side.await,
            };
            (catalog, Some(early))
        }
    };

    let entity = match &catalog.ran {
        Ran::Done(entity) => Some(entity.clone()),
        Ran::Failed(e @ SourceError::NotFound { .. }) => return Err(Error::Source(e.clone())),
        _ => None,
    };
    let namespace = request
        .namespace
        .clone()
        .or_else(|| entity.as_ref().and_then(|e| e.kubernetes_namespace.clone()))
        .ok_or_else(|| {
            invalid(
                "namespace",
                "a namespace, or an entity with the backstage.io/kubernetes-namespace annotation",
            )
        })?;
    let workload = Workload::locate(request.entity.name(), entity.as_ref(), &namespace);
    let side = match early {
        Some(side) if side.workload == workload => side,
        _ => {
            tracing::debug!(selector = %workload.selector, "re-collecting with the entity's locator");
            cluster_side(ctx, request, workload).await
        }
    };

    let bundle = assemble(
        ctx,
        request,
        &namespace,
        entity,
        catalog.elapsed_ms,
        &catalog.ran,
        &side,
    );
    let bundle = redact(&ctx.redactor, &bundle)?;
    persist(ctx, &bundle).await?;
    Ok(bundle)
}

fn status<T>(timed: &Timed<T>, items: u64, dropped_items: u64, dropped_bytes: u64) -> SourceStatus {
    let (status, error) = match &timed.ran {
        Ran::Done(_) => (SourceState::Ok, None),
        Ran::Failed(SourceError::Unavailable { reason }) => {
            (SourceState::Unavailable, Some(reason.clone()))
        }
        Ran::Failed(e) => (SourceState::Failed, Some(e.to_string())),
        Ran::TimedOut => (
            SourceState::Timeout,
            Some(format!("no answer within {} ms", timed.elapsed_ms)),
        ),
    };
    SourceStatus {
        status,
        error,
        items,
        dropped_items,
        dropped_bytes,
        elapsed_ms: timed.elapsed_ms,
    }
}

fn assemble(
    ctx: &CollectContext,
    request: &CollectRequest,
    namespace: &str,
    entity: Option<crate::evidence::CatalogEntity>,
    catalog_ms: u64,
    catalog: &Ran<crate::evidence::CatalogEntity>,
    side: &ClusterSide,
) -> EvidenceBundle {
    let mut bundle = EvidenceBundle {
        schema: BUNDLE_SCHEMA.to_owned(),
        run_id: request.run_id.clone(),
        collected_at: ctx.clock.now(),
        target: Target {
            entity: request.entity.to_string(),
            cluster: request.cluster.clone(),
            namespace: namespace.to_owned(),
            since: request.window.since,
            until: request.window.until,
        },
        entity,
        pods: Vec::new(),
        events: Vec::new(),
        rollouts: Vec::new(),
        logs: Vec::new(),
        findings: Vec::new(),
        sources: std::collections::BTreeMap::new(),
        objects: crate::evidence::RelatedObjects::default(),
    };
    let catalog_timed = Timed {
        ran: match catalog {
            Ran::Done(_) => Ran::Done(()),
            Ran::Failed(e) => Ran::Failed(e.clone()),
            Ran::TimedOut => Ran::TimedOut,
        },
        elapsed_ms: catalog_ms,
    };
    let has_entity = u64::from(bundle.entity.is_some());
    bundle
        .sources
        .insert("catalog".into(), status(&catalog_timed, has_entity, 0, 0));

    let (mut kube_items, mut kube_dropped, mut kube_bytes) = (0, 0, 0);
    if let Ran::Done(found) = &side.kubernetes.ran {
        bundle.pods.clone_from(&found.pods);
        bundle.rollouts.clone_from(&found.rollouts);
        bundle.events.clone_from(&found.events);
        for (i, e) in bundle.events.iter_mut().enumerate() {
            e.id = format!("event/{i}");
        }
        bundle.objects.clone_from(&found.objects);
        kube_items = (found.pods.len()
            + found.events.len()
            + found.rollouts.len()
            + found.objects.ids().count()) as u64;
        kube_dropped = found.dropped_items;
        kube_bytes = found.dropped_bytes;
    }
    let mut kube_status = status(&side.kubernetes, kube_items, kube_dropped, kube_bytes);
    if let Ran::Done(found) = &side.kubernetes.ran
        && !found.notes.is_empty()
    {
        kube_status.error = Some(format!("partly read: {}", found.notes.join("; ")));
    }
    bundle.sources.insert("kubernetes".into(), kube_status);

    let (mut log_dropped, mut log_bytes) = (0, 0);
    if let Ran::Done(found) = &side.logs.ran {
        bundle.logs.clone_from(&found.items);
        log_dropped = found.dropped_items;
        log_bytes = found.dropped_bytes;
    }
    let logs_status = logs_status(
        status(&side.logs, bundle.logs.len() as u64, log_dropped, log_bytes),
        &bundle,
        &side.workload,
    );
    bundle.sources.insert("logs".into(), logs_status);

    let (mut finding_dropped, mut finding_bytes) = (0, 0);
    if let Ran::Done(found) = &side.findings.ran {
        let cluster_known = matches!(side.kubernetes.ran, Ran::Done(_));
        let mut kept: Vec<Finding> = found
            .items
            .iter()
            .filter(|f| about_workload(f, &bundle, &side.workload, cluster_known))
            .cloned()
            .collect();
        finding_dropped =
            found.dropped_items + kept.len().saturating_sub(ctx.settings.caps.findings) as u64;
        finding_bytes = found.dropped_bytes;
        kept.truncate(ctx.settings.caps.findings);
        for (i, f) in kept.iter_mut().enumerate() {
            f.id = format!("finding/{i}");
        }
        bundle.findings = kept;
    }
    bundle.sources.insert(
        "k8sgpt".into(),
        status(
            &side.findings,
            bundle.findings.len() as u64,
            finding_dropped,
            finding_bytes,
        ),
    );
    bundle
}

/// The logs source's status, `empty` when pods that ran left no line at all, with a
/// note naming the pods that left none.
fn logs_status(
    mut logs_status: SourceStatus,
    bundle: &EvidenceBundle,
    workload: &Workload,
) -> SourceStatus {
    let started = bundle.pods.iter().filter(|p| ran(p)).count();
    if logs_status.status == SourceState::Ok && started > 0 {
        let silent: Vec<&str> = bundle
            .pods
            .iter()
            .filter(|p| ran(p))
            .map(|p| p.name.as_str())
            .filter(|name| !bundle.logs.iter().any(|l| l.pod.as_deref() == Some(*name)))
            .collect();
        if bundle.logs.is_empty() {
            logs_status.status = SourceState::Empty;
            logs_status.error = Some(format!(
                "no log line in the window for any of the {started} started pods the Kubernetes \
                 API listed (searched by the selector {} and by pod name); check the collector's \
                 field names (AIOPS_LOGS_SCHEMA) and its retention",
                workload.selector
            ));
        } else if !silent.is_empty() {
            logs_status.error = Some(format!(
                "no log line in the window for pods {}",
                silent.join(", ")
            ));
        }
    }
    logs_status
}

/// Whether any container of the pod ever started, so that it may have logged.
fn ran(pod: &crate::evidence::PodEvidence) -> bool {
    use crate::evidence::ContainerState;
    pod.containers.iter().any(|c| {
        c.restart_count > 0
            || c.last_termination.is_some()
            || matches!(
                c.state,
                ContainerState::Running { .. } | ContainerState::Terminated(_)
            )
    })
}

/// Whether a k8sgpt finding is about the workload: one of its pods or owners, or a
/// child of one. Without the cluster's answer, names derived from the kubernetes id.
fn about_workload(
    f: &Finding,
    bundle: &EvidenceBundle,
    workload: &Workload,
    cluster_known: bool,
) -> bool {
    if !cluster_known {
        let id = &workload.kubernetes_id;
        let named = |n: &str| n == id || n.starts_with(&format!("{id}-"));
        return named(&f.name)
            || f.parent_object
                .as_deref()
                .and_then(|p| p.split_once('/'))
                .is_some_and(|(_, n)| named(n));
    }
    let objects: Vec<(String, &str)> = bundle
        .pods
        .iter()
        .map(|p| ("Pod".to_owned(), p.name.as_str()))
        .chain(
            bundle
                .pods
                .iter()
                .filter_map(|p| p.owner.as_ref())
                .map(|o| (o.kind.clone(), o.name.as_str())),
        )
        .chain(
            bundle
                .rollouts
                .iter()
                .map(|r| (r.object.kind.clone(), r.object.name.as_str())),
        )
        .collect();
    let is_ours = |kind: &str, name: &str| objects.iter().any(|(k, n)| k == kind && *n == name);
    is_ours(&f.kind, &f.name)
        || f.parent_object
            .as_deref()
            .and_then(|p| p.split_once('/'))
            .is_some_and(|(kind, name)| is_ours(kind, name))
}

/// Through the shared redactor as JSON, and back into the typed bundle.
fn redact(redactor: &Redactor, bundle: &EvidenceBundle) -> Result<EvidenceBundle> {
    let broken = |e: serde_json::Error| {
        invalid("bundle", &format!("a bundle that survives redaction ({e})"))
    };
    let mut value = serde_json::to_value(bundle).map_err(broken)?;
    redactor.redact_json(&mut value);
    serde_json::from_value(value).map_err(broken)
}

/// Writes the bundle: created if absent, replaced (compare-and-swap) on re-collection.
async fn persist(ctx: &CollectContext, bundle: &EvidenceBundle) -> Result<()> {
    let key = EvidenceBundle::store_key(&bundle.run_id);
    let bytes = serde_json::to_vec_pretty(bundle)
        .map(Bytes::from)
        .map_err(|e| invalid("bundle", &format!("a serialisable bundle ({e})")))?;
    store::update(ctx.store.as_ref(), &key, 5, |_| {
        store::Update::Write(bytes.clone(), ())
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
