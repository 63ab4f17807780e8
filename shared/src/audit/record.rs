//! The audit record: what one JSON line in VictoriaLogs (or on stdout) holds.
//!
//! The shape follows Backstage's auditor events (`eventId`, `severityLevel`, `actor`,
//! `status`, `meta`), so Backstage's records and ours share one VictoriaLogs stream
//! layout. See "Audit record" in the contract.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The plugin part of `_msg` (`aiops.<event-id>`), as Backstage prefixes its events
/// with the emitting plugin's id.
pub const PLUGIN: &str = "aiops";

/// How much an event matters to a reviewer, as in Backstage's auditor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine reads. Backstage's default, and ours.
    #[default]
    Low,
    /// Changes, or reads of sensitive data.
    Medium,
    /// Refusals and access to production.
    High,
    /// Something a human must look at now.
    Critical,
}

/// Whether the audited operation went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The operation completed (a policy deny that was decided is also a success).
    #[default]
    Succeeded,
    /// The operation could not complete.
    Failed,
}

/// A policy decision recorded with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Access granted.
    Allow,
    /// Access refused.
    Deny,
}

/// Who acted. Backstage's actor also carries ip/hostname/userAgent; we record only the
/// principal because those are not known past the API function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// An entity ref (`user:default/jane`), `local:<os user>`, or a service name.
    #[serde(rename = "actorId", default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
}

/// What was acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Cluster name as configured (`prod-eu1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Kubernetes namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Backstage entity ref (`component:default/checkout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

/// The low-cardinality fields VictoriaLogs groups streams by (`_stream_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFields {
    /// The system that writes the record (`aiops`; Backstage writes `backstage`).
    pub service: String,
    /// The binary that writes it (`policy-check`, `aiops`).
    pub function: String,
    /// The deployment environment (`local`, `dev`, `prod`).
    pub env: String,
}

/// An event as the audited code describes it; the logger adds time, id and stream.
///
/// ```
/// use shared::audit::{AuditEvent, Decision, Severity};
/// let event = AuditEvent::new("namespace-access")
///     .severity(Severity::High)
///     .actor("user:default/mallory")
///     .cluster("prod-eu1")
///     .namespace("checkout-prod")
///     .decision(Decision::Deny)
///     .reason("not_owner")
///     .meta("action", "read");
/// # let _ = event;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    event_id: String,
    severity: Severity,
    status: Status,
    actor: Actor,
    resource: Resource,
    decision: Option<Decision>,
    reason: Option<String>,
    request_id: Option<String>,
    meta: Map<String, Value>,
}

impl AuditEvent {
    /// An event with id `event_id` (kebab-case, e.g. `namespace-access`), severity
    /// low, status succeeded.
    pub fn new(event_id: impl Into<String>) -> Self {
        Self {
            event_id: event_id.into(),
            severity: Severity::default(),
            status: Status::default(),
            actor: Actor::default(),
            resource: Resource::default(),
            decision: None,
            reason: None,
            request_id: None,
            meta: Map::new(),
        }
    }

    /// Sets the severity.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the status.
    #[must_use]
    pub fn status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Sets the acting principal.
    #[must_use]
    pub fn actor(mut self, actor_id: impl Into<String>) -> Self {
        self.actor.actor_id = Some(actor_id.into());
        self
    }

    /// Sets the whole resource at once.
    #[must_use]
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// Sets the resource's cluster.
    #[must_use]
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.resource.cluster = Some(cluster.into());
        self
    }

    /// Sets the resource's namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.resource.namespace = Some(namespace.into());
        self
    }

    /// Sets the resource's catalog entity.
    #[must_use]
    pub fn entity(mut self, entity: impl Into<String>) -> Self {
        self.resource.entity = Some(entity.into());
        self
    }

    /// Records a policy decision.
    #[must_use]
    pub fn decision(mut self, decision: Decision) -> Self {
        self.decision = Some(decision);
        self
    }

    /// Records a reason code (`not_owner`, `owner`, …).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Records the invocation's request id, to join with function logs.
    #[must_use]
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Adds one `meta` entry. Values pass through the redactor like the rest.
    #[must_use]
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
}

/// One audit line, as written. Optional fields are left out rather than `null`,
/// because VictoriaLogs treats an empty field as absent anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the event was recorded, RFC 3339 in UTC with millisecond precision.
    #[serde(rename = "_time", serialize_with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    /// `<plugin>.<event-id>`.
    #[serde(rename = "_msg")]
    pub msg: String,
    /// `service`, `function`, `env`.
    #[serde(flatten)]
    pub stream: StreamFields,
    /// Unique id of this record, returned to callers (a policy response's `audit_id`)
    /// so a decision can be found in VictoriaLogs.
    pub audit_id: Uuid,
    /// The event id without the plugin prefix.
    #[serde(rename = "eventId")]
    pub event_id: String,
    /// `low|medium|high|critical`.
    #[serde(rename = "severityLevel")]
    pub severity: Severity,
    /// `succeeded|failed`.
    pub status: Status,
    /// Who acted.
    pub actor: Actor,
    /// What was acted on.
    pub resource: Resource,
    /// `allow|deny`, for policy events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The invocation's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Event-specific details.
    #[serde(default)]
    pub meta: Map<String, Value>,
}

