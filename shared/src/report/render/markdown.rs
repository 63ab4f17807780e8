//! Markdown escaping: table cells, free text that cannot open blocks, code spans and
//! fences that outgrow the backticks inside them.

/// A markdown table cell: pipes escaped, newlines folded, HTML neutralised.
pub(crate) fn cell(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let escaped = folded
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;");
    if escaped.is_empty() {
        "–".to_owned()
    } else {
        escaped
    }
}

/// Free text as paragraphs that cannot open headings, fences, front matter or HTML.
pub(super) fn block_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('<', "&lt;");
            let trimmed = line.trim_start();
            let starts_block = trimmed.starts_with('#')
                || trimmed.starts_with("```")
                || trimmed.starts_with("~~~")
                || trimmed.starts_with("---")
                || trimmed.starts_with("===");
            if starts_block {
                format!("\\{trimmed}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

/// A code span outside tables (remediation steps, links). Markdown reads neither
/// backslash escapes nor entities inside a code span, so the text goes in as it is, only
/// folded onto one line: `\|` or `&lt;` would show literally on GitHub.
pub(super) fn inline_code(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let ticks = "`".repeat(longest_run(&folded, '`') + 1);
    format!("{ticks} {folded} {ticks}")
}

/// A remediation step: the `kubectl …` command it ends with set as code, so that it can
/// be copied as it is (steps that already mark their code are left as written).
pub(super) fn step(text: &str) -> String {
    let Some(at) = text.find("kubectl ").filter(|_| !text.contains('`')) else {
        return cell(text);
    };
    let (before, command) = text.split_at(at);
    let command = command.trim_end();
    let (command, end) = match command.strip_suffix('.') {
        Some(c) => (c, "."),
        None => (command, ""),
    };
    let lead = if before.trim().is_empty() {
        String::new()
    } else {
        cell(before.trim_end()) + " "
    };
    format!("{lead}{}{end}", inline_code(command))
}

pub(super) fn fenced(text: &str) -> String {
    let ticks = "`".repeat((longest_run(text, '`') + 1).max(3));
    format!("{ticks}text\n{}\n{ticks}", text.trim_end())
}

pub(super) fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= max_chars {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max_chars - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_escape_pipes_newlines_and_html() {
        assert_eq!(cell("a | b\nc  <x>"), "a \\| b c &lt;x>");
        assert_eq!(cell(""), "–");
    }

    #[test]
    fn block_text_cannot_open_headings_or_fences() {
        assert_eq!(
            block_text("ok\n## Fake\n```sh\n<b>"),
            "ok\n\\## Fake\n\\```sh\n&lt;b>"
        );
    }

    #[test]
    fn fences_and_code_spans_outgrow_backticks_inside() {
        assert_eq!(fenced("a ```` b"), "`````text\na ```` b\n`````");
        assert_eq!(inline_code("x `y` z"), "`` x `y` z ``");
    }

    #[test]
    fn a_steps_trailing_kubectl_command_becomes_code() {
        assert_eq!(
            step("Read the log: kubectl logs -n web-dev web-1 --previous."),
            "Read the log: ` kubectl logs -n web-dev web-1 --previous `."
        );
        assert_eq!(step("kubectl get pods"), "` kubectl get pods `");
        assert_eq!(
            step("Roll back: `kubectl rollout undo deployment/web`"),
            "Roll back: `kubectl rollout undo deployment/web`"
        );
        assert_eq!(step("Raise the limit | now"), "Raise the limit \\| now");
        // Inside code nothing is escaped: GitHub would show `\|` and `&lt;` as typed.
        assert_eq!(
            step("Check the name: kubectl get svc -A | grep <name>"),
            "Check the name: ` kubectl get svc -A | grep <name> `"
        );
    }
}
