//! JSON text redacted where it stands: the text is parsed into a tree of spans, the
//! same rules as [`super::json`] decide what to replace, and only the replaced strings
//! are rewritten. Everything else (key order, spacing, escapes, number spelling) stays
//! byte for byte, and no `serde_json::Value` is built, which is what makes a changed
//! log line cheap.
//!
//! The parser accepts standard JSON (RFC 8259) and nests at most [`MAX_DEPTH`] deep;
//! anything else is not JSON here and is redacted as text by the caller.

use std::borrow::Cow;
use std::collections::HashMap;

use super::engine::{Engine, MARKER_PREFIX, marker, starts_with_marker};
use super::json::is_descriptive;
use super::literals::Hit;

/// Deeper than `serde_json`'s own limit (128), so every line it parses parses here.
const MAX_DEPTH: usize = 256;

#[derive(Debug)]
enum Node<'a> {
    /// `span` includes the quotes.
    Str {
        span: (usize, usize),
        value: Cow<'a, str>,
    },
    Num {
        span: (usize, usize),
    },
    Literal,
    Arr(Vec<Node<'a>>),
    Obj(Vec<Member<'a>>),
}

#[derive(Debug)]
struct Member<'a> {
    key_span: (usize, usize),
    key: Cow<'a, str>,
    value: Node<'a>,
}

/// Whether `text` is one JSON value (surrounded by whitespace only), as [`redact`]
/// reads it.
pub(crate) fn is_json(text: &str) -> bool {
    parse_whole(text).is_some()
}

/// `text` parsed as one JSON value surrounded by whitespace only.
fn parse_whole(text: &str) -> Option<Node<'_>> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    parser.ws();
    let root = parser.value()?;
    parser.ws();
    (parser.pos == text.len()).then_some(root)
}

/// Where the prefilter found its literals in a text: its hits, as spans of a larger
/// text of which this one begins at `offset`.
///
/// A JSON string whose raw text holds no hit needs no rule: no literal appears in it,
/// and decoding its escapes cannot make one appear (a `\u` or `\/` escape is itself a
/// hit; [`Engine::for_each_hit`] gives no hits when a literal could be spelt otherwise).
/// A string without escapes is redacted with the hits inside it, without searching
/// it again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hits<'h> {
    hits: &'h [Hit],
    offset: usize,
}

impl<'h> Hits<'h> {
    pub(crate) fn new(hits: &'h [Hit], offset: usize) -> Self {
        Self { hits, offset }
    }

    /// The hits that start inside `span` of this text.
    fn inside(&self, (start, end): (usize, usize)) -> &'h [Hit] {
        let from = self.hits.partition_point(|h| h.start < self.offset + start);
        let to = self.hits.partition_point(|h| h.start < self.offset + end);
        &self.hits[from..to.max(from)]
    }

    /// Whether a hit starts inside `span` of this text.
    pub(crate) fn within(&self, span: (usize, usize)) -> bool {
        !self.inside(span).is_empty()
    }
}

/// `text` redacted: `None` when it is not one JSON value (surrounded by whitespace
/// only), borrowed when nothing needed a change.
pub(crate) fn redact<'a>(engine: &Engine, text: &'a str) -> Option<Cow<'a, str>> {
    redact_with_hits(engine, text, None, None)
}

/// At most this many keys are remembered by a [`KeyMemo`] before it starts over.
const MAX_MEMO_KEYS: usize = 1024;
/// Longer keys are not remembered.
const MAX_MEMO_KEY_LEN: usize = 64;

/// What the walk made of the object keys it met, by key: the keys of a log repeat on
/// every line, and redacting a key and looking up its label cost more than the rest
/// of a line. Only keys with a prefilter hit are looked at (and kept); both answers
/// depend on the key alone.
#[derive(Debug, Default)]
pub(crate) struct KeyMemo<'e> {
    keys: HashMap<Box<str>, KeyVerdict<'e>>,
}

#[derive(Debug)]
struct KeyVerdict<'e> {
    /// The key redacted, when that changes it.
    redacted: Option<Box<str>>,
    /// The label of values under the (redacted) key.
    label: Option<&'e str>,
}

