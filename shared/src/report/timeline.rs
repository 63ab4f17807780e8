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
    /// A short label for the summary diagram (the object named once, cited items
    /// marked).
    pub label: String,
    /// Whether the entry tells the story (the change, failures, decisive lines, state
    /// changes, anything cited) and belongs in the summary diagram.
    pub story: bool,
}

/// Periods the summary diagram draws at most. Mermaid's timeline gives each period a
/// 200 px column after a 150 px margin; GitHub scales a wider diagram down to its 980 px
/// column. Rendered with mermaid 11 in Chromium (`scripts/check-mermaid`), six periods
/// are 1,590 px wide and their 16 px text is shown at 9.9 px; four are 1,190 px, shown at
/// 13.2 px.
pub const DIAGRAM_PERIODS: usize = 4;
/// Events the summary diagram draws at most.
pub const DIAGRAM_ENTRIES: usize = 12;
/// Characters of one diagram label.
const LABEL_CHARS: usize = 40;
/// Characters of one unbroken word in a label. Mermaid wraps a timeline label at spaces
/// only, inside a 190 px box; a longer word (a path, a URL, a pod name) runs out of the
/// box, where its white text on the white page is lost.
const WORD_CHARS: usize = 16;

/// An object named briefly: a pod by its own suffix, long names by their tail.
fn short(kind: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    if kind == "pod"
        && let Some((_, tail)) = name.rsplit_once('-')
        && name.matches('-').count() >= 2
    {
        return format!("pod …{tail}");
    }
    if name.chars().count() > 24 {
        let tail: String = name
            .chars()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return format!("{kind} …{tail}");
    }
    format!("{kind} {name}")
}

