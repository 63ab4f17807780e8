//! The prompt's sections: each source as candidate lines in priority order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Section;
use crate::evidence::{
    ContainerEvidence, ContainerState, EventGroup, EvidenceBundle, LogLine, PodEvidence,
    SourceState, Termination,
};

/// Lines kept from before each container termination.
const TAIL_LINES: usize = 15;
/// Healthy pods named in the one line that stands for all of them.
const HEALTHY_NAMED: usize = 20;

fn ts(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "?".to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// What was investigated, and how each source fared.
pub(super) fn header(b: &EvidenceBundle) -> String {
    let t = &b.target;
    let mut out = format!(
        "# Evidence for run {}\nEntity {} in cluster {}, namespace {}, window {} to {}.\n",
        b.run_id,
        t.entity,
        t.cluster,
        t.namespace,
        ts(Some(t.since)),
        ts(Some(t.until))
    );
    if let Some(e) = &b.entity {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "Owner {}, system {}, lifecycle {}.",
            opt(&e.owner),
            opt(&e.system),
            opt(&e.lifecycle)
        );
    }
    for (name, s) in &b.sources {
        let state = match s.status {
            SourceState::Ok => "ok",
            SourceState::Unavailable => "unavailable",
            SourceState::Failed => "failed",
            SourceState::Timeout => "timed out",
            SourceState::Empty => "empty",
        };
        let _ = write!(out, "Source {name}: {state}, {} items", s.items);
        if s.dropped_items > 0 {
            let _ = write!(out, " ({} dropped by collection caps)", s.dropped_items);
        }
        if let Some(err) = &s.error {
            let _ = write!(out, "; {err}");
        }
        out.push_str(".\n");
    }
    out
}

/// Every section, in priority order.
pub(super) fn all(b: &EvidenceBundle) -> Vec<Section> {
    vec![pods(b), rollouts(b), findings(b), events(b), logs(b)]
}

fn simple(title: &'static str, share: f64, items: Vec<String>, unit: &'static str) -> Section {
    Section {
        title,
        share,
        weights: vec![1; items.len()],
        items,
        describe: match unit {
            "pods" => |s, shown| {
                format!(
                    "pods: {} of {} pod descriptions",
                    s.items.len() - shown,
                    s.items.len()
                )
            },
            "rollouts" => |s, shown| {
                format!(
                    "rollouts: {} of {} workloads",
                    s.items.len() - shown,
                    s.items.len()
                )
            },
            _ => |s, shown| {
                format!(
                    "k8sgpt findings: {} of {}",
                    s.items.len() - shown,
                    s.items.len()
                )
            },
        },
    }
}

fn healthy(p: &PodEvidence) -> bool {
    matches!(p.phase.as_str(), "Running" | "Succeeded")
        && p.reason.is_none()
        && p.containers.iter().all(|c| c.ready && c.restart_count == 0)
}

fn pods(b: &EvidenceBundle) -> Section {
    let (ok, bad): (Vec<&PodEvidence>, Vec<&PodEvidence>) = b.pods.iter().partition(|p| healthy(p));
    let mut items: Vec<String> = bad.iter().map(|p| describe_pod(p)).collect();
    if !ok.is_empty() {
        let names: Vec<String> = ok
            .iter()
            .take(HEALTHY_NAMED)
            .map(|p| format!("[{}]", p.id))
            .collect();
        let more = ok.len().saturating_sub(HEALTHY_NAMED);
        let mut line = format!(
            "{} healthy pods (running, ready, no restarts): {}",
            ok.len(),
            names.join(" ")
        );
        if more > 0 {
            let _ = write!(line, " and {more} more");
        }
        items.push(line);
    }
    simple("Pods", 0.25, items, "pods")
}