impl<'e> KeyMemo<'e> {
    /// The redacted key and its label, remembered or worked out.
    fn verdict<'k>(&mut self, engine: &'e Engine, key: &'k str) -> (Cow<'k, str>, Option<&'e str>) {
        if key.len() > MAX_MEMO_KEY_LEN {
            return key_verdict(engine, key);
        }
        if let Some(known) = self.keys.get(key) {
            let redacted = known
                .redacted
                .as_ref()
                .map_or(Cow::Borrowed(key), |r| Cow::Owned(r.to_string()));
            return (redacted, known.label);
        }
        let (redacted, label) = key_verdict(engine, key);
        if self.keys.len() >= MAX_MEMO_KEYS {
            self.keys.clear();
        }
        let kept = match &redacted {
            Cow::Owned(r) => Some(r.as_str().into()),
            Cow::Borrowed(_) => None,
        };
        self.keys.insert(
            key.into(),
            KeyVerdict {
                redacted: kept,
                label,
            },
        );
        (redacted, label)
    }
}

/// `key` redacted, and the label of the values under the redacted key.
fn key_verdict<'k, 'e>(engine: &'e Engine, key: &'k str) -> (Cow<'k, str>, Option<&'e str>) {
    let redacted = engine.redact(key);
    let label = engine.keys().label(&redacted);
    (redacted, label)
}

/// [`redact`], given where the prefilter's hits in `text` are (strings without one
/// are not looked at) and what earlier lines made of their keys.
pub(crate) fn redact_with_hits<'a, 'e>(
    engine: &'e Engine,
    text: &'a str,
    hits: Option<Hits<'_>>,
    memo: Option<&mut KeyMemo<'e>>,
) -> Option<Cow<'a, str>> {
    let root = parse_whole(text)?;
    let mut edits = Vec::new();
    let mut walker = Walker { engine, hits, memo };
    walker.walk(&root, None, &mut edits);
    if edits.is_empty() {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len() + 16 * edits.len());
    let mut copied = 0;
    for ((start, end), replacement) in edits {
        out.push_str(&text[copied..start]);
        out.push_str(&replacement);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Some(Cow::Owned(out))
}

/// Text that is not JSON but becomes JSON once redacted as text, redacted as the JSON
/// it became; `None` for any other text.
///
/// A line that is almost JSON (a raw control character or a bad escape inside a
/// string) is redacted as text; when a value rule removes the offending bytes, the
/// output is JSON whose keys may now name a secret (`"…session_id=[REDACTED:session]"`),
/// and a second pass would redact the values under them. Applying the JSON rules to
/// the result at once makes the first pass catch them, so redaction stays idempotent.
pub(crate) fn redacted_into_json(engine: &Engine, text: &str) -> Option<String> {
    let Cow::Owned(as_text) = engine.redact(text) else {
        return None;
    };
    redact(engine, &as_text).map(Cow::into_owned)
}

type Edits = Vec<((usize, usize), String)>;

fn json_string(s: &str) -> String {
    // Serialising a str cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{MARKER_PREFIX}unprintable]\""))
}

fn replace_leaf(node: &Node<'_>, label: &str, edits: &mut Edits) {
    match node {
        Node::Str { value, .. } if starts_with_marker(value) => {}
        Node::Str { span, .. } | Node::Num { span } => {
            edits.push((*span, json_string(&marker(label))));
        }
        _ => {}
    }
}

struct Walker<'e, 'h, 'm> {
    engine: &'e Engine,
    hits: Option<Hits<'h>>,
    memo: Option<&'m mut KeyMemo<'e>>,
}

impl<'e> Walker<'e, '_, '_> {
    /// Whether the text rules may find anything in the string at `span`.
    fn may_match(&self, span: (usize, usize)) -> bool {
        self.hits.is_none_or(|hits| hits.within(span))
    }

    /// The string `value` at `span` (quotes included) redacted by the text rules, when
    /// that changes it. `raw` when the string has no escapes, so its raw content is
    /// its value and the line's prefilter hits in it are the value's.
    fn redact_str(&self, span: (usize, usize), value: &str, raw: bool) -> Option<String> {
        let redacted = match self.hits.filter(|_| raw) {
            Some(hits) => {
                let content = (span.0 + 1, span.1 - 1);
                self.engine
                    .redact_with_hits(value, hits.inside(content), hits.offset + content.0)
            }
            None => self.engine.redact(value),
        };
        match redacted {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        }
    }

