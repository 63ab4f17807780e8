//! Free-text redaction: one prefilter pass, then one pass of a combined automaton.
//!
//! The prefilter is an ASCII case-insensitive Aho-Corasick search for literals that
//! every rule's match contains (`akia`, `eyj`, `bearer`, the sensitive key words, …).
//! Most log lines contain none and are returned borrowed without running the regex.
//! A line that does contain one is searched once by a `regex_automata` meta regex
//! built from all rules at once (a lazy DFA), not once per rule. Only a match is then
//! taken apart into its groups, by that rule's own small regex on the match alone:
//! resolving groups with the combined regex costs time in proportion to all rules.

use std::borrow::Cow;

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

/// The replacement text for a secret of kind `label`.
pub(crate) fn marker(label: &str) -> String {
    format!("{MARKER_PREFIX}{label}]")
}

/// All rules compiled together.
#[derive(Debug)]
pub(crate) struct Engine {
    regex: Regex,
    /// Each rule alone, to resolve the groups of a match the combined regex found.
    per_rule: Vec<Regex>,
    rules: Vec<Rule>,
    keys: KeyMatcher,
    /// `None` when some rule has no literal to look for: then every text is searched.
    prefilter: Option<AhoCorasick>,
    /// Index of the `://` literal in the prefilter: it only counts with an `@` after it.
    url_anchor: Option<usize>,
}

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
        let per_rule = rules
            .iter()
            .map(|r| {
                Regex::builder()
                    .syntax(syntax::Config::new().crlf(true))
                    .build(&r.pattern)
                    .map_err(|e| RedactError::Pattern {
                        name: r.label.clone(),
                        detail: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let anchors: Option<Vec<String>> = rules
            .iter()
            .map(|r| r.anchors.clone())
            .collect::<Option<Vec<Vec<String>>>>()
            .map(|all| {
                let mut flat: Vec<String> = all.into_iter().flatten().collect();
                flat.sort();
                flat.dedup();
                flat
            });
        let (prefilter, url_anchor) = match anchors {
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
                (Some(ac), anchors.iter().position(|a| a == "://"))
            }
            None => (None, None),
        };
        Ok(Self {
            regex,
            per_rule,
            rules,
            keys,
            prefilter,
            url_anchor,
        })
    }

    pub(crate) fn keys(&self) -> &KeyMatcher {
        &self.keys
    }

    /// Whether `text` may contain anything that a rule (or a sensitive key) matches.
    /// A JSON `\u` escape can spell any literal the prefilter looks for, so text that
    /// holds one always goes on to the JSON rules, which see the decoded strings.
    pub(crate) fn may_match(&self, text: &str) -> bool {
        let Some(ac) = &self.prefilter else {
            return true;
        };
        if text.contains("\\u") {
            return true;
        }
        ac.find_iter(text).any(|m| {
            Some(m.pattern().as_usize()) != self.url_anchor || text[m.end()..].contains('@')
        })
    }

    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.may_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            let Some(m) = self.regex.search(&Input::new(text).range(at..)) else {
                break;
            };
            let caps = self.captures(text, m);
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

    /// The groups of `m`, found by its rule's regex on the match alone. The rule alone
    /// finds the same match there (leftmost-first, look-around sees the whole text); if
    /// it ever did not, the combined regex resolves them as it used to.
    fn captures(&self, text: &str, m: Match) -> Captures {
        let pid = m.pattern().as_usize();
        if let Some(re) = self.per_rule.get(pid) {
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
        caps: &Captures,
    ) -> Result<(Span, &'r str), usize> {
        let rule = &self.rules[m.pattern().as_usize()];
        let mut span = caps.get_group_by_name("secret").unwrap_or(m.span());
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
            Check::Key => {
                let key = caps.get_group_by_name("key").unwrap_or(m.span());
                match self.keys.label(&text[key.range()]) {
                    Some(label) if !is_placeholder(value) => label,
                    Some(_) => return Err(m.end()),
                    None => return Err(key.end),
                }
            }
        };
        if value.is_empty() || value.starts_with(MARKER_PREFIX) {
            return Err(m.end());
        }
        Ok((span, label))
    }
}

fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("eyJ") && value.matches('.').count() == 2
}

/// Values that hold no secret, so `password: null` stays readable evidence.
fn is_placeholder(value: &str) -> bool {
    ["null", "none", "true", "false", "undefined", "nil"]
        .iter()
        .any(|p| value.eq_ignore_ascii_case(p))
}
