//! The index of reports, `rca/README.md`: one table row per report, newest first.
//!
//! The table is the index's only state. Rows are found again by their link target, so
//! a re-run replaces its own row and keeps every other row byte for byte; text around
//! the table is regenerated.

use std::fmt::Write as _;

use super::render::cell;

/// Where the index lives in the repository.
pub const INDEX_PATH: &str = "rca/README.md";

const HEADER: &str = "# RCA reports\n\n\
Root-cause analyses committed by aiops, newest first. Each report commit updates this \
table in the same commit; rows marked preliminary come from the built-in analyzers and \
are replaced when an LLM re-run upgrades them.\n\n\
| Date | Entity | Summary | Preliminary | Report |\n\
|---|---|---|---|---|\n";

/// One report's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// `YYYY-MM-DD` of the run.
    pub date: String,
    /// Entity ref.
    pub entity: String,
    /// The analysis summary (redacted).
    pub summary: String,
    /// Whether the report is preliminary.
    pub preliminary: bool,
    /// The report's path in the repository.
    pub path: String,
}

impl IndexEntry {
    fn row(&self) -> String {
        let target = relative_to_index(&self.path);
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        format!(
            "| {} | {} | {} | {} | [{}]({}) |",
            cell(&self.date),
            cell(&self.entity),
            cell(&truncate(&self.summary, 160)),
            if self.preliminary { "yes" } else { "no" },
            cell(name).replace(['[', ']'], ""),
            target.replace(' ', "%20").replace(['(', ')'], "")
        )
    }
}

/// The index after adding or replacing `entry` in `existing` (the current file, if
/// any). Rows are sorted by date then link, both descending, so the result does not
/// depend on the order reports were committed in.
pub fn merge(existing: Option<&str>, entry: &IndexEntry) -> String {
    let ours = relative_to_index(&entry.path).replace(' ', "%20");
    let mut rows: Vec<(String, String, String)> = existing
        .unwrap_or_default()
        .lines()
        .filter_map(parse_row)
        .filter(|(_, target, _)| *target != ours)
        .collect();
    rows.push((entry.date.clone(), ours, entry.row()));
    rows.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    rows.dedup_by(|a, b| a.1 == b.1);
    let mut out = String::from(HEADER);
    for (_, _, row) in rows {
        let _ = writeln!(out, "{row}");
    }
    out
}

/// `(date, link target, raw row)` of a report row; `None` for any other line.
fn parse_row(line: &str) -> Option<(String, String, String)> {
    let line = line.trim_end();
    if !line.starts_with("| ") || !line.ends_with(") |") {
        return None;
    }
    let date = line[2..].split(" |").next()?.trim().to_owned();
    let is_date = date.len() == 10
        && date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let start = line.rfind("](")? + 2;
    let target = line[start..line.len() - 3].to_owned();
    (is_date && !target.is_empty()).then(|| (date, target, line.to_owned()))
}

/// `path` as a link from the index's folder (`rca/web/x.md` → `web/x.md`).
fn relative_to_index(path: &str) -> String {
    let base: Vec<&str> = INDEX_PATH.split('/').collect();
    let base = &base[..base.len() - 1];
    let target: Vec<&str> = path.split('/').collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; base.len() - common];
    parts.extend(&target[common..]);
    parts.join("/")
}

fn truncate(text: &str, max_chars: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(date: &str, path: &str, summary: &str, preliminary: bool) -> IndexEntry {
        IndexEntry {
            date: date.into(),
            entity: "component:default/web".into(),
            summary: summary.into(),
            preliminary,
            path: path.into(),
        }
    }

    fn rows(index: &str) -> Vec<&str> {
        index.lines().filter(|l| l.ends_with(") |")).collect()
    }

    #[test]
    fn a_first_entry_creates_the_table_with_a_relative_link() {
        let index = merge(
            None,
            &entry("2026-11-26", "rca/web/2026-11-26-r1.md", "s", true),
        );
        assert!(index.starts_with("# RCA reports\n"));
        assert_eq!(
            rows(&index),
            [
                "| 2026-11-26 | component:default/web | s | yes | [2026-11-26-r1.md](web/2026-11-26-r1.md) |"
            ]
        );
    }

    #[test]
    fn rows_are_newest_first_and_a_rerun_replaces_its_own_row_only() {
        let mut index = merge(
            None,
            &entry("2026-11-20", "rca/web/2026-11-20-a.md", "old", false),
        );
        index = merge(
            Some(&index),
            &entry("2026-11-26", "rca/web/2026-11-26-b.md", "new", true),
        );
        index = merge(
            Some(&index),
            &entry("2026-11-22", "rca/api/2026-11-22-c.md", "mid", false),
        );
        let dates: Vec<&str> = rows(&index).iter().map(|r| &r[2..12]).collect();
        assert_eq!(dates, ["2026-11-26", "2026-11-22", "2026-11-20"]);

        let upgraded = merge(
            Some(&index),
            &entry("2026-11-26", "rca/web/2026-11-26-b.md", "llm", false),
        );
        let rows_after = rows(&upgraded);
        assert_eq!(rows_after.len(), 3);
        assert!(rows_after[0].contains("| llm | no |"), "{}", rows_after[0]);
        assert_eq!(rows_after[1..], rows(&index)[1..]);
        // Merging the same entry again is a fixed point: what idempotence relies on.
        assert_eq!(
            merge(
                Some(&upgraded),
                &entry("2026-11-26", "rca/web/2026-11-26-b.md", "llm", false)
            ),
            upgraded
        );
    }

    #[test]
    fn cells_escape_pipes_and_newlines_and_long_summaries_are_cut() {
        let e = entry(
            "2026-11-26",
            "rca/web/x.md",
            &format!("a | b\nc {}", "z".repeat(300)),
            false,
        );
        let index = merge(None, &e);
        let row = rows(&index)[0];
        assert!(row.contains("a \\| b c zz"), "{row}");
        assert!(row.contains('…'));
        assert_eq!(parse_row(row).map(|r| r.1), Some("web/x.md".to_owned()));
    }

    #[test]
    fn links_outside_the_index_folder_climb_up() {
        assert_eq!(relative_to_index("reports/web/x.md"), "../reports/web/x.md");
        assert_eq!(relative_to_index("rca/x.md"), "x.md");
    }

    #[test]
    fn foreign_lines_are_ignored_when_reading_rows() {
        assert_eq!(
            parse_row("| Date | Entity | Summary | Preliminary | Report |"),
            None
        );
        assert_eq!(parse_row("some prose (with parens) |"), None);
    }
}
