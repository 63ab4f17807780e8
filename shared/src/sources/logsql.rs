//! LogsQL queries for a workload. Collectors name Kubernetes fields differently, so the
//! field names come from a preset (`AIOPS_LOGS_SCHEMA`) with per-field overrides.

use super::Workload;
use super::selector::{self, Requirement};
use crate::config::{ConfigError, Env};

/// Preset: `vector` (default), `fluentbit` or `otel`.
pub const SCHEMA_VAR: &str = "AIOPS_LOGS_SCHEMA";
/// Overrides of single field names.
pub const FIELD_VARS: [&str; 5] = [
    "AIOPS_LOGS_FIELD_NAMESPACE",
    "AIOPS_LOGS_FIELD_POD",
    "AIOPS_LOGS_FIELD_CONTAINER",
    "AIOPS_LOGS_FIELD_LEVEL",
    "AIOPS_LOGS_LABEL_PREFIX",
];

/// The field names of one collector's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSchema {
    /// Namespace field.
    pub namespace: String,
    /// Pod name field.
    pub pod: String,
    /// Container name field.
    pub container: String,
    /// Level / severity field.
    pub level: String,
    /// Prefix of pod label fields; the label key follows it.
    pub label_prefix: String,
}

impl LogSchema {
    /// Vector's `kubernetes_logs` source.
    pub fn vector() -> Self {
        Self::of(
            "kubernetes.pod_namespace",
            "kubernetes.pod_name",
            "kubernetes.container_name",
            "level",
            "kubernetes.pod_labels.",
        )
    }

    /// Fluent Bit's `kubernetes` filter.
    pub fn fluentbit() -> Self {
        Self::of(
            "kubernetes.namespace_name",
            "kubernetes.pod_name",
            "kubernetes.container_name",
            "level",
            "kubernetes.labels.",
        )
    }

    /// OpenTelemetry resource attributes (k8sattributes processor), as VictoriaLogs
    /// stores OTLP logs.
    pub fn otel() -> Self {
        Self::of(
            "k8s.namespace.name",
            "k8s.pod.name",
            "k8s.container.name",
            "severity",
            "k8s.pod.label.",
        )
    }

    fn of(ns: &str, pod: &str, container: &str, level: &str, labels: &str) -> Self {
        Self {
            namespace: ns.into(),
            pod: pod.into(),
            container: container.into(),
            level: level.into(),
            label_prefix: labels.into(),
        }
    }

    /// The preset named by [`SCHEMA_VAR`], then the [`FIELD_VARS`] overrides.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut schema = match env.get(SCHEMA_VAR).as_deref().map(str::trim) {
            None | Some("vector") => Self::vector(),
            Some("fluentbit" | "fluent-bit") => Self::fluentbit(),
            Some("otel" | "opentelemetry") => Self::otel(),
            Some(_) => {
                return Err(ConfigError::invalid(
                    SCHEMA_VAR,
                    "vector, fluentbit or otel",
                    None,
                ));
            }
        };
        let fields = [
            &mut schema.namespace,
            &mut schema.pod,
            &mut schema.container,
            &mut schema.level,
            &mut schema.label_prefix,
        ];
        for (var, field) in FIELD_VARS.iter().zip(fields) {
            if let Some(value) = env.get(var) {
                value.trim().clone_into(field);
            }
        }
        Ok(schema)
    }
}

/// Which part of the logs a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Errors and warnings, by level or by message.
    Problems,
    /// Everything else.
    Rest,
}

const PROBLEM_LEVELS: &str =
    "(?i)^(emerg|emergency|alert|crit|critical|fatal|panic|err|error|warn|warning)$";
const PROBLEM_WORDS: &str = "(?i)(error|exception|panic|fatal|warn)";

/// The query for one part of a workload's logs, newest first. The time window and limit
/// travel as request arguments.
pub fn query(schema: &LogSchema, workload: &Workload, part: Part) -> Result<String, String> {
    let mut filters = vec![format!(
        "{}:={}",
        quote(&schema.namespace),
        quote(&workload.namespace)
    )];
    for requirement in selector::parse(&workload.selector)? {
        filters.push(label_filter(&schema.label_prefix, &requirement));
    }
    filters.push(part_filter(schema, part));
    Ok(format!("{} | sort by (_time desc)", filters.join(" AND ")))
}

/// The query for one part of the logs of the named pods, newest first: for collectors
/// that record pod names but no label fields (an OpenTelemetry collector without label
/// extraction), the pods the Kubernetes API listed are found by name.
pub fn pod_query(schema: &LogSchema, namespace: &str, pods: &[String], part: Part) -> String {
    let names = pods.iter().map(|p| quote(p)).collect::<Vec<_>>().join(",");
    format!(
        "{}:={} AND {}:in({names}) AND {} | sort by (_time desc)",
        quote(&schema.namespace),
        quote(namespace),
        quote(&schema.pod),
        part_filter(schema, part)
    )
}