fn describe_pod(p: &PodEvidence) -> String {
    let mut s = format!("[{}] phase {}", p.id, p.phase);
    if let Some(n) = &p.node {
        let _ = write!(s, " on {n}");
    }
    if let Some(o) = &p.owner {
        let _ = write!(s, ", owner {}/{}", o.kind, o.name);
    }
    if let Some(r) = &p.reason {
        let _ = write!(s, "; reason {r}");
    }
    if let Some(m) = &p.message {
        let _ = write!(s, ": {m}");
    }
    let bad: Vec<String> = p
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| {
            let mut t = format!("{}={}", c.type_, c.status);
            if let Some(r) = &c.reason {
                let _ = write!(
                    t,
                    " ({r}{})",
                    c.message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
            }
            t
        })
        .collect();
    if !bad.is_empty() {
        let _ = write!(s, "; conditions {}", bad.join(", "));
    }
    for c in &p.containers {
        s.push_str("\n  ");
        describe_container(&mut s, c);
    }
    s
}

fn describe_container(s: &mut String, c: &ContainerEvidence) {
    let _ = write!(s, "container {}", c.name);
    if let Some(i) = &c.image {
        let _ = write!(s, " ({i})");
    }
    match &c.state {
        ContainerState::Waiting { reason, message } => {
            let _ = write!(s, ": waiting {}", reason.as_deref().unwrap_or("?"));
            if let Some(m) = message {
                let _ = write!(s, " ({m})");
            }
        }
        ContainerState::Running { started_at } => {
            let _ = write!(s, ": running since {}", ts(*started_at));
        }
        ContainerState::Terminated(t) => {
            s.push_str(": terminated ");
            termination(s, t);
        }
        ContainerState::Unknown => s.push_str(": state unknown"),
    }
    let _ = write!(s, "; ready={}, restarts {}", c.ready, c.restart_count);
    if let Some(t) = &c.last_termination {
        s.push_str("; last termination ");
        termination(s, t);
    }
    let res = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !c.requests.is_empty() {
        let _ = write!(s, "; requests {}", res(&c.requests));
    }
    if !c.limits.is_empty() {
        let _ = write!(s, "; limits {}", res(&c.limits));
    }
}

fn termination(s: &mut String, t: &Termination) {
    let _ = write!(s, "{}", t.reason.as_deref().unwrap_or("?"));
    if let Some(code) = t.exit_code {
        let _ = write!(s, " exit code {code}");
    }
    if let Some(sig) = t.signal {
        let _ = write!(s, " signal {sig}");
    }
    if t.finished_at.is_some() {
        let _ = write!(s, " at {}", ts(t.finished_at));
    }
    if let Some(m) = &t.message {
        let _ = write!(s, " ({m})");
    }
}