/// The timeline, oldest first, at most [`MAX_ENTRIES`], and how many were left out.
pub fn derive(bundle: &EvidenceBundle, analysis: &Analysis) -> (Vec<Entry>, usize) {
    let cited: BTreeSet<&str> = analysis.evidence_ids.iter().map(String::as_str).collect();
    let mut entries = Vec::new();
    let mut push =
        |time: Option<DateTime<Utc>>, id: &str, text: String, label: String, story: bool| {
            if let Some(time) = time {
                let is_cited = cited.contains(id);
                entries.push(Entry {
                    time,
                    evidence_id: id.to_owned(),
                    text: one_line(&text),
                    label: if is_cited {
                        format!("★ {}", one_line(&label))
                    } else {
                        one_line(&label)
                    },
                    story: story || is_cited,
                });
            }
        };
    events(bundle, &mut push);
    pods(bundle, &mut push);
    for r in &bundle.rollouts {
        for cond in &r.conditions {
            let object = format!("{}/{}", r.object.kind, r.object.name);
            let failing = cond.status != "True";
            push(
                cond.last_transition,
                &r.id,
                condition(&object, cond),
                format!(
                    "{} {}={}",
                    short(&r.object.kind, &r.object.name),
                    cond.type_,
                    cond.status
                ),
                failing,
            );
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
            format!(
                "rev {} of {}{}",
                r.revision,
                r.workload.name,
                changed
                    .first()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
            !changed.is_empty(),
        );
    }
    for line in decisive_logs(bundle, analysis) {
        let source = line.pod.as_deref().unwrap_or("log");
        push(
            line.time,
            &line.id,
            format!("{source}: {}", line.message),
            format!("log: {}", line.message),
            true,
        );
    }
    entries
        .sort_by(|a, b| (a.time, &a.evidence_id, &a.text).cmp(&(b.time, &b.evidence_id, &b.text)));
    entries.dedup();
    let left_out = entries.len().saturating_sub(MAX_ENTRIES);
    entries.truncate(MAX_ENTRIES);
    (entries, left_out)
}

/// Where derived entries go: time, evidence id, full text, short label, story.
type Push<'a> = dyn FnMut(Option<DateTime<Utc>>, &str, String, String, bool) + 'a;

fn events(bundle: &EvidenceBundle, push: &mut Push<'_>) {
    for e in &bundle.events {
        let what = format!(
            "{} {} on {}/{}",
            e.type_, e.reason, e.object.kind, e.object.name
        );
        let label = format!("{} {}", e.reason, short(&e.object.kind, &e.object.name));
        let warning = e.type_ == "Warning";
        if e.first_seen == e.last_seen || e.last_seen.is_none() {
            push(
                e.first_seen,
                &e.id,
                format!("{what}: {}", e.message),
                label,
                warning,
            );
        } else {
            push(
                e.first_seen,
                &e.id,
                format!("{what} first seen"),
                label.clone(),
                warning,
            );
            push(
                e.last_seen,
                &e.id,
                format!("{what} last seen (×{}): {}", e.count, e.message),
                format!("{label} ×{}", e.count),
                false,
            );
        }
    }
}

fn pods(bundle: &EvidenceBundle, push: &mut Push<'_>) {
    for pod in &bundle.pods {
        for c in &pod.containers {
            let ended = |t: &Termination| {
                format!(
                    "{} exit {} {}",
                    short("Pod", &pod.name),
                    t.exit_code.map_or("?".into(), |c| c.to_string()),
                    t.reason.as_deref().unwrap_or("")
                )
            };
            if let Some(t) = &c.last_termination {
                push(
                    t.finished_at.or(t.started_at),
                    &pod.id,
                    termination(&pod.name, &c.name, t),
                    ended(t),
                    true,
                );
            }
            if let ContainerState::Terminated(t) = &c.state {
                push(
                    t.finished_at.or(t.started_at),
                    &pod.id,
                    termination(&pod.name, &c.name, t),
                    ended(t),
                    true,
                );
            }
        }
        for cond in pod.conditions.iter().filter(|c| c.status != "True") {
            push(
                cond.last_transition,
                &pod.id,
                condition(&format!("Pod/{}", pod.name), cond),
                format!("{} {}={}", short("Pod", &pod.name), cond.type_, cond.status),
                false,
            );
        }
    }
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

/// The summary diagram, a mermaid `timeline`: only the entries that tell the story, in
/// at most [`DIAGRAM_PERIODS`] periods (neighbouring times merge) so that it stays
/// readable in GitHub's column, each label short; the table below keeps every detail.
pub fn mermaid(entries: &[Entry], redact: &dyn Fn(&str) -> String) -> String {
    let mut story: Vec<&Entry> = Vec::new();
    for e in entries.iter().filter(|e| e.story) {
        if !story.iter().any(|s| s.label == e.label) {
            story.push(e);
        }
    }
    if story.len() > DIAGRAM_ENTRIES {
        // Keep the cited ones and the earliest of the rest, in time order.
        let mut keep: Vec<&Entry> = story
            .iter()
            .copied()
            .filter(|e| e.label.starts_with('★'))
            .collect();
        for e in &story {
            if keep.len() >= DIAGRAM_ENTRIES {
                break;
            }
            if !keep.iter().any(|k| std::ptr::eq(*k, *e)) {
                keep.push(e);
            }
        }
        keep.truncate(DIAGRAM_ENTRIES);
        keep.sort_by_key(|e| e.time);
        story = keep;
    }
    // Periods by minute, then merged down to the most the column holds.
    let mut periods: Vec<(DateTime<Utc>, Vec<&Entry>)> = Vec::new();
    for e in story {
        let minute = e.time.format("%Y-%m-%d %H:%M").to_string();
        match periods.last_mut() {
            Some((t, items)) if t.format("%Y-%m-%d %H:%M").to_string() == minute => items.push(e),
            _ => periods.push((e.time, vec![e])),
        }
    }
    while periods.len() > DIAGRAM_PERIODS {
        // Merge the two neighbours closest in time.
        let closest = (0..periods.len() - 1)
            .min_by_key(|&i| periods[i + 1].0 - periods[i].0)
            .unwrap_or(0);
        let (_, next) = periods.remove(closest + 1);
        periods[closest].1.extend(next);
    }
    let mut out = String::from("timeline\n    title Incident summary (UTC), ★ cited\n");
    let mut day = String::new();
    for (time, items) in &periods {
        let this_day = time.format("%Y-%m-%d").to_string();
        if this_day != day {
            let _ = writeln!(out, "    section {this_day}");
            day = this_day;
        }
        out.push_str("        ");
        // A merged period names its span, so no entry sits under a time it did not have.
        let start = time.format("%H:%M").to_string();
        let end = items
            .last()
            .map(|e| e.time.format("%H:%M").to_string())
            .filter(|end| {
                *end != start
                    && items
                        .iter()
                        .all(|e| e.time.date_naive() == time.date_naive())
            });
        let period = end.map_or_else(|| start.clone(), |end| format!("{start}–{end}"));
        out.push_str(&escape_mermaid(&period));
        for e in items {
            out.push_str(" : ");
            let label = shorten(&redact(&e.label), LABEL_CHARS);
            out.push_str(&escape_mermaid(&breakable(&label, WORD_CHARS)));
        }
        out.push('\n');
    }
    out
}

/// `text` with every word longer than `max_chars` broken by spaces, after a separator
/// (`/ . - _ = : , ? &`) where one falls in the piece, else at `max_chars`.
fn breakable(text: &str, max_chars: usize) -> String {
    let mut words = Vec::new();
    for word in text.split(' ') {
        let mut rest: Vec<char> = word.chars().collect();
        while rest.len() > max_chars {
            let cut = rest[..max_chars]
                .iter()
                .rposition(|c| "/.-_=:,?&".contains(*c))
                .filter(|&i| i > 0)
                .map_or(max_chars, |i| i + 1);
            words.push(rest.drain(..cut).collect::<String>());
        }
        words.push(rest.into_iter().collect());
    }
    words.join(" ")
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

    fn entry(time: &str, id: &str, label: &str, story: bool) -> Entry {
        Entry {
            time: DateTime::parse_from_rfc3339(time)
                .unwrap()
                .with_timezone(&Utc),
            evidence_id: id.into(),
            text: format!("{label} in full"),
            label: label.into(),
            story,
        }
    }

    #[test]
    fn the_summary_keeps_the_story_in_a_few_periods_with_days_as_sections() {
        let entries = vec![
            entry("2026-11-25T23:59:59Z", "event/1", "late: x", true),
            entry("2026-11-26T00:00:01Z", "event/2", "a", true),
            entry("2026-11-26T00:00:40Z", "log/3", "★ b", true),
            entry(
                "2026-11-26T00:01:00Z",
                "event/4",
                "Pulled pod …q7w4z",
                false,
            ),
        ];
        let text = mermaid(&entries, &|s| s.to_owned());
        assert_eq!(
            text,
            "timeline\n    title Incident summary (UTC), ★ cited\n    section 2026-11-25\n        \
             23#58;59 : late#58; x\n    section 2026-11-26\n        00#58;00 : a : ★ b\n"
        );
    }

    #[test]
    fn long_words_in_labels_break_after_separators_or_at_the_word_limit() {
        assert_eq!(
            breakable("log: open /var/cache/media/index.db: denied", 16),
            "log: open /var/cache/ media/index.db: denied"
        );
        assert_eq!(
            breakable("pod abcdefghijklmnopqrstuvwxyz", 16),
            "pod abcdefghijklmnop qrstuvwxyz"
        );
        let entries = vec![entry(
            "2026-11-26T00:00:01Z",
            "log/1",
            "★ log: Get \"https://auth.internal/.well-known/jwks.json\"",
            true,
        )];
        let text = mermaid(&entries, &|s| s.to_owned());
        let label = text.lines().last().unwrap_or_default();
        // Entities count as one character each once mermaid decodes them.
        let decoded = label.replace("#58;", ":").replace("#quot;", "\"");
        assert!(
            decoded.split(' ').all(|w| w.chars().count() <= WORD_CHARS),
            "{label}"
        );
    }

    #[test]
    fn many_entries_merge_into_at_most_four_periods_and_twelve_labels() {
        let entries: Vec<Entry> = (0..40)
            .map(|i| {
                entry(
                    &format!("2026-11-26T0{}:{:02}:00Z", i / 10, (i % 10) * 5),
                    &format!("event/{i}"),
                    &if i == 33 {
                        format!("★ cited {i}")
                    } else {
                        format!("entry {i}")
                    },
                    true,
                )
            })
            .collect();
        let text = mermaid(&entries, &|s| s.to_owned());
        let periods = text.lines().filter(|l| l.starts_with("        ")).count();
        assert!(periods <= DIAGRAM_PERIODS, "{text}");
        assert_eq!(text.matches(" : ").count(), DIAGRAM_ENTRIES, "{text}");
        // A merged period names its span; a period of one time stays plain.
        assert!(
            text.contains("        00#58;00–00#58;35 : entry 0 : entry 1"),
            "{text}"
        );
        assert!(text.contains("        01#58;00 : entry 10\n"), "{text}");
        assert!(
            text.contains("★ cited 33"),
            "the cited entry is kept: {text}"
        );
    }
}