impl AuditRecord {
    /// Stamps `event` with time, id and stream fields.
    pub fn new(
        event: AuditEvent,
        stream: &StreamFields,
        time: DateTime<Utc>,
        audit_id: Uuid,
    ) -> Self {
        Self {
            time,
            msg: format!("{PLUGIN}.{}", event.event_id),
            stream: stream.clone(),
            audit_id,
            event_id: event.event_id,
            severity: event.severity,
            status: event.status,
            actor: event.actor,
            resource: event.resource,
            decision: event.decision,
            reason: event.reason,
            request_id: event.request_id,
            meta: event.meta,
        }
    }
}

/// A fixed precision and a `Z` suffix keep every line's `_time` the same width and
/// unambiguous for VictoriaLogs' `_time_field` parsing.
fn rfc3339_millis<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream() -> StreamFields {
        StreamFields {
            service: "aiops".into(),
            function: "policy-check".into(),
            env: "prod".into(),
        }
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_full_record_has_every_contract_field_with_its_contract_name() {
        let event = AuditEvent::new("namespace-access")
            .severity(Severity::High)
            .status(Status::Succeeded)
            .actor("user:default/mallory")
            .cluster("prod-eu1")
            .namespace("checkout-prod")
            .entity("component:default/checkout")
            .decision(Decision::Deny)
            .reason("not_owner")
            .request_id("req-1")
            .meta("action", "read");
        let record = AuditRecord::new(
            event,
            &stream(),
            at("2026-11-26T10:00:00+02:00"),
            Uuid::nil(),
        );
        let value = serde_json::to_value(&record).expect("serializable");
        assert_eq!(
            value,
            json!({
                "_time": "2026-11-26T08:00:00.000Z",
                "_msg": "aiops.namespace-access",
                "service": "aiops",
                "function": "policy-check",
                "env": "prod",
                "audit_id": "00000000-0000-0000-0000-000000000000",
                "eventId": "namespace-access",
                "severityLevel": "high",
                "status": "succeeded",
                "actor": {"actorId": "user:default/mallory"},
                "resource": {
                    "cluster": "prod-eu1",
                    "namespace": "checkout-prod",
                    "entity": "component:default/checkout"
                },
                "decision": "deny",
                "reason": "not_owner",
                "request_id": "req-1",
                "meta": {"action": "read"}
            })
        );
    }

    #[test]
    fn a_minimal_record_defaults_to_low_succeeded_and_omits_unset_optionals() {
        let record = AuditRecord::new(
            AuditEvent::new("rerun"),
            &stream(),
            at("2026-11-26T10:00:00.123456Z"),
            Uuid::nil(),
        );
        let value = serde_json::to_value(&record).expect("serializable");
        assert_eq!(value["_time"], "2026-11-26T10:00:00.123Z");
        assert_eq!(value["severityLevel"], "low");
        assert_eq!(value["status"], "succeeded");
        assert_eq!(value["actor"], json!({}));
        assert_eq!(value["resource"], json!({}));
        assert_eq!(value["meta"], json!({}));
        for absent in ["decision", "reason", "request_id"] {
            assert!(value.get(absent).is_none(), "{absent} should be omitted");
        }
    }

    #[test]
    fn severities_statuses_and_decisions_use_the_backstage_spelling() {
        let names = |v: Value| v.as_str().map(str::to_owned);
        let all = [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .map(|s| names(serde_json::to_value(s).expect("serializable")));
        assert_eq!(
            all.map(Option::unwrap_or_default),
            ["low", "medium", "high", "critical"]
        );
        assert_eq!(serde_json::to_value(Status::Failed).expect("ok"), "failed");
        assert_eq!(serde_json::to_value(Decision::Allow).expect("ok"), "allow");
    }

    #[test]
    fn a_record_reads_back_from_its_own_line() {
        let record = AuditRecord::new(
            AuditEvent::new("namespace-access")
                .actor("local:ops")
                .meta("n", 3),
            &stream(),
            at("2026-11-26T10:00:00Z"),
            Uuid::nil(),
        );
        let line = serde_json::to_string(&record).expect("serializable");
        let back: AuditRecord = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, record);
    }
}
