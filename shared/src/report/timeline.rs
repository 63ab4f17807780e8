//! The incident timeline, derived from the bundle alone (events expire, the bundle
//! does not): event groups first and last seen, container terminations, rollout and
//! pod condition transitions, and the decisive log lines (those the analysis cites, or
//! error lines when it cites none).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::analysis::Analysis;
use crate::evidence::{ContainerState, EvidenceBundle, LogLine, Termination};

/// Entries beyond this are counted, not drawn: a diagram of hundreds of points helps
/// nobody.
pub const MAX_ENTRIES: usize = 40;

/// One point on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When.
    pub time: DateTime<Utc>,
    /// The evidence id it comes from.
    pub evidence_id: String,
    /// What happened, one line.
    pub text: String,
}

/// The timeline, oldest first, at most [`MAX_ENTRIES`], and how many were left out.
pub fn derive(bundle: &EvidenceBundle, analysis: &Analysis) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut push = |time: Option<DateTime<Utc>>, id: &str, text: String| {
        if let Some(time) = time {
            entries.push(Entry {
                time,
                evidence_id: id.to_owned(),
                text: one_line(&text),
            });
        }
    };
    for e in &bundle.events {
        let what = format!(
            "{} {} on {}/{}",
            e.type_, e.reason, e.object.kind, e.object.name
        );
        if e.first_seen == e.last_seen || e.last_seen.is_none() {
            push(e.first_seen, &e.id, format!("{what}: {}", e.message));
        } else {
            push(e.first_seen, &e.id, format!("{what} first seen"));
            push(
                e.last_seen,
                &e.id,
                format!("{what} last seen (×{}): {}", e.count, e.message),
            );
        }
    }
    for pod in &bundle.pods {
        for c in &pod.containers {
            if let Some(t) = &c.last_termination {
                push(
                    t.finished_at.or(t.started_at),
                    &pod.id,
                    termination(&pod.name, &c.name, t),
                );
            }
            if let ContainerState::Terminated(t) = &c.state {
                push(
                    t.finished_at.or(t.started_at),
                    &pod.id,
                    termination(&pod.name, &c.name, t),
                );
            }
        }
        for cond in pod.conditions.iter().filter(|c| c.status != "True") {
            push(
                cond.last_transition,
                &pod.id,
                condition(&format!("Pod/{}", pod.name), cond),
            );
        }
    }
    for r in &bundle.rollouts {
        for cond in &r.conditions {
            let object = format!("{}/{}", r.object.kind, r.object.name);
            push(cond.last_transition, &r.id, condition(&object, cond));
        }
    }
    for r in &bundle.objects.revisions {
        let changed: Vec<&str> = r.changes.iter().map(|c| c.field.as_str()).collect();
        let what = if changed.is_empty() {
            String::new()
        } else {
            format!(", changing {}", changed.join(", "))
        };
        push(
            r.created,
            &r.id,
            format!(
                "revision {} of {}/{} created ({}){what}",
                r.revision, r.workload.kind, r.workload.name, r.object.name
            ),
        );
    }
    for line in decisive_logs(bundle, analysis) {
        let source = line.pod.as_deref().unwrap_or("log");
        push(line.time, &line.id, format!("{source}: {}", line.message));
    }
    entries
        .sort_by(|a, b| (a.time, &a.evidence_id, &a.text).cmp(&(b.time, &b.evidence_id, &b.text)));
    entries.dedup();
    let left_out = entries.len().saturating_sub(MAX_ENTRIES);
    entries.truncate(MAX_ENTRIES);
    (entries, left_out)
}

