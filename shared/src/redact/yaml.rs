//! Kubernetes Secret manifests written as YAML text (`kubectl get secret -o yaml`,
//! Helm output, manifests in logs): every value under `data:` and `stringData:` is
//! replaced, whatever its key, as the JSON rules do for a parsed Secret.
//!
//! A document (between `---` lines) counts as a Secret when it has a `kind: Secret`
//! line; its `data:`/`stringData:` blocks at the same indentation are the ones
//! redacted. Block scalars (`key: |`) lose every line of their content.

use std::sync::LazyLock;

use memchr::memmem;

use super::engine::{marker, starts_with_marker};

const LABEL: &str = "secret";

/// `text` with the data of its Secret manifests replaced, or `None` when it has none.
pub(crate) fn redact_secret_data(text: &str) -> Option<String> {
    static SECRET: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new("Secret"));
    static DATA: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("ata:"));
    if SECRET.find(text.as_bytes()).is_none() || DATA.find(text.as_bytes()).is_none() {
        return None;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut replace: Vec<(usize, usize)> = Vec::new(); // (line, byte offset of the value)
    let mut doc_start = 0;
    for i in 0..=lines.len() {
        let boundary = i == lines.len() || lines[i].trim_end().starts_with("---");
        if boundary {
            collect_document(&lines[doc_start..i], doc_start, &mut replace);
            doc_start = i + 1;
        }
    }
    if replace.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut next = replace.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        match next.peek() {
            Some(&&(l, at)) if l == i => {
                next.next();
                let body = line.trim_end_matches(['\n', '\r']);
                out.push_str(&line[..at]);
                out.push_str(&marker(LABEL));
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    Some(out)
}

/// The indentation of `line`, counting a YAML list dash as indentation.
fn indent_and_body(line: &str) -> (usize, &str) {
    let body = line.trim_start_matches(' ');
    let mut indent = line.len() - body.len();
    let mut body = body;
    while let Some(rest) = body.strip_prefix("- ") {
        let rest_trimmed = rest.trim_start_matches(' ');
        indent += body.len() - rest_trimmed.len();
        body = rest_trimmed;
    }
    (indent, body.trim_end_matches(['\n', '\r']))
}

fn is_kind_secret(body: &str) -> bool {
    body.strip_prefix("kind:").is_some_and(|v| {
        let v = v.trim();
        v == "Secret" || v == "\"Secret\"" || v == "'Secret'"
    })
}

fn collect_document(lines: &[&str], offset: usize, replace: &mut Vec<(usize, usize)>) {
    let Some(kind_indent) = lines.iter().find_map(|l| {
        let (indent, body) = indent_and_body(l);
        is_kind_secret(body).then_some(indent)
    }) else {
        return;
    };
    let mut i = 0;
    while i < lines.len() {
        let (indent, body) = indent_and_body(lines[i]);
        let opens = indent == kind_indent
            && (body.trim_end() == "data:" || body.trim_end() == "stringData:");
        i += 1;
        if !opens {
            continue;
        }
        // The block: following lines indented deeper (blank lines included).
        let mut child_indent = None;
        let mut in_scalar: Option<usize> = None;
        while i < lines.len() {
            let line = lines[i];
            let body = line.trim_start_matches(' ').trim_end_matches(['\n', '\r']);
            let indent = line.len() - line.trim_start_matches(' ').len();
            if body.is_empty() {
                i += 1;
                continue;
            }
            if indent <= kind_indent {
                break;
            }
            if let Some(scalar_indent) = in_scalar {
                if indent > scalar_indent {
                    if !starts_with_marker(body) {
                        replace.push((offset + i, indent));
                    }
                    i += 1;
                    continue;
                }
                in_scalar = None;
            }
            let child = *child_indent.get_or_insert(indent);
            if indent == child
                && let Some(at) = value_offset(body)
            {
                let value = body[at..].trim();
                if value.starts_with('|') || value.starts_with('>') {
                    in_scalar = Some(indent);
                } else if !value.is_empty() && !starts_with_marker(value) {
                    replace.push((offset + i, indent + at));
                }
            }
            i += 1;
        }
    }
}

/// Where the value of `key: value` starts in `body` (after `": "`), skipping a quoted key.
fn value_offset(body: &str) -> Option<usize> {
    let key_end = match body.as_bytes().first() {
        Some(q @ (b'"' | b'\'')) => 1 + body[1..].find(char::from(*q))? + 1,
        _ => 0,
    };
    let colon = key_end + body[key_end..].find(':')?;
    let after = &body[colon + 1..];
    if after.is_empty() {
        return None;
    }
    if !after.starts_with([' ', '\t']) {
        return None;
    }
    Some(colon + 1 + (after.len() - after.trim_start().len()))
}
