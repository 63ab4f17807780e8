//! Free-text redaction: one prefilter pass, then one pass of a combined automaton.
//!
//! The prefilter is an ASCII case-insensitive Aho-Corasick search for literals that
//! every rule's match contains (`akia`, `eyj`, `bearer`, the sensitive key words, …).
//! Most log lines contain none and are returned borrowed without running the regex
//! (a stream runs the prefilter once over a whole chunk of lines, see `stream.rs`).
//! A line that does contain one is searched once by a `regex_automata` meta regex
//! built from all rules at once (a lazy DFA), not once per rule. Only a match is then
//! taken apart into its groups, by that rule's own small regex on the match alone:
//! resolving groups with the combined regex costs time in proportion to all rules.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, Match, Span};

use super::RedactError;
use super::keys::KeyMatcher;
use super::rules::{Check, Rule};

/// The prefix of every replacement; a value that already starts with it is left alone,
/// which is what makes redaction idempotent.
pub(crate) const MARKER_PREFIX: &str = "[REDACTED:";

/// Room for the lazy DFA's states: with a few dozen rules the default 2 MiB makes it
/// thrash and fall back to the slow engine.
const DFA_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Passes after the first over changed text; each one only replaces text outside
/// markers with markers, and in practice the second pass changes nothing.
const MAX_PASSES: usize = 4;

/// Whether `text` starts with a whole marker, `[REDACTED:<label>]`. Only a whole one
/// counts as redaction done before: an unclosed `[REDACTED:` is input like any other,
/// and must neither shield the text after it nor survive as a value.
pub(crate) fn starts_with_marker(text: &str) -> bool {
    marker_len(text).is_some()
}

/// The length of the whole marker `text` starts with.
fn marker_len(text: &str) -> Option<usize> {
    let rest = text.strip_prefix(MARKER_PREFIX)?;
    let label = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    (label > 0 && rest.as_bytes().get(label) == Some(&b']'))
        .then_some(MARKER_PREFIX.len() + label + 1)
}

/// The replacement text for a secret of kind `label`.
pub(crate) fn marker(label: &str) -> String {
    format!("{MARKER_PREFIX}{label}]")
}

/// All rules compiled together.
#[derive(Debug)]
pub(crate) struct Engine {
    regex: Regex,
    /// Each rule alone, to resolve the groups of a match the combined regex found;
    /// compiled on the rule's first match, as most runs meet few rules.
    per_rule: Vec<OnceLock<Option<Regex>>>,
    /// For rules with a [`Rule::key_tail`], that tail alone, compiled on first use.
    tails: Vec<OnceLock<Option<Regex>>>,
    rules: Vec<Rule>,
    keys: KeyMatcher,
    /// `None` when some rule has no literal to look for: then every text is searched.
    prefilter: Option<AhoCorasick>,
    /// The rules that a sensitive key name alone can bring into play, compiled apart:
    /// most texts that reach the rules hold a key (`session_id=`, `"token":`) and no
    /// other literal, and this much smaller automaton finds the same matches there.
    key_subset: Option<Subset>,
    /// Index of the `://` literal in the prefilter: it only counts with an `@` after it
    /// on the same line.
    url_anchor: Option<usize>,
}

/// Some of the rules, searched as one regex, for texts whose prefilter hits are all
/// in `anchors`: every other rule lacks its literal there and cannot match.
#[derive(Debug)]
struct Subset {
    regex: Regex,
    /// The rule index of each of the subset's patterns.
    rules: Vec<usize>,
    /// Indexed by prefilter pattern: whether a hit on it keeps the text in the subset.
    anchors: Vec<bool>,
}

/// The groups of a match that decide its replacement.
struct Groups {
    key: Option<Span>,
    secret: Option<Span>,
}

/// JSON escapes can spell a literal the prefilter looks for (`\u0041KIA…`, and `\/`
/// in `https:\/\/user:pw@host`, which PHP writes by default), so text holding one
/// always goes on to the rules (the JSON rules see the decoded strings).
const ESCAPE_ANCHORS: [&str; 2] = ["\\u", "\\/"];

