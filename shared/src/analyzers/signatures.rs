//! Decisive log signatures: the few kinds of line that name a cause (a name that does not
//! resolve, a refused host:port, a bad certificate, a missing key), found among any
//! amount of noise and ranked above it.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use super::Diagnosis;
use crate::analysis::Confidence;
use crate::evidence::{EvidenceBundle, PodEvidence};

/// One kind of decisive line.
struct Kind {
    name: &'static str,
    pattern: Regex,
    /// What the line shows, with `{}` for the subject.
    what: &'static str,
    /// How to fix it, with `{}` for the subject.
    fix: &'static str,
    /// Whether it concerns a dependency the pod talks to.
    dependency: bool,
}

fn kind(
    name: &'static str,
    pattern: &str,
    what: &'static str,
    fix: &'static str,
    dependency: bool,
) -> Kind {
    Kind {
        name,
        pattern: Regex::new(pattern).expect("a valid signature pattern"),
        what,
        fix,
        dependency,
    }
}

/// In order of precedence: a line is the first kind it matches. Causes that name a
/// setting come before their effects (a panic that quotes a missing key is about the
/// key).
static KINDS: LazyLock<Vec<Kind>> = LazyLock::new(|| {
    vec![
        kind(
            "missing_config",
            r#"(?i)(?:missing (?:required )?(?:config(?:uration)? )?(?:key|env(?:ironment)? var(?:iable)?|setting|value)[ :=]+["'`]?(?P<s>[\w.\-]+)|(?:required )?(?:key|env(?:ironment)? var(?:iable)?|setting) ["'`]?(?P<s2>[\w.\-]+)["'`]? (?:is )?(?:missing|not set|required|must be set|is empty)|unknown (?:config(?:uration)? )?key ["'`]?(?P<s3>[\w.\-]+))"#,
            "the configuration key {} is missing or not recognised",
            "Set {} in the workload's ConfigMap, Secret or env (or remove it if this version no longer knows it), then restart the rollout.",
            false,
        ),
        kind(
            "unknown_flag",
            r"(?i)(?:unknown (?:shorthand )?(?:flag|option)[: ]+'?(?P<s>-{1,2}[\w\-]+)|unrecognized (?:option|arguments?)[: ]+'?(?P<s2>-{1,2}[\w\-]+)|flag provided but not defined: (?P<s3>-{1,2}[\w\-]+))",
            "the program does not accept the argument {}",
            "Remove or rename {} in the container's args: this image version does not know it.",
            false,
        ),
        kind(
            "dns",
            r"(?i)lookup (?P<s>[\w.\-]+)(?: on [\w.:\[\]]+)?: (?:no such host|server misbehaving)|getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<s2>[\w.\-]+)|UnknownHostException: (?P<s3>[\w.\-]+)|could not translate host name \W?(?P<s4>[\w.\-]+)",
            "the DNS name {} does not resolve",
            "Check the host name {} (typo, wrong namespace suffix, a Service that does not exist) and that the pod's DNS works: kubectl get svc -A | grep <name>",
            true,
        ),
        kind(
            "tls",
            r"(?i)(?:x509: (?P<s>[^;\n]{0,80})|tls: (?P<s2>[^;\n]{0,80})|(?P<s3>certificate (?:has expired|verify failed|is not valid)[^;\n]{0,60})|(?P<s4>PKIX path building failed))",
            "TLS fails: {}",
            "Renew or fix the certificate ({}), or give the client the CA that signed it.",
            true,
        ),
        kind(
            "auth",
            r#"(?i)(?:password authentication failed for user "?(?P<s>[\w\-.@]+)|access denied for user '?(?P<s2>[\w\-.@]+)|(?P<s3>authentication failed|invalid (?:api[ _-]?key|credentials|token)|401 unauthorized|WRONGPASS|NOAUTH[^\n]{0,40}))"#,
            "a dependency refuses the credentials ({})",
            "Check the credentials the pod uses ({}): the Secret's value, its key name, and whether it was rotated on the server side.",
            true,
        ),
        kind(
            "connection_refused",
            r"(?i)(?:dial tcp (?P<s>[\w.\-\[\]:]+:\d+): connect: connection refused|connect ECONNREFUSED (?P<s2>[\w.\-]+:\d+)|connection (?:to )?(?P<s3>[\w.\-]+:\d+) refused|(?P<s4>[\w.\-]+:\d+)[^\n]{0,40}connection refused|connection refused[^\n]{0,40}?(?P<s5>[\w.\-]+:\d+))",
            "the dependency at {} refuses connections",
            "Check that {} is up and listening (its pods ready, the Service's port and targetPort right): kubectl get endpointslices -A | grep <service>",
            true,
        ),
        kind(
            "timeout",
            r"(?i)(?:dial tcp (?P<s>[\w.\-\[\]:]+:\d+): (?:i/o timeout|connect: connection timed out)|connect ETIMEDOUT (?P<s2>[\w.\-]+:\d+)|(?P<s3>[\w.\-]+:\d+)[^\n]{0,40}(?:timed out|timeout))",
            "connections to {} time out",
            "Check the network path to {}: NetworkPolicies, security groups, and whether the dependency is overloaded.",
            true,
        ),
        kind(
            "permission_denied",
            r"(?i)(?:(?P<s>/[\w./\-]+)[: ]+permission denied|permission denied[:, ]+(?:\w+ )?['\x22]?(?P<s2>/[\w./\-]+)|EACCES: permission denied, \w+ '(?P<s3>/[^']+)'|read-only file system[: ]+['\x22]?(?P<s4>/[\w./\-]+)?)",
            "the process may not write or read {}",
            "Fix the ownership or mode of {} (securityContext fsGroup/runAsUser), or mount a writable volume there.",
            false,
        ),
        kind(
            "runtime_oom",
            r"(?i)(?P<s>java\.lang\.OutOfMemoryError[^\n]{0,60}|JavaScript heap out of memory|fatal error: runtime: out of memory|MemoryError|Cannot allocate memory)",
            "the runtime ran out of memory ({})",
            "Size the runtime's heap to the container's memory limit (-XX:MaxRAMPercentage, --max-old-space-size, GOMEMLIMIT) or raise the limit; look for a leak if use grows steadily.",
            false,
        ),
        kind(
            "panic",
            r#"(?:panic: (?P<s>[^\n]{1,120})|thread '[^']+' panicked at (?P<s2>[^\n]{1,120})|Exception in thread "[^"]+" (?P<s3>[^\n]{1,120})|(?P<s4>Unhandled(?:Promise)?Rejection[^\n]{0,100})|Traceback \(most recent call last\)(?P<s5>))"#,
            "the program panics: {}",
            "Fix the failure the panic names ({}); if the last release introduced it, roll back.",
            false,
        ),
    ]
});