fn rollouts(b: &EvidenceBundle) -> Section {
    let items = b
        .rollouts
        .iter()
        .map(|r| {
            let mut s = format!(
                "[{}] {}/{}: desired {}, updated {}, ready {}, available {}",
                r.id, r.object.kind, r.object.name, r.desired, r.updated, r.ready, r.available
            );
            for c in &r.conditions {
                let _ = write!(s, "; {}={}", c.type_, c.status);
                if let Some(reason) = &c.reason {
                    let _ = write!(
                        s,
                        " ({reason}{})",
                        c.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
            }
            s
        })
        .chain(super::objects::lines(b))
        .collect();
    simple(
        "Rollouts, revisions and related objects",
        0.05,
        items,
        "rollouts",
    )
}

fn findings(b: &EvidenceBundle) -> Section {
    let items = b
        .findings
        .iter()
        .map(|f| {
            let mut s = format!("[{}] {} {}", f.id, f.kind, f.name);
            if let Some(p) = &f.parent_object {
                let _ = write!(s, " (parent {p})");
            }
            if !f.errors.is_empty() {
                let _ = write!(s, ": {}", f.errors.join("; "));
            }
            if let Some(d) = &f.details {
                let _ = write!(s, " Details: {}", d.replace('\n', " "));
            }
            s
        })
        .collect();
    simple("k8sgpt findings", 0.10, items, "findings")
}

/// Event groups merged again by (reason, object): a collector that could not aggregate
/// leaves one group per event.
struct EventAgg<'a> {
    first: &'a EventGroup,
    latest: &'a EventGroup,
    merged: u64,
    count: u64,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

fn events(b: &EvidenceBundle) -> Section {
    let mut by_key: HashMap<(&str, &str, &str), EventAgg> = HashMap::new();
    for e in &b.events {
        let key = (
            e.reason.as_str(),
            e.object.kind.as_str(),
            e.object.name.as_str(),
        );
        let agg = by_key.entry(key).or_insert(EventAgg {
            first: e,
            latest: e,
            merged: 0,
            count: 0,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
        });
        agg.merged += 1;
        agg.count += e.count.max(1);
        agg.first_seen = min_opt(agg.first_seen, e.first_seen);
        if e.last_seen >= agg.last_seen {
            agg.last_seen = e.last_seen;
            agg.latest = e;
        }
    }
    let mut groups: Vec<EventAgg> = by_key.into_values().collect();
    groups.sort_by(|a, b| {
        (
            a.first.type_ != "Warning",
            std::cmp::Reverse(a.count),
            std::cmp::Reverse(a.last_seen),
            &a.first.id,
        )
            .cmp(&(
                b.first.type_ != "Warning",
                std::cmp::Reverse(b.count),
                std::cmp::Reverse(b.last_seen),
                &b.first.id,
            ))
    });
    let weights = groups.iter().map(|g| g.count).collect();
    let items = groups
        .iter()
        .map(|g| {
            let e = g.latest;
            let mut s = format!(
                "[{}] {} {} {}/{}: {}",
                g.first.id, e.type_, e.reason, e.object.kind, e.object.name, e.message
            );
            let _ = write!(
                s,
                " (x{}, first {}, last {})",
                g.count,
                ts(g.first_seen),
                ts(g.last_seen)
            );
            if g.merged > 1 {
                let _ = write!(s, " [{} records merged]", g.merged);
            }
            s
        })
        .collect();
    Section {
        title: "Events (aggregated by reason and object)",
        share: 0.20,
        items,
        weights,
        describe: |s, shown| {
            let left: u64 = s.weights[shown..].iter().sum();
            format!(
                "events: {} of {} (reason, object) groups, {left} occurrences",
                s.items.len() - shown,
                s.items.len()
            )
        },
    }
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Decisive lines (a name that does not resolve, a refused host:port, a missing key)
/// first, then errors, warnings and the rest.
fn severity(l: &LogLine) -> u8 {
    if crate::analyzers::signatures::is_decisive(&l.message) {
        return 0;
    }
    let level = l.level.as_deref().unwrap_or("").to_ascii_lowercase();
    if matches!(
        level.as_str(),
        "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "emerg" | "alert"
    ) {
        return 1;
    }
    let m = l.message.to_ascii_lowercase();
    if level.is_empty()
        && ["error", "exception", "panic", "fatal", "traceback"]
            .iter()
            .any(|w| m.contains(w))
    {
        return 1;
    }
    if matches!(level.as_str(), "warn" | "warning") || (level.is_empty() && m.contains("warn")) {
        return 2;
    }
    3
}

/// The message with digit runs folded, so `took 12ms` and `took 15ms` collapse.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_digits = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

/// The last lines before a termination, `TAIL_LINES` distinct shapes at most, each
/// with how often its shape occurred in that stretch; oldest first.
fn distinct_tail<'a>(before: &[&'a LogLine]) -> Vec<(&'a LogLine, u64)> {
    let mut order: Vec<String> = Vec::new();
    let mut seen: HashMap<String, (&LogLine, u64)> = HashMap::new();
    for l in before.iter().rev() {
        let key = shape(&l.message);
        if let Some(entry) = seen.get_mut(&key) {
            entry.1 += 1;
        } else if order.len() == TAIL_LINES {
            break;
        } else {
            order.push(key.clone());
            seen.insert(key, (l, 1));
        }
    }
    let mut tail: Vec<(&LogLine, u64)> =
        order.iter().filter_map(|k| seen.get(k).copied()).collect();
    tail.reverse();
    tail
}

struct LogAgg<'a> {
    example: &'a LogLine,
    severity: u8,
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

/// The last lines before each container termination, as items; returns the ids of
/// the log lines they stand for.
fn termination_tails<'a>(
    b: &'a EvidenceBundle,
    items: &mut Vec<String>,
    weights: &mut Vec<u64>,
) -> HashSet<&'a str> {
    let mut shown: HashSet<&str> = HashSet::new();
    let mut by_container: HashMap<(&str, &str), Vec<&LogLine>> = HashMap::new();
    for l in &b.logs {
        by_container
            .entry((
                l.pod.as_deref().unwrap_or(""),
                l.container.as_deref().unwrap_or(""),
            ))
            .or_default()
            .push(l);
    }
    for pod in &b.pods {
        for c in &pod.containers {
            let term = match &c.state {
                ContainerState::Terminated(t) => Some(t),
                _ => c.last_termination.as_ref(),
            };
            let Some(term) = term else { continue };
            let mut before: Vec<&LogLine> = by_container
                .get(&(pod.name.as_str(), c.name.as_str()))
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|l| {
                            term.finished_at
                                .is_none_or(|f| l.time.is_none_or(|t| t <= f))
                        })
                        .collect()
                })
                .unwrap_or_default();
            before.sort_by_key(|l| l.time);
            let tail = distinct_tail(&before);
            if tail.is_empty() && c.previous_logs.is_empty() {
                continue;
            }
            let mut head = format!("Last lines before {}/{} terminated (", pod.name, c.name);
            termination(&mut head, term);
            head.push_str("):");
            items.push(head);
            weights.push(0);
            for (l, repeats) in &tail {
                let mut line = format!("[{}] {} {}", l.id, ts(l.time), l.message);
                if *repeats > 1 {
                    let _ = write!(line, " (x{repeats} similar in this stretch)");
                }
                items.push(line);
                weights.push(*repeats);
            }
            for l in &before[before.len()
                - tail
                    .iter()
                    .map(|(_, n)| usize::try_from(*n).unwrap_or(0))
                    .sum::<usize>()..]
            {
                shown.insert(l.id.as_str());
            }
            let prev = &c.previous_logs[c.previous_logs.len().saturating_sub(TAIL_LINES)..];
            for line in prev {
                items.push(format!("[{}] previous log of {}: {line}", pod.id, c.name));
                weights.push(1);
            }
        }
    }

    shown
}