    /// The key redacted and the label of the values under it, remembered when there
    /// is a memo.
    fn key_verdict<'k>(&mut self, key: &'k str) -> (Cow<'k, str>, Option<&'e str>) {
        match self.memo.as_deref_mut() {
            Some(memo) => memo.verdict(self.engine, key),
            None => key_verdict(self.engine, key),
        }
    }

    fn walk(&mut self, node: &Node<'_>, inherited: Option<&str>, edits: &mut Edits) {
        let engine = self.engine;
        match node {
            Node::Str { span, value } => match inherited {
                Some(label) => replace_leaf(node, label, edits),
                None => {
                    if self.may_match(*span)
                        && let Some(redacted) =
                            self.redact_str(*span, value, matches!(value, Cow::Borrowed(_)))
                    {
                        edits.push((*span, json_string(&redacted)));
                    }
                }
            },
            Node::Num { .. } => {
                if let Some(label) = inherited {
                    replace_leaf(node, label, edits);
                }
            }
            Node::Literal => {}
            Node::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    let flag_label = (inherited.is_none() && i > 0)
                        .then(|| flag_label(engine, &items[i - 1], item))
                        .flatten();
                    match flag_label {
                        Some(label) => replace_leaf(item, label, edits),
                        None => self.walk(item, inherited, edits),
                    }
                }
            }
            Node::Obj(members) => self.walk_object(members, inherited, edits),
        }
    }

    fn walk_object(&mut self, members: &[Member<'_>], inherited: Option<&str>, edits: &mut Edits) {
        let engine = self.engine;
        // Keys are text too (a map keyed by token must not leak it), and the rules below
        // look at the redacted key, as the value-based redaction does. A sensitive key
        // holds one of the prefilter's literals.
        let mut keys: Vec<(Cow<'_, str>, Option<&'e str>)> = Vec::with_capacity(members.len());
        for m in members {
            if inherited.is_none() && self.may_match(m.key_span) {
                keys.push(self.key_verdict(&m.key));
            } else {
                keys.push((Cow::Borrowed(m.key.as_ref()), None));
            }
        }
        let env_label = if inherited.is_none() {
            env_entry_label(engine, members, &keys)
        } else {
            None
        };
        let secret_manifest = inherited.is_none() && is_kubernetes_secret(members, &keys);
        for (member, (key, key_label)) in members.iter().zip(&keys) {
            let key_label = *key_label;
            if let Cow::Owned(new) = key {
                edits.push((member.key_span, json_string(new)));
            }
            let key = key.as_ref();
            if inherited.is_some() && is_descriptive(key) {
                self.walk(&member.value, None, edits);
                continue;
            }
            let label = inherited
                .or(key_label)
                .or_else(|| env_label.filter(|_| key.eq_ignore_ascii_case("value")))
                .or_else(|| {
                    (secret_manifest && (key == "data" || key == "stringData")).then_some("secret")
                });
            self.walk(&member.value, label, edits);
        }
    }
}

/// The label for `item` when it is the value of the sensitive flag before it
/// (`["--db-password", "hunter2"]`).
fn flag_label<'e>(engine: &'e Engine, flag: &Node<'_>, item: &Node<'_>) -> Option<&'e str> {
    let Node::Str { value: flag, .. } = flag else {
        return None;
    };
    if !flag.starts_with('-') || flag.contains('=') {
        return None;
    }
    let label = engine.keys().label(flag)?;
    matches!(item, Node::Str { value, .. } if !value.starts_with('-')).then_some(label)
}

/// `{"name": "DB_PASSWORD", "value": …}`, with the key order of a sorted map so the
/// choice is the same as the value-based redaction's.
fn env_entry_label<'e>(
    engine: &'e Engine,
    members: &[Member<'_>],
    keys: &[(Cow<'_, str>, Option<&str>)],
) -> Option<&'e str> {
    if !keys.iter().any(|(k, _)| k.eq_ignore_ascii_case("value")) {
        return None;
    }
    members
        .iter()
        .zip(keys.iter().map(|(k, _)| k))
        .filter(|(_, k)| ["name", "key"].iter().any(|n| k.eq_ignore_ascii_case(n)))
        .filter_map(|(m, k)| match &m.value {
            Node::Str { value, .. } => engine.keys().label(value).map(|label| (k.as_ref(), label)),
            _ => None,
        })
        // Of duplicate keys the last counts, as in a parsed map.
        .rev()
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(_, label)| label)
}