/// The log lines worth showing: those the analysis cites, else error-level lines (at
/// most five).
pub fn decisive_logs<'a>(bundle: &'a EvidenceBundle, analysis: &Analysis) -> Vec<&'a LogLine> {
    let cited: BTreeSet<&str> = analysis.evidence_ids.iter().map(String::as_str).collect();
    let cited_lines: Vec<&LogLine> = bundle
        .logs
        .iter()
        .filter(|l| cited.contains(l.id.as_str()))
        .collect();
    if !cited_lines.is_empty() {
        return cited_lines;
    }
    bundle
        .logs
        .iter()
        .filter(|l| {
            l.level.as_deref().is_some_and(|lvl| {
                matches!(
                    lvl.to_ascii_lowercase().as_str(),
                    "error" | "fatal" | "critical" | "panic"
                )
            })
        })
        .take(5)
        .collect()
}

fn termination(pod: &str, container: &str, t: &Termination) -> String {
    let mut text = format!(
        "container {container} in Pod/{pod} terminated: {}",
        t.reason.as_deref().unwrap_or("unknown reason")
    );
    if let Some(code) = t.exit_code {
        let _ = write!(text, ", exit code {code}");
    }
    if let Some(signal) = t.signal {
        let _ = write!(text, ", signal {signal}");
    }
    text
}

fn condition(object: &str, c: &crate::evidence::Condition) -> String {
    let mut text = format!("{object} {}={}", c.type_, c.status);
    if let Some(reason) = &c.reason {
        let _ = write!(text, " ({reason})");
    }
    if let Some(message) = &c.message {
        let _ = write!(text, ": {message}");
    }
    text
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text made safe inside a mermaid statement. Mermaid decodes `#<name or code>;`
/// entities in every diagram type; `:` separates a timeline's period from its events,
/// `;` ends statements, `%%` starts comments, `#` would start an entity, and quotes,
/// angle brackets and braces are syntax elsewhere. Newlines would end the statement.
pub fn escape_mermaid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ':' => out.push_str("#58;"),
            ';' => out.push_str("#59;"),
            '%' => out.push_str("#37;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '`' => out.push_str("#96;"),
            '\\' => out.push_str("#92;"),
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The mermaid `timeline` diagram: one section per day, one period per distinct time
/// (several events at the same second share it).
pub fn mermaid(entries: &[Entry], redact: &dyn Fn(&str) -> String) -> String {
    let mut out = String::from("timeline\n    title Incident timeline (UTC)\n");
    let mut day = String::new();
    let mut i = 0;
    while i < entries.len() {
        let time = entries[i].time;
        let this_day = time.format("%Y-%m-%d").to_string();
        if this_day != day {
            let _ = writeln!(out, "    section {this_day}");
            day = this_day;
        }
        out.push_str("        ");
        out.push_str(&escape_mermaid(&time.format("%H:%M:%S").to_string()));
        while i < entries.len() && entries[i].time == time {
            let e = &entries[i];
            out.push_str(" : ");
            out.push_str(&escape_mermaid(&shorten(
                &redact(&format!("{} ({})", e.text, e.evidence_id)),
                120,
            )));
            i += 1;
        }
        out.push('\n');
    }
    out
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max_chars - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_specials_become_entities_and_lines_stay_single() {
        assert_eq!(
            escape_mermaid("a: b; #1 50% \"q\" <x> {y}\nz"),
            "a#58; b#59; #35;1 50#37; #quot;q#quot; #lt;x#gt; #123;y#125; z"
        );
    }

    #[test]
    fn events_at_the_same_second_share_one_period_and_days_get_sections() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let entries = vec![
            Entry {
                time: t("2026-11-25T23:59:59Z"),
                evidence_id: "event/1".into(),
                text: "late: x".into(),
            },
            Entry {
                time: t("2026-11-26T00:00:01Z"),
                evidence_id: "event/2".into(),
                text: "a".into(),
            },
            Entry {
                time: t("2026-11-26T00:00:01Z"),
                evidence_id: "log/3".into(),
                text: "b".into(),
            },
        ];
        let text = mermaid(&entries, &|s| s.to_owned());
        assert_eq!(
            text,
            "timeline\n    title Incident timeline (UTC)\n    section 2026-11-25\n        \
             23#58;59#58;59 : late#58; x (event/1)\n    section 2026-11-26\n        \
             00#58;00#58;01 : a (event/2) : b (log/3)\n"
        );
    }
}