impl Engine {
    pub(crate) fn new(rules: Vec<Rule>, keys: KeyMatcher) -> Result<Self, RedactError> {
        let patterns: Vec<&str> = rules.iter().map(|r| r.pattern.as_str()).collect();
        let regex = Regex::builder()
            .configure(Regex::config().hybrid_cache_capacity(DFA_CACHE_BYTES))
            .syntax(syntax::Config::new().crlf(true))
            .build_many(&patterns)
            .map_err(|e| {
                let name = e
                    .pattern()
                    .and_then(|p| rules.get(p.as_usize()))
                    .map_or_else(|| "(combined)".to_owned(), |r| r.label.clone());
                RedactError::Pattern {
                    name,
                    detail: e.to_string(),
                }
            })?;
        let per_rule = rules.iter().map(|_| OnceLock::new()).collect();
        let anchors: Option<Vec<String>> = rules
            .iter()
            .map(|r| r.anchors.clone())
            .collect::<Option<Vec<Vec<String>>>>()
            .map(|all| {
                let mut flat: Vec<String> = all.into_iter().flatten().collect();
                flat.extend(ESCAPE_ANCHORS.map(str::to_owned));
                flat.sort();
                flat.dedup();
                flat
            });
        let (prefilter, url_anchor, key_subset) = match anchors {
            Some(anchors) => {
                // Case-insensitive search rules out the SIMD prefilter; the DFA is then
                // several times faster than the default NFA for a few hundred anchors.
                let ac = AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&anchors)
                    .map_err(|e| RedactError::Pattern {
                        name: "(prefilter)".to_owned(),
                        detail: e.to_string(),
                    })?;
                let subset = key_subset(&rules, &keys, &anchors)?;
                (Some(ac), anchors.iter().position(|a| a == "://"), subset)
            }
            None => (None, None, None),
        };
        let tails = rules.iter().map(|_| OnceLock::new()).collect();
        Ok(Self {
            regex,
            per_rule,
            tails,
            rules,
            keys,
            prefilter,
            key_subset,
            url_anchor,
        })
    }

    pub(crate) fn keys(&self) -> &KeyMatcher {
        &self.keys
    }

    /// Whether `text` may contain anything that a rule (or a sensitive key) matches.
    pub(crate) fn may_match(&self, text: &str) -> bool {
        let Some(ac) = &self.prefilter else {
            return true;
        };
        ac.find_iter(text)
            .any(|m| self.counts(text, m.pattern().as_usize(), m.end()))
    }

    /// Whether a prefilter hit ending at `end` counts: `://` only with an `@` after it
    /// on its line.
    fn counts(&self, text: &str, pattern: usize, end: usize) -> bool {
        if Some(pattern) != self.url_anchor {
            return true;
        }
        let rest = &text.as_bytes()[end..];
        let line = memchr::memchr(b'\n', rest).map_or(rest, |n| &rest[..n]);
        memchr::memchr(b'@', line).is_some()
    }

    /// Calls `hit` with the start of every prefilter hit that counts in `text`, in
    /// order, so a caller can skip whole lines without one. `false` when there is no
    /// prefilter (every line must then be searched).
    pub(crate) fn for_each_hit(&self, text: &str, mut hit: impl FnMut(usize)) -> bool {
        let Some(ac) = &self.prefilter else {
            return false;
        };
        for m in ac.find_iter(text) {
            if self.counts(text, m.pattern().as_usize(), m.end()) {
                hit(m.start());
            }
        }
        true
    }

    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.may_match(text) {
            return Cow::Borrowed(text);
        }
        let Cow::Owned(mut out) = self.redact_once(text) else {
            return Cow::Borrowed(text);
        };
        // A replacement can remove what kept an earlier rule from matching (a `\` in a
        // key's value that ended a URL password), so the output is redacted again until
        // nothing changes: that is what makes redacting redacted text a no-op.
        for _ in 0..MAX_PASSES {
            match self.redact_once(&out) {
                Cow::Owned(again) => out = again,
                Cow::Borrowed(_) => break,
            }
        }
        Cow::Owned(out)
    }

    fn redact_once<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let redacted = self.redact_rules(text);
        match super::yaml::redact_secret_data(&redacted) {
            Some(out) => Cow::Owned(out),
            None => redacted,
        }
    }

    /// The subset to search `text` with, when its prefilter hits allow one.
    fn subset_for(&self, text: &str) -> Option<&Subset> {
        let subset = self.key_subset.as_ref()?;
        let ac = self.prefilter.as_ref()?;
        // Overlapping: a rule's literal may overlap another one (`pass`, `password`).
        ac.find_overlapping_iter(text)
            .all(|m| {
                let pattern = m.pattern().as_usize();
                subset.anchors.get(pattern).copied().unwrap_or(false)
                    || !self.counts(text, pattern, m.end())
            })
            .then_some(subset)
    }

    fn redact_rules<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let subset = self.subset_for(text);
        let regex = subset.map_or(&self.regex, |s| &s.regex);
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            let Some(found) = regex.search(&Input::new(text).range(at..)) else {
                break;
            };
            // The match as the combined regex would number it.
            let pattern = match subset {
                Some(s) => s.rules.get(found.pattern().as_usize()).copied(),
                None => Some(found.pattern().as_usize()),
            };
            let Some(m) = pattern
                .and_then(|p| regex_automata::PatternID::new(p).ok())
                .map(|p| Match::new(p, found.span()))
            else {
                break;
            };
            let caps = self.groups(text, m);
            match self.replacement(text, m, &caps) {
                Ok((span, label)) => {
                    out.push_str(&text[copied..span.start]);
                    out.push_str(&marker(label));
                    copied = span.end;
                    at = m.end().max(span.end);
                }
                Err(resume) => at = resume.max(m.start() + 1),
            }
            // Rules never match the empty string, but never loop if one does.
            if m.is_empty() {
                at = m.end() + 1;
            }
            while at < text.len() && !text.is_char_boundary(at) {
                at += 1;
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// The groups of `m`: by the rule's key tail when it has one, else by its own regex.
    fn groups(&self, text: &str, m: Match) -> Groups {
        if let Some(groups) = self.tail_groups(text, m) {
            return groups;
        }
        let caps = self.captures(text, m);
        Groups {
            key: caps.get_group_by_name("key"),
            secret: caps.get_group_by_name("secret"),
        }
    }

    /// For a rule with a key tail: the key is the run of key characters the match
    /// starts with (the tail cannot start with one, and the key holds nothing else),
    /// and the tail, matched alone up to the match's end, gives the other groups.
    /// `None` when that reading does not hold (a key with non-ASCII letters that
    /// case-insensitive matching let in), so the rule's own regex decides.
    fn tail_groups(&self, text: &str, m: Match) -> Option<Groups> {
        let pid = m.pattern().as_usize();
        let tail = self
            .tails
            .get(pid)?
            .get_or_init(|| {
                let pattern = self.rules.get(pid)?.key_tail.as_ref()?;
                Regex::builder()
                    .syntax(syntax::Config::new().crlf(true))
                    .build(pattern)
                    .ok()
            })
            .as_ref()?;
        let matched = &text.as_bytes()[m.range()];
        let key_len = matched
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            .count();
        if key_len == 0
            || !matches!(
                matched.get(key_len),
                Some(b'\\' | b'"' | b'\'' | b' ' | b'\t' | b':' | b'=')
            )
        {
            return None;
        }
        let key_end = m.start() + key_len;
        // The haystack ends with the match, so the tail's `\z` holds only there.
        let hay = &text[..m.end()];
        let mut caps = tail.create_captures();
        tail.search_captures(
            &Input::new(hay)
                .span(key_end..m.end())
                .anchored(Anchored::Yes),
            &mut caps,
        );
        let whole = caps.get_match()?;
        (whole.start() == key_end && whole.end() == m.end()).then(|| Groups {
            key: Some(Span::from(m.start()..key_end)),
            secret: caps.get_group_by_name("secret"),
        })
    }

    /// The groups of `m`, found by its rule's regex on the match alone. The rule alone
    /// finds the same match there (leftmost-first, look-around sees the whole text); if
    /// it ever did not, the combined regex resolves them as it used to.
    fn captures(&self, text: &str, m: Match) -> Captures {
        let pid = m.pattern().as_usize();
        let rule_regex = self.per_rule.get(pid).and_then(|cell| {
            cell.get_or_init(|| {
                // The combined regex compiled the same pattern, so this does too.
                Regex::builder()
                    .syntax(syntax::Config::new().crlf(true))
                    .build(&self.rules[pid].pattern)
                    .ok()
            })
            .as_ref()
        });
        if let Some(re) = rule_regex {
            let mut caps = re.create_captures();
            let input = Input::new(text).span(m.span()).anchored(Anchored::Yes);
            re.search_captures(&input, &mut caps);
            if caps.get_match().map(|c| c.span()) == Some(m.span()) {
                return caps;
            }
        }
        let mut caps = self.regex.create_captures();
        let input = Input::new(text)
            .span(m.span())
            .anchored(Anchored::Pattern(m.pattern()));
        self.regex.search_captures(&input, &mut caps);
        caps
    }

    /// What to replace for match `m` (with groups `caps`) and with which label; or,
    /// when the match is not a secret after all, where to resume searching.
    fn replacement<'r>(
        &'r self,
        text: &str,
        m: Match,
        caps: &Groups,
    ) -> Result<(Span, &'r str), usize> {
        let rule = &self.rules[m.pattern().as_usize()];
        let mut span = caps.secret.unwrap_or(m.span());
        let value = &text[span.range()];
        // A quoted value keeps its quotes.
        for quote in ["\\\"", "\"", "'"] {
            if value.len() >= 2 * quote.len() && value.starts_with(quote) && value.ends_with(quote)
            {
                span = Span::from(span.start + quote.len()..span.end - quote.len());
                break;
            }
        }
        let value = &text[span.range()];
        let label = match rule.check {
            Check::Bearer if looks_like_jwt(value) => "jwt",
            Check::Shape | Check::Bearer => rule.label.as_str(),
            Check::Base64Pem if is_base64_private_key(value) => rule.label.as_str(),
            Check::Base64Pem => return Err(m.end()),
            Check::Key => {
                let key = caps.key.unwrap_or(m.span());
                match self.keys.label(&text[key.range()]) {
                    Some(label) if !is_placeholder(value) && !is_plain_value(value) => label,
                    Some(_) => return Err(m.end()),
                    None => return Err(key.end),
                }
            }
        };
        // The text, not the value: a value match may stop short of the marker's `]`.
        if value.is_empty()
            || starts_with_marker(&text[span.start..])
            || inside_marker(text, span.start)
        {
            return Err(m.end());
        }
        Ok((span, label))
    }
}