fn is_kubernetes_secret(members: &[Member<'_>], keys: &[(Cow<'_, str>, Option<&str>)]) -> bool {
    // The last of duplicate keys counts, as in a parsed map.
    let last_str = |name: &str| {
        members
            .iter()
            .zip(keys.iter().map(|(k, _)| k))
            .rev()
            .find(|(_, k)| *k == name)
            .and_then(|(m, _)| match &m.value {
                Node::Str { value, .. } => Some(value.as_ref()),
                _ => None,
            })
    };
    last_str("kind") == Some("Secret") && last_str("apiVersion") == Some("v1")
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        match *self.bytes.get(self.pos)? {
            b'"' => {
                let start = self.pos;
                let value = self.string()?;
                Some(Node::Str {
                    span: (start, self.pos),
                    value,
                })
            }
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number(),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Option<Node<'a>>) -> Option<Node<'a>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let node = f(self);
        self.depth -= 1;
        node
    }

    fn literal(&mut self, word: &str) -> Option<Node<'a>> {
        self.text[self.pos..].starts_with(word).then(|| {
            self.pos += word.len();
            Node::Literal
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<Node<'a>> {
        let start = self.pos;
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return None;
        }
        if self.eat(b'.') && self.digits() == 0 {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return None;
            }
        }
        Some(Node::Num {
            span: (start, self.pos),
        })
    }

    fn array(&mut self) -> Option<Node<'a>> {
        self.pos += 1;
        let mut items = Vec::with_capacity(4);
        self.ws();
        if self.eat(b']') {
            return Some(Node::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            if self.eat(b']') {
                return Some(Node::Arr(items));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn object(&mut self) -> Option<Node<'a>> {
        self.pos += 1;
        // A log line's object has a dozen keys: growing from empty reallocated thrice.
        let mut members = Vec::with_capacity(16);
        self.ws();
        if self.eat(b'}') {
            return Some(Node::Obj(members));
        }
        loop {
            self.ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return None;
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = (key_start, self.pos);
            self.ws();
            if !self.eat(b':') {
                return None;
            }
            self.ws();
            let value = self.value()?;
            members.push(Member {
                key_span,
                key,
                value,
            });
            self.ws();
            if self.eat(b'}') {
                return Some(Node::Obj(members));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A string at `self.pos` (its opening quote): borrowed when it has no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let rest = &self.bytes[start..];
        let end = memchr_quote_or_escape(rest)?;
        if has_control(&rest[..end]) {
            return None;
        }
        if rest[end] == b'"' {
            self.pos = start + end + 1;
            return Some(Cow::Borrowed(&self.text[start..start + end]));
        }
        let mut out = String::from(&self.text[start..start + end]);
        self.pos = start + end;
        loop {
            let b = *self.bytes.get(self.pos)?;
            match b {
                b'"' => {
                    self.pos += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.pos += 1;
                    let esc = *self.bytes.get(self.pos)?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return None,
                    }
                }
                0..0x20 => return None,
                _ => {
                    // Copy the run up to the next quote or escape at once.
                    let run = &self.bytes[self.pos..];
                    let n = memchr_quote_or_escape(run)?;
                    if has_control(&run[..n]) {
                        return None;
                    }
                    out.push_str(&self.text[self.pos..self.pos + n]);
                    self.pos += n;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining surrogate pairs;
    /// a lone surrogate is not JSON (as `serde_json` sees it).
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            if !self.text[self.pos..].starts_with("\\u") {
                return None;
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            return char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00));
        }
        char::from_u32(first)
    }
}

fn memchr_quote_or_escape(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'"', b'\\', bytes)
}

/// Whether `bytes` holds a raw control character, which a JSON string cannot. A fold
/// without an early exit, so the compiler can check many bytes at once.
fn has_control(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |found, &b| found | u8::from(b < 0x20))
        != 0
}
