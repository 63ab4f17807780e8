//! Checks on rendered markdown: a real CommonMark parser for the structure, and a small
//! line checker for the mermaid `timeline` diagrams GitHub renders.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The text of every heading of `level`, in order, as the parser sees them.
pub fn headings(markdown: &str, level: HeadingLevel) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::all()) {
        match event {
            Event::Start(Tag::Heading { level: l, .. }) if l == level => {
                current = Some(String::new());
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = current.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(l)) if l == level => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

/// The contents of every fenced code block tagged `lang`.
pub fn code_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::all()) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(l))) if &*l == lang => {
                current = Some(String::new());
            }
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

/// Number of table rows (header included) the parser finds.
pub fn table_rows(markdown: &str) -> usize {
    Parser::new_ext(markdown, Options::all())
        .filter(|e| matches!(e, Event::Start(Tag::TableRow | Tag::TableHead)))
        .count()
}

/// Checks a mermaid `timeline` diagram line by line: the first line names the diagram
/// type; then `title …`, `section …`, or `<period> : <event> [: <event>…]` with no
/// raw character that mermaid would read as syntax (`#` outside an entity, `;`, `%%`,
/// quotes, angle brackets, braces).
pub fn check_mermaid_timeline(diagram: &str) -> Result<(), String> {
    let mut lines = diagram.lines().filter(|l| !l.trim().is_empty());
    match lines.next().map(str::trim) {
        Some("timeline") => {}
        other => {
            return Err(format!(
                "the diagram type must be `timeline`, found {other:?}"
            ));
        }
    }
    for (n, raw) in lines.enumerate() {
        let line = raw.trim();
        let plain = strip_entities(line).map_err(|e| format!("line {}: {e}: {raw:?}", n + 2))?;
        if let Some(c) = plain.chars().find(|c| "#;\"<>{}`".contains(*c)) {
            return Err(format!("line {}: unescaped {c:?}: {raw:?}", n + 2));
        }
        if plain.contains("%%") {
            return Err(format!(
                "line {}: a comment marker inside a statement: {raw:?}",
                n + 2
            ));
        }
        if let Some(rest) = line
            .strip_prefix("title ")
            .or_else(|| line.strip_prefix("section "))
        {
            if rest.trim().is_empty() {
                return Err(format!("line {}: empty title or section", n + 2));
            }
            continue;
        }
        let parts: Vec<&str> = plain.split(" : ").collect();
        if parts.len() < 2
            || parts.iter().any(|p| p.trim().is_empty())
            || parts.iter().any(|p| p.contains(':'))
        {
            return Err(format!(
                "line {}: expected `<period> : <event>`: {raw:?}",
                n + 2
            ));
        }
    }
    Ok(())
}

/// Replaces `#name;` / `#123;` entities with a placeholder letter; a `#` that starts
/// no entity is an error.
fn strip_entities(line: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('#') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').ok_or("a # that starts no entity")?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("malformed entity #{name};"));
        }
        out.push('x');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_accepts_escaped_lines_and_refuses_raw_syntax() {
        let good =
            "timeline\n    title T\n    section 2026-11-26\n        05#58;03 : a#58; b : c\n";
        assert_eq!(check_mermaid_timeline(good), Ok(()));
        for bad in [
            "graph TD\n",
            "timeline\n  05:03 : a\n",
            "timeline\n  0503 : a; b\n",
            "timeline\n  0503 : #nope\n",
            "timeline\n  0503\n",
            "timeline\n  0503 :  : x\n",
            "timeline\n  0503 : 50%% done\n",
        ] {
            assert!(check_mermaid_timeline(bad).is_err(), "{bad:?}");
        }
    }
}