/// A decisive line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    /// The kind (`dns`, `connection_refused`, …).
    pub kind: &'static str,
    /// What it names: the host:port, the key, the flag, the path, the panic message.
    pub subject: String,
    /// The evidence id of the line (the pod's id for a previous-log line).
    pub id: String,
    /// The pod that logged it.
    pub pod: Option<String>,
    /// The line.
    pub line: String,
    /// Lines with the same kind and subject.
    pub count: usize,
    /// Whether it concerns a dependency.
    pub dependency: bool,
    what: &'static str,
    fix: &'static str,
}

impl Hit {
    /// What the line shows, in a sentence.
    pub fn what(&self) -> String {
        self.what.replace("{}", &self.subject)
    }

    /// How to fix it.
    pub fn fix(&self) -> String {
        self.fix.replace("{}", &self.subject)
    }
}

/// The kind and subject of one line, if it is decisive.
fn classify(line: &str) -> Option<(&'static Kind, String)> {
    KINDS.iter().find_map(|k| {
        let cap = k.pattern.captures(line)?;
        let subject = cap
            .iter()
            .skip(1)
            .flatten()
            .map(|m| m.as_str().trim())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| cap.get(0).map_or("", |m| m.as_str()).trim())
            .trim_end_matches(['.', ',', ';', ':', '"', '\''])
            .to_owned();
        Some((k, subject))
    })
}

/// Whether a line is decisive (for the prompt and the report, which rank these first).
pub fn is_decisive(line: &str) -> bool {
    classify(line).is_some()
}

/// Decisive lines of the workload, grouped by (kind, subject), the most telling first
/// (precedence of the kind, then how often it was logged). Lines of pods that are
/// healthy are noise and left out.
pub(super) fn hits(b: &EvidenceBundle) -> Vec<Hit> {
    let failing = |pod: Option<&str>| {
        pod.is_none_or(|name| b.pods.iter().find(|p| p.name == name).is_none_or(unhealthy))
    };
    let lines = b
        .logs
        .iter()
        .filter(|l| failing(l.pod.as_deref()))
        .map(|l| (l.id.clone(), l.pod.clone(), l.message.as_str(), l.time))
        .chain(b.pods.iter().filter(|p| unhealthy(p)).flat_map(|p| {
            p.containers.iter().flat_map(move |c| {
                c.previous_logs
                    .iter()
                    .map(move |line| (p.id.clone(), Some(p.name.clone()), line.as_str(), None))
            })
        }));
    let mut out: Vec<(usize, Hit, Option<chrono::DateTime<chrono::Utc>>)> = Vec::new();
    for (id, pod, line, time) in lines {
        let Some((k, subject)) = classify(line) else {
            continue;
        };
        let order = KINDS
            .iter()
            .position(|x| x.name == k.name)
            .unwrap_or(usize::MAX);
        if let Some((_, hit, seen)) = out
            .iter_mut()
            .find(|(_, h, _)| h.kind == k.name && h.subject == subject)
        {
            hit.count += 1;
            // Keep the most recent line as the quote.
            if time.is_some() && time >= *seen {
                hit.id = id;
                line.clone_into(&mut hit.line);
                hit.pod = pod;
                *seen = time;
            }
            continue;
        }
        out.push((
            order,
            Hit {
                kind: k.name,
                subject,
                id,
                pod,
                line: line.to_owned(),
                count: 1,
                dependency: k.dependency,
                what: k.what,
                fix: k.fix,
            },
            time,
        ));
    }
    out.sort_by(|a, b| {
        (a.0, std::cmp::Reverse(a.1.count)).cmp(&(b.0, std::cmp::Reverse(b.1.count)))
    });
    out.into_iter().map(|(_, h, _)| h).collect()
}