/// The rules whose literals include a sensitive key's (the key rules, and any other
/// rule a key word can start), compiled as one regex in their order; `None` when that
/// is every rule.
fn key_subset(
    rules: &[Rule],
    keys: &KeyMatcher,
    anchors: &[String],
) -> Result<Option<Subset>, RedactError> {
    let Some(key_anchors) = keys.anchors() else {
        return Ok(None);
    };
    let members: Vec<usize> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.anchors
                .as_ref()
                .is_none_or(|list| list.iter().any(|a| key_anchors.contains(a)))
        })
        .map(|(i, _)| i)
        .collect();
    if members.len() == rules.len() {
        return Ok(None);
    }
    // A hit keeps a text in the subset when no rule outside it has that literal.
    let in_subset: Vec<bool> = anchors
        .iter()
        .map(|a| {
            rules.iter().enumerate().all(|(i, r)| {
                members.contains(&i) || r.anchors.as_ref().is_none_or(|list| !list.contains(a))
            })
        })
        .collect();
    let patterns: Vec<&str> = members.iter().map(|&i| rules[i].pattern.as_str()).collect();
    let regex = Regex::builder()
        .configure(Regex::config().hybrid_cache_capacity(DFA_CACHE_BYTES))
        .syntax(syntax::Config::new().crlf(true))
        .build_many(&patterns)
        .map_err(|e| RedactError::Pattern {
            name: "(key rules)".to_owned(),
            detail: e.to_string(),
        })?;
    Ok(Some(Subset {
        regex,
        rules: members,
        anchors: in_subset,
    }))
}