fn logs(b: &EvidenceBundle) -> Section {
    let mut items = Vec::new();
    let mut weights = Vec::new();
    let shown = termination_tails(b, &mut items, &mut weights);
    let mut groups: HashMap<(&str, &str, String), LogAgg> = HashMap::new();
    for l in b.logs.iter().filter(|l| !shown.contains(l.id.as_str())) {
        let key = (
            l.pod.as_deref().unwrap_or(""),
            l.container.as_deref().unwrap_or(""),
            shape(&l.message),
        );
        let g = groups.entry(key).or_insert(LogAgg {
            example: l,
            severity: severity(l),
            count: 0,
            first: l.time,
            last: l.time,
        });
        g.count += 1;
        g.first = min_opt(g.first, l.time);
        if l.time >= g.last {
            g.last = l.time;
            g.example = l;
        }
    }
    let mut groups: Vec<LogAgg> = groups.into_values().collect();
    groups.sort_by(|a, b| {
        (
            a.severity,
            std::cmp::Reverse(a.count),
            std::cmp::Reverse(a.last),
            &a.example.id,
        )
            .cmp(&(
                b.severity,
                std::cmp::Reverse(b.count),
                std::cmp::Reverse(b.last),
                &b.example.id,
            ))
    });
    for g in &groups {
        let l = g.example;
        let mut s = format!("[{}] {}", l.id, ts(l.time));
        if let (Some(p), Some(c)) = (&l.pod, &l.container) {
            let _ = write!(s, " {p}/{c}");
        }
        if let Some(level) = &l.level {
            let _ = write!(s, " {level}");
        }
        let _ = write!(s, ": {}", l.message);
        if g.count > 1 {
            let _ = write!(
                s,
                " (x{} similar, {} to {})",
                g.count,
                ts(g.first),
                ts(g.last)
            );
        }
        items.push(s);
        weights.push(g.count);
    }
    Section {
        title: "Logs (errors and the lines before terminations first; repeats collapsed)",
        share: 0.40,
        items,
        weights,
        describe: |s, shown| {
            let lines: u64 = s.weights[shown..].iter().sum();
            let total: u64 = s.weights.iter().sum();
            format!(
                "logs: {} of {} collapsed entries, {lines} of {total} log lines",
                s.items.len() - shown,
                s.items.len()
            )
        },
    }
}