fn unhealthy(p: &PodEvidence) -> bool {
    !matches!(p.phase.as_str(), "Running" | "Succeeded")
        || p.containers.iter().any(|c| !c.ready || c.restart_count > 0)
}

/// The rule: the most decisive line of failing pods names the cause.
pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    let found = hits(b);
    let Some(lead) = found.first() else {
        return;
    };
    let pod = lead.pod.as_deref().unwrap_or("the workload");
    let mut root_cause = format!(
        "Pod {pod} fails because {}: its log says [{}] {}",
        lead.what(),
        lead.id,
        lead.line
    );
    if lead.count > 1 {
        let _ = write!(root_cause, " ({} such lines)", lead.count);
    }
    root_cause.push('.');
    for other in found.iter().skip(1).take(2) {
        let _ = write!(root_cause, " Also logged: {} [{}].", other.what(), other.id);
    }
    let mut evidence = vec![lead.id.clone()];
    if let Some(p) = b
        .pods
        .iter()
        .find(|p| Some(p.name.as_str()) == lead.pod.as_deref())
        && !evidence.contains(&p.id)
    {
        evidence.push(p.id.clone());
    }
    out.push(Diagnosis {
        rule: "log_signature",
        rank: 12,
        summary: format!("Pod {pod} fails: {}.", lead.what()),
        root_cause,
        confidence: Confidence::High,
        impact: format!("Pod {pod} does not serve; requests that need it fail."),
        evidence_ids: evidence,
        remediation: vec![lead.fix()],
        follow_ups: vec![
            "Alert on this log signature so the next occurrence is seen before users notice."
                .into(),
        ],
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_its_subject() {
        let cases = [
            (
                "dial tcp: lookup db.payments.svc on 10.96.0.10:53: no such host",
                "dns",
                "db.payments.svc",
            ),
            (
                "dial tcp 10.0.3.7:5432: connect: connection refused",
                "connection_refused",
                "10.0.3.7:5432",
            ),
            (
                "Error: connect ECONNREFUSED redis:6379",
                "connection_refused",
                "redis:6379",
            ),
            (
                "dial tcp kafka-0.kafka:9092: i/o timeout",
                "timeout",
                "kafka-0.kafka:9092",
            ),
            (
                "Get \"https://auth.internal/keys\": x509: certificate signed by unknown authority",
                "tls",
                "certificate signed by unknown authority",
            ),
            (
                "FATAL: password authentication failed for user \"orders\"",
                "auth",
                "orders",
            ),
            (
                "config: missing required key PAYMENT_API_URL",
                "missing_config",
                "PAYMENT_API_URL",
            ),
            (
                "config: unknown key \"featureFlags.beta\" in /etc/web/config.yaml",
                "missing_config",
                "featureFlags.beta",
            ),
            (
                "Error: unknown flag: --enable-beta",
                "unknown_flag",
                "--enable-beta",
            ),
            (
                "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
                "runtime_oom",
                "java.lang.OutOfMemoryError: Java heap space",
            ),
            (
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
                "runtime_oom",
                "JavaScript heap out of memory",
            ),
            (
                "panic: runtime error: invalid memory address or nil pointer dereference",
                "panic",
                "runtime error: invalid memory address or nil pointer dereference",
            ),
            (
                "open /var/cache/app/index.db: permission denied",
                "permission_denied",
                "/var/cache/app/index.db",
            ),
        ];
        for (line, kind, subject) in cases {
            let (k, s) = classify(line).unwrap_or_else(|| panic!("no kind for {line}"));
            assert_eq!((k.name, s.as_str()), (kind, subject), "{line}");
        }
    }

    #[test]
    fn routine_lines_are_not_decisive() {
        for line in [
            "GET /healthz 200 1ms",
            "listening on :8080",
            "retrying request (attempt 2)",
            "cache warmed: 1200 entries",
            "error rate 0.01% within budget",
        ] {
            assert!(!is_decisive(line), "{line}");
        }
    }
}