/// Whether `at` falls inside a marker written before (`https://[REDACTED:x]@host` must
/// not be read as a user `[REDACTED` with the password `x]`). Only a whole marker
/// counts: an unclosed `[REDACTED:` in the input shields nothing after it.
fn inside_marker(text: &str, at: usize) -> bool {
    let mut from = at.saturating_sub(64);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at].rfind(MARKER_PREFIX).is_some_and(|open| {
        let open = from + open;
        marker_len(&text[open..]).is_some_and(|len| at < open + len)
    })
}

fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("eyJ") && value.matches('.').count() == 2
}

/// Values that hold no secret, so `password: null` stays readable evidence.
fn is_placeholder(value: &str) -> bool {
    [
        "null",
        "none",
        "true",
        "false",
        "undefined",
        "nil",
        "yes",
        "no",
        "on",
        "off",
    ]
    .iter()
    .any(|p| value.eq_ignore_ascii_case(p))
}

/// Values that are plainly settings, not secrets: small numbers (`TOKEN_LIMIT=10`)
/// and durations (`SESSION=30m`, `1h30m`, `250ms`).
fn is_plain_value(value: &str) -> bool {
    if !value.is_empty() && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let mut rest = value;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 4 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ms", "us", "ns", "s", "m", "h", "d"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
        parts += 1;
    }
    parts > 0
}

/// Whether base64 text decodes to the header of a PEM private key (any flavour).
fn is_base64_private_key(value: &str) -> bool {
    use base64::Engine as _;
    let head = &value[..value.len().min(96) / 4 * 4];
    base64::engine::general_purpose::STANDARD
        .decode(head.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(head))
        .is_ok_and(|bytes| {
            let header = String::from_utf8_lossy(&bytes);
            header
                .split("-----")
                .nth(1)
                .is_some_and(|h| h.starts_with("BEGIN") && h.contains("PRIVATE KEY"))
        })
}