fn part_filter(schema: &LogSchema, part: Part) -> String {
    let problems = format!(
        "({}:~{} OR _msg:~{})",
        quote(&schema.level),
        quote(PROBLEM_LEVELS),
        quote(PROBLEM_WORDS)
    );
    match part {
        Part::Problems => problems,
        Part::Rest => format!("NOT {problems}"),
    }
}

fn label_filter(prefix: &str, requirement: &Requirement) -> String {
    let field = |key: &str| quote(&format!("{prefix}{key}"));
    let list = |values: &[String]| {
        values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join(",")
    };
    match requirement {
        Requirement::Equals(k, v) => format!("{}:={}", field(k), quote(v)),
        Requirement::NotEquals(k, v) => format!("NOT {}:={}", field(k), quote(v)),
        Requirement::In(k, vs) => format!("{}:in({})", field(k), list(vs)),
        Requirement::NotIn(k, vs) => format!("NOT {}:in({})", field(k), list(vs)),
        Requirement::Exists(k) => format!("{}:*", field(k)),
        Requirement::NotExists(k) => format!("NOT {}:*", field(k)),
    }
}

/// A LogsQL quoted string. LogsQL unquotes with Go's rules, which accept everything a
/// JSON string encoder writes (`\"`, `\\`, `\n`, `\u00XX`).
pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    fn web() -> Workload {
        Workload::locate("web", None, "web-dev")
    }

    #[test]
    fn vector_problem_query_filters_namespace_labels_and_levels() {
        let q = query(&LogSchema::vector(), &web(), Part::Problems).unwrap();
        assert_eq!(
            q,
            r#""kubernetes.pod_namespace":="web-dev" AND "kubernetes.pod_labels.backstage.io/kubernetes-id":="web" AND ("level":~"(?i)^(emerg|emergency|alert|crit|critical|fatal|panic|err|error|warn|warning)$" OR _msg:~"(?i)(error|exception|panic|fatal|warn)") | sort by (_time desc)"#
        );
        let rest = query(&LogSchema::vector(), &web(), Part::Rest).unwrap();
        assert!(rest.contains(" AND NOT (\"level\":~"), "{rest}");
    }

    #[test]
    fn pod_queries_select_by_name_in_the_namespace() {
        let pods = vec!["web-1".to_owned(), "web-\"2".to_owned()];
        let q = pod_query(&LogSchema::otel(), "web-dev", &pods, Part::Problems);
        assert!(
            q.starts_with(
                r#""k8s.namespace.name":="web-dev" AND "k8s.pod.name":in("web-1","web-\"2") AND ("severity":~"#
            ),
            "{q}"
        );
        assert!(!q.contains("k8s.pod.label."), "{q}");
        let rest = pod_query(&LogSchema::otel(), "web-dev", &pods, Part::Rest);
        assert!(rest.contains(" AND NOT (\"severity\":~"), "{rest}");
    }

    #[test]
    fn set_based_selectors_and_hostile_values_are_quoted() {
        let w = Workload {
            namespace: "ns\" OR *".into(),
            kubernetes_id: "x".into(),
            selector: "tier in (api,worker),!canary,env!=dev".into(),
        };
        let q = query(&LogSchema::fluentbit(), &w, Part::Problems).unwrap();
        assert!(
            q.starts_with(r#""kubernetes.namespace_name":="ns\" OR *" AND "#),
            "{q}"
        );
        assert!(
            q.contains(r#""kubernetes.labels.tier":in("api","worker")"#),
            "{q}"
        );
        assert!(q.contains(r#"NOT "kubernetes.labels.canary":*"#), "{q}");
        assert!(q.contains(r#"NOT "kubernetes.labels.env":="dev""#), "{q}");
        assert_eq!(quote("a\\b\n"), r#""a\\b\n""#);
    }

    #[test]
    fn schema_presets_and_overrides_come_from_the_environment() {
        let env = MapEnv::new()
            .with(SCHEMA_VAR, "otel")
            .with("AIOPS_LOGS_FIELD_LEVEL", "severity_text");
        let s = LogSchema::from_env(&env).unwrap();
        assert_eq!(s.namespace, "k8s.namespace.name");
        assert_eq!(s.level, "severity_text");
        assert_eq!(
            LogSchema::from_env(&MapEnv::new()).unwrap(),
            LogSchema::vector()
        );
        let bad = LogSchema::from_env(&MapEnv::new().with(SCHEMA_VAR, "loki")).unwrap_err();
        assert_eq!(bad.var(), SCHEMA_VAR);
    }

    #[test]
    fn an_unparsable_selector_is_an_error_not_an_unfiltered_query() {
        let w = Workload {
            selector: "a in (b".into(),
            ..web()
        };
        assert!(query(&LogSchema::vector(), &w, Part::Problems).is_err());
    }
}
