//! Free-text redaction: one prefilter pass, then a search by only the rules it names.
//!
//! The prefilter is an ASCII case-insensitive Aho-Corasick search for literals that
//! every rule's match contains (`akia`, `eyj`, `bearer`, the sensitive key words, …).
//! Most log lines contain none and are returned borrowed without running the regex
//! (a stream runs the prefilter once over a whole chunk of lines, see `stream.rs`).
//! A text that does contain one is searched by the regexes of the rules whose
//! literals it holds (see [`Plan`]): the key rules as one small `regex_automata` meta
//! regex, any other rule by its own, and only a text naming many rules by the
//! combined regex of all of them, whose lazy DFA is slow to build. Their matches are
//! merged as the combined regex would order them. A match is then taken apart into
//! its groups: the `key=value` rule's by hand (see `rules::key_value_secret`), the
//! others by the rule's own regex on the match alone.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

use memchr::memmem;
use regex_automata::meta::Regex;
use regex_automata::util::captures::{Captures, GroupInfo};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, Match, Span};

use super::RedactError;
use super::keys::KeyMatcher;
use super::literals::{Hit, Literals};
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
    let mut out = String::with_capacity(MARKER_PREFIX.len() + label.len() + 1);
    push_marker(&mut out, label);
    out
}

/// [`marker`], written onto `out`.
fn push_marker(out: &mut String, label: &str) {
    out.push_str(MARKER_PREFIX);
    out.push_str(label);
    out.push(']');
}

/// Finders for the literals searched in a pass's output, built once.
static URL_FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("://"));
static MARKER_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(MARKER_PREFIX));
static MARKER_FINDER_REV: LazyLock<memmem::FinderRev<'static>> =
    LazyLock::new(|| memmem::FinderRev::new(MARKER_PREFIX));

/// All rules compiled together.
#[derive(Debug)]
pub(crate) struct Engine {
    /// All rules in one regex, compiled on first use (see [`Self::combined`]).
    regex: OnceLock<Option<Regex>>,
    /// Each rule alone: to search a text that names it (see [`Plan`]) and to resolve
    /// the groups of its matches; compiled on first use, as most runs meet few rules.
    per_rule: Vec<OnceLock<Option<Regex>>>,
    /// For rules with a [`Rule::key_tail`], that tail alone, compiled on first use.
    tails: Vec<OnceLock<Option<Regex>>>,
    rules: Vec<Rule>,
    keys: KeyMatcher,
    /// `None` when some rule has no literal to look for: then every text is searched.
    prefilter: Option<Literals>,
    /// The rules that a sensitive key name alone can bring into play, compiled apart:
    /// most texts that reach the rules hold a key (`session_id=`, `"token":`) and no
    /// other literal, and this much smaller automaton finds the key rules' matches.
    key_subset: Option<Subset>,
    /// Index of the `://` literal in the prefilter: it only counts with an `@` after it
    /// on the same line.
    url_anchor: Option<usize>,
    /// Indexed by prefilter pattern: the rules that have that literal.
    anchor_rules: Vec<Vec<usize>>,
    /// Indexed by prefilter pattern: what a hit on it can hide from the prefilter,
    /// which reports hits that do not overlap (see [`Hidden`]).
    hidden: Vec<Hidden>,
    /// The prefilter's literals, by pattern.
    anchor_texts: Vec<String>,
    /// Whether a line, or a JSON string, without a hit start in it can be left alone:
    /// true unless some literal holds a quote, a backslash or a control character (a
    /// line break among them). Such a literal could run in from the text before, hiding
    /// the hits it overlaps there, and in a JSON string's raw text it is spelt as an
    /// escape (the escapes that can spell other characters, `\u` and `\/`, are hits
    /// themselves).
    hits_are_local: bool,
    /// Whether no literal holds a `[` or `]`, so none can cross a marker's edge.
    markers_split_literals: bool,
}

/// The literals a leftmost-longest hit on one literal can hide.
#[derive(Debug, Default)]
struct Hidden {
    /// The rules of the literals inside it: they are in the text wherever it is.
    inside: Vec<usize>,
    /// The literals that can start inside it and go on after it, each with how many
    /// of its bytes would overlap: they are in the text when the rest follows.
    partial: Vec<(usize, usize)>,
}

/// At most this many rules outside the key subset are searched one by one; a text
/// holding the literals of more is searched with the combined regex.
const MAX_SEPARATE_RULES: usize = 4;

/// How one text is searched: the regexes that together find every match any rule
/// could make in it, as the combined regex would (leftmost, then rule order).
///
/// The combined regex of all rules is the slowest way: its lazy DFA builds states
/// over the NFA of every rule, so a process spends its first ~100 ms building them
/// (measured on the 65 built-in rules), whatever the input. A text whose prefilter
/// hits name a few rules is searched with those rules' own regexes instead.
struct Plan<'e> {
    searchers: Vec<Searcher<'e>>,
}

/// The rules a text's prefilter hits name: what a [`Plan`] is made from.
#[derive(Debug, Default)]
struct Candidates {
    /// Too many, or unknown: search with the combined regex.
    all: bool,
    /// Some rule of the key subset.
    key_rules: bool,
    /// Rules outside the key subset.
    singles: Vec<usize>,
}

struct Searcher<'e> {
    regex: &'e Regex,
    /// The rule index of each of the regex's patterns; `None` when they are the same.
    rules: Option<&'e [usize]>,
    /// For a regex of one rule, that rule's index.
    single: Option<usize>,
    next: Next,
}

/// A searcher's next match (numbered by rule), kept while it starts at or after the
/// position searched from: it is then also the next match from there.
#[derive(Clone, Copy)]
enum Next {
    Unknown,
    Found(Match),
    Done,
}

/// Some of the rules (those a key word brings into play), searched as one regex
/// whenever a text's prefilter hits name any of them.
#[derive(Debug)]
struct Subset {
    regex: Regex,
    /// The rule index of each of the subset's patterns.
    rules: Vec<usize>,
    /// Bytes one of which every match of the subset contains, when each of its rules
    /// says (see [`Rule::needs_one_of`]).
    needs_one_of: Option<Vec<u8>>,
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
    /// The engine of `rules`, of which the first `known_good` are built in (their
    /// regexes are known to compile, alone and together, see the tests): only the
    /// others are compiled now, to report a bad one by name. The combined regex is
    /// compiled when a text first needs it, as most runs never do.
    pub(crate) fn new(
        rules: Vec<Rule>,
        keys: KeyMatcher,
        known_good: usize,
    ) -> Result<Self, RedactError> {
        let per_rule: Vec<OnceLock<Option<Regex>>> =
            rules.iter().map(|_| OnceLock::new()).collect();
        for (rule, cell) in rules.iter().zip(&per_rule).skip(known_good) {
            let regex = build_one(&rule.pattern).map_err(|detail| RedactError::Pattern {
                name: rule.label.clone(),
                detail,
            })?;
            let _ = cell.set(Some(regex));
        }
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
        let (anchor_rules, hidden) = anchors.as_ref().map_or_else(Default::default, |anchors| {
            anchor_rule_sets(&rules, anchors)
        });
        let anchor_texts = anchors.clone().unwrap_or_default();
        let hits_are_local = anchors.as_ref().is_some_and(|anchors| {
            anchors.iter().all(|a| {
                ESCAPE_ANCHORS.contains(&a.as_str())
                    || !a.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
            })
        });
        let markers_split_literals = anchors
            .as_ref()
            .is_some_and(|anchors| anchors.iter().all(|a| !a.contains(['[', ']'])));
        let (prefilter, url_anchor, key_subset) = match anchors {
            Some(anchors) => {
                let ac = Literals::new(&anchors).map_err(|detail| RedactError::Pattern {
                    name: "(prefilter)".to_owned(),
                    detail,
                })?;
                let subset = key_subset(&rules, &keys)?;
                (Some(ac), anchors.iter().position(|a| a == "://"), subset)
            }
            None => (None, None, None),
        };
        let tails = rules.iter().map(|_| OnceLock::new()).collect();
        Ok(Self {
            regex: OnceLock::new(),
            per_rule,
            tails,
            rules,
            keys,
            prefilter,
            key_subset,
            url_anchor,
            anchor_rules,
            hidden,
            anchor_texts,
            hits_are_local,
            markers_split_literals,
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
        ac.find_iter(text).any(|hit| self.hit_counts(text, hit))
    }

    /// Whether a prefilter hit counts, or may hide another literal that does (a hit
    /// on `://` without an `@` counts for nothing itself).
    fn hit_counts(&self, text: &str, hit: Hit) -> bool {
        let pattern = hit.pattern;
        self.counts(text, pattern, hit.end)
            || self
                .hidden
                .get(pattern)
                .is_some_and(|h| !h.inside.is_empty() || !h.partial.is_empty())
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

    /// Calls `hit` with every prefilter hit that counts in `text`, in order, so a
    /// caller can skip whole lines and JSON strings without one, and redact a string
    /// with the hits inside it ([`Self::redact_with_hits`]). `false` when there is no
    /// prefilter or its hits are not local (see `hits_are_local`): every line must
    /// then be searched.
    pub(crate) fn for_each_hit(&self, text: &str, mut found: impl FnMut(Hit)) -> bool {
        let Some(ac) = self.prefilter.as_ref().filter(|_| self.hits_are_local) else {
            return false;
        };
        for hit in ac.find_iter(text) {
            if self.hit_counts(text, hit) {
                found(hit);
            }
        }
        true
    }

    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut rules = Candidates::default();
        if !self.collect_rules(text, &mut rules) {
            return Cow::Borrowed(text);
        }
        self.redact_from(text, rules)
    }

    /// [`Self::redact`] of `text`, which is the raw content of a JSON string without
    /// escapes inside a larger text that [`Self::for_each_hit`] searched: `hits` are
    /// the hits it gave inside `text`, whose first byte is at `offset` in the larger
    /// text. They are the hits a search of `text` alone would give, as no literal holds
    /// a quote or a backslash (or `for_each_hit` gives none); only a `://` is judged
    /// again, as its `@` must now be inside `text`.
    pub(crate) fn redact_with_hits<'a>(
        &self,
        text: &'a str,
        hits: &[Hit],
        offset: usize,
    ) -> Cow<'a, str> {
        let mut rules = Candidates::default();
        let shifted = hits.iter().map(|hit| Hit {
            pattern: hit.pattern,
            start: hit.start - offset,
            end: hit.end - offset,
        });
        if !self.collect_rules_from(text, shifted, &mut rules) {
            return Cow::Borrowed(text);
        }
        self.redact_from(text, rules)
    }

    /// The passes of [`Self::redact`], the first with `rules`.
    fn redact_from<'a>(&self, text: &'a str, mut rules: Candidates) -> Cow<'a, str> {
        let Cow::Owned(mut out) = self.redact_once(text, &rules) else {
            return Cow::Borrowed(text);
        };
        // A replacement can remove what kept an earlier rule from matching (a `\` in a
        // key's value that ended a URL password), so the output is redacted again until
        // nothing changes: that is what makes redacting redacted text a no-op.
        for _ in 0..MAX_PASSES {
            if self.markers_split_literals {
                // The output is the input with spans replaced by markers, and no literal
                // can cross a marker's brackets: its hits are the input's, less those
                // replaced, plus those inside the markers (and a `://` may count now).
                self.collect_marker_rules(&out, &mut rules);
            } else {
                rules = Candidates::default();
                if !self.collect_rules(&out, &mut rules) {
                    break;
                }
            }
            match self.redact_once(&out, &rules) {
                Cow::Owned(again) => out = again,
                Cow::Borrowed(_) => break,
            }
        }
        Cow::Owned(out)
    }

    /// [`Self::redact`] with the combined regex of all rules in every pass: what each
    /// plan must agree with.
    #[cfg(test)]
    fn redact_combined<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let all = Candidates {
            all: true,
            ..Candidates::default()
        };
        if !self.may_match(text) {
            return Cow::Borrowed(text);
        }
        let Cow::Owned(mut out) = self.redact_once(text, &all) else {
            return Cow::Borrowed(text);
        };
        for _ in 0..MAX_PASSES {
            match self.redact_once(&out, &all) {
                Cow::Owned(again) => out = again,
                Cow::Borrowed(_) => break,
            }
        }
        Cow::Owned(out)
    }

    /// One pass of the rules (those in `rules`), then the Secret manifests.
    fn redact_once<'a>(&self, text: &'a str, rules: &Candidates) -> Cow<'a, str> {
        let redacted = self.redact_rules(text, self.plan(rules, text));
        match super::yaml::redact_secret_data(&redacted) {
            Some(out) => Cow::Owned(out),
            None => redacted,
        }
    }

    /// Adds the rules the prefilter hits in `text` name to `rules`; `false` when it has
    /// no hit that counts, so nothing can match.
    fn collect_rules(&self, text: &str, rules: &mut Candidates) -> bool {
        let Some(ac) = &self.prefilter else {
            rules.all = true;
            return true;
        };
        self.collect_rules_from(text, ac.find_iter(text), rules)
    }

    /// [`Self::collect_rules`] with the prefilter's hits in `text` given.
    fn collect_rules_from(
        &self,
        text: &str,
        hits: impl Iterator<Item = Hit>,
        rules: &mut Candidates,
    ) -> bool {
        let mut any = false;
        for Hit { pattern, end, .. } in hits {
            let mut found = |pattern: usize, end: usize| {
                if self.counts(text, pattern, end) {
                    any = true;
                    for &rule in self
                        .anchor_rules
                        .get(pattern)
                        .map_or(&[][..], Vec::as_slice)
                    {
                        self.add_rule(rule, rules);
                    }
                }
            };
            found(pattern, end);
            let Some(hidden) = self.hidden.get(pattern) else {
                continue;
            };
            for &(other, overlap) in &hidden.partial {
                let start = end - overlap;
                let literal = self.anchor_texts.get(other).map_or("", String::as_str);
                let rest = text.as_bytes().get(start..start + literal.len());
                if rest.is_some_and(|rest| rest.eq_ignore_ascii_case(literal.as_bytes())) {
                    found(other, start + literal.len());
                }
            }
            if !hidden.inside.is_empty() {
                any = true;
                for &rule in &hidden.inside {
                    self.add_rule(rule, rules);
                }
            }
            if rules.all {
                break;
            }
        }
        any
    }

    /// Adds to `rules` what a pass's output can name beyond its input's hits: the
    /// literals inside the markers in `text`, and a `://` that counts now (a marker can
    /// replace the line break between it and its `@`).
    fn collect_marker_rules(&self, text: &str, rules: &mut Candidates) {
        if let Some(url) = self.url_anchor {
            let counts_now = URL_FINDER
                .find_iter(text.as_bytes())
                .any(|at| self.counts(text, url, at + 3));
            if counts_now {
                for &rule in self.anchor_rules.get(url).map_or(&[][..], Vec::as_slice) {
                    self.add_rule(rule, rules);
                }
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        for at in MARKER_FINDER.find_iter(text.as_bytes()) {
            let Some(len) = marker_len(&text[at..]) else {
                continue;
            };
            let marker = &text[at..at + len];
            if !seen.contains(&marker) {
                seen.push(marker);
                self.collect_rules(marker, rules);
            }
        }
    }

    /// Adds `rule` to `rules`: to the key subset's regex when it is in it, else as a
    /// rule searched on its own (or, past [`MAX_SEPARATE_RULES`], to the combined regex).
    fn add_rule(&self, rule: usize, rules: &mut Candidates) {
        match &self.key_subset {
            Some(subset) if !subset.rules.contains(&rule) => {
                if !rules.singles.contains(&rule) {
                    rules.singles.push(rule);
                    rules.all |= rules.singles.len() > MAX_SEPARATE_RULES;
                }
            }
            Some(_) => rules.key_rules = true,
            None => rules.all = true,
        }
    }

    /// The combined regex of all rules; `None` only if it is too big to build, when
    /// a plan searches with every rule's own regex instead, which finds the same.
    fn combined(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                let patterns: Vec<&str> = self.rules.iter().map(|r| r.pattern.as_str()).collect();
                build_many(&patterns).ok()
            })
            .as_ref()
    }

    /// The regexes that search `text` for `rules`.
    fn plan(&self, rules: &Candidates, text: &str) -> Plan<'_> {
        let all = || match self.combined() {
            Some(regex) => Plan {
                searchers: vec![Searcher::new(regex, None, None)],
            },
            // Every rule's regex compiles: the built-in ones are tested, the others
            // were compiled by `new`.
            None => Plan {
                searchers: (0..self.rules.len())
                    .filter_map(|rule| {
                        self.rule_regex(rule)
                            .map(|regex| Searcher::new(regex, None, Some(rule)))
                    })
                    .collect(),
            },
        };
        if rules.all {
            return all();
        }
        let mut searchers = Vec::with_capacity(rules.singles.len() + 1);
        // Most texts that hold a key word hold no separator after it (a JSON key such
        // as `prompt_tokens`): then no key rule can match.
        if let Some(subset) = &self.key_subset
            && rules.key_rules
            && subset
                .needs_one_of
                .as_ref()
                .is_none_or(|bytes| holds_one_of(text.as_bytes(), bytes))
        {
            searchers.push(Searcher::new(&subset.regex, Some(&subset.rules), None));
        }
        for &rule in &rules.singles {
            match self.rule_regex(rule) {
                Some(regex) => searchers.push(Searcher::new(regex, None, Some(rule))),
                None => return all(),
            }
        }
        Plan { searchers }
    }

    /// Rule `pid`'s own regex, compiled on first use.
    fn rule_regex(&self, pid: usize) -> Option<&Regex> {
        self.per_rule.get(pid).and_then(|cell| {
            // The combined regex compiled the same pattern, so this does too.
            cell.get_or_init(|| build_one(&self.rules.get(pid)?.pattern).ok())
                .as_ref()
        })
    }

    fn redact_rules<'a>(&self, text: &'a str, mut plan: Plan<'_>) -> Cow<'a, str> {
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            let Some(m) = plan.next_match(text, at) else {
                break;
            };
            let caps = self.groups(text, m);
            match self.replacement(text, m, &caps) {
                Ok((span, label)) => {
                    if copied == 0 {
                        out.reserve(text.len() + 32);
                    }
                    out.push_str(&text[copied..span.start]);
                    push_marker(&mut out, label);
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
        self.rules.get(pid)?.key_tail.as_ref()?;
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
        let key = Span::from(m.start()..key_end);
        if let Some(secret) = super::rules::key_value_secret(text, key_end, m.end()) {
            return Some(Groups {
                key: Some(key),
                secret: Some(secret),
            });
        }
        let tail = self
            .tails
            .get(pid)?
            .get_or_init(|| build_one(self.rules.get(pid)?.key_tail.as_ref()?).ok())
            .as_ref()?;
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
            key: Some(key),
            secret: caps.get_group_by_name("secret"),
        })
    }

    /// The groups of `m`, found by its rule's regex on the match alone. The rule alone
    /// finds the same match there (leftmost-first, look-around sees the whole text); if
    /// it ever did not, the combined regex resolves them as it used to.
    fn captures(&self, text: &str, m: Match) -> Captures {
        let input = Input::new(text).span(m.span());
        let mut own = self.rule_regex(m.pattern().as_usize()).map(|re| {
            let mut caps = re.create_captures();
            re.search_captures(&input.clone().anchored(Anchored::Yes), &mut caps);
            caps
        });
        if let Some(caps) = own.take_if(|caps| caps.get_match().map(|c| c.span()) == Some(m.span()))
        {
            return caps;
        }
        let Some(all) = self.combined() else {
            // Without the combined regex the rule's own reading is all there is.
            return own.unwrap_or_else(|| Captures::empty(GroupInfo::empty()));
        };
        let mut caps = all.create_captures();
        all.search_captures(&input.anchored(Anchored::Pattern(m.pattern())), &mut caps);
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
        // Whitespace at the end (a cut-off PEM key's line break) stays: a marker that
        // swallowed a line break would join the next line to it, and a joined line can
        // be read differently on a second pass (a JSON line no longer splits the block).
        let trailing = text[span.range()].len() - text[span.range()].trim_end().len();
        if trailing > 0 && trailing < span.len() {
            span = Span::from(span.start..span.end - trailing);
        }
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

impl<'e> Searcher<'e> {
    fn new(regex: &'e Regex, rules: Option<&'e [usize]>, single: Option<usize>) -> Self {
        Self {
            regex,
            rules,
            single,
            next: Next::Unknown,
        }
    }

    /// The searcher's first match starting at or after `at`, numbered by rule.
    fn next_from(&mut self, text: &str, at: usize) -> Option<Match> {
        match self.next {
            Next::Found(m) if m.start() >= at => return Some(m),
            Next::Done => return None,
            Next::Unknown | Next::Found(_) => {}
        }
        let found = self
            .regex
            .search(&Input::new(text).range(at..))
            .and_then(|found| {
                let local = found.pattern().as_usize();
                let rule = match (self.single, self.rules) {
                    (Some(rule), _) => Some(rule),
                    (None, Some(rules)) => rules.get(local).copied(),
                    (None, None) => Some(local),
                }?;
                let pid = regex_automata::PatternID::new(rule).ok()?;
                Some(Match::new(pid, found.span()))
            });
        self.next = found.map_or(Next::Done, Next::Found);
        found
    }
}

impl Plan<'_> {
    /// The match the combined regex of all rules would find from `at`: the leftmost of
    /// the searchers' matches and, at the same start, the one of the first rule.
    fn next_match(&mut self, text: &str, at: usize) -> Option<Match> {
        let mut best: Option<Match> = None;
        for searcher in &mut self.searchers {
            if let Some(m) = searcher.next_from(text, at) {
                let better = best.is_none_or(|b| {
                    (m.start(), m.pattern().as_usize()) < (b.start(), b.pattern().as_usize())
                });
                if better {
                    best = Some(m);
                }
            }
        }
        best
    }
}

/// Whether `text` holds one of `bytes`.
fn holds_one_of(text: &[u8], bytes: &[u8]) -> bool {
    match *bytes {
        [a] => memchr::memchr(a, text).is_some(),
        [a, b] => memchr::memchr2(a, b, text).is_some(),
        [a, b, c] => memchr::memchr3(a, b, c, text).is_some(),
        _ => text.iter().any(|b| bytes.contains(b)),
    }
}

/// One rule's regex (or part of one), with the syntax of the combined regex.
fn build_one(pattern: &str) -> Result<Regex, String> {
    Regex::builder()
        .syntax(syntax::Config::new().crlf(true))
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// The regex of several rules, one pattern each, with room for its lazy DFA.
fn build_many(patterns: &[&str]) -> Result<Regex, String> {
    Regex::builder()
        .configure(Regex::config().hybrid_cache_capacity(DFA_CACHE_BYTES))
        .syntax(syntax::Config::new().crlf(true))
        .build_many(patterns)
        .map_err(|e| e.to_string())
}

/// For each prefilter literal: the rules that have it, and the rules of the literals
/// a leftmost-longest hit on it can hide (inside it, or starting inside it and going
/// on after it), compared ASCII case-insensitively as the prefilter does.
fn anchor_rule_sets(rules: &[Rule], anchors: &[String]) -> (Vec<Vec<usize>>, Vec<Hidden>) {
    let lower: Vec<String> = anchors.iter().map(|a| a.to_ascii_lowercase()).collect();
    let own: Vec<Vec<usize>> = lower
        .iter()
        .map(|a| {
            rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.anchors
                        .as_ref()
                        .is_some_and(|list| list.iter().any(|l| l.eq_ignore_ascii_case(a)))
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let hidden = lower
        .iter()
        .map(|a| {
            let mut hidden = Hidden::default();
            for (other, b) in lower.iter().enumerate() {
                if a == b {
                    continue;
                }
                if a.contains(b.as_str()) {
                    hidden.inside.extend(own[other].iter().copied());
                    continue;
                }
                for k in 1..a.len().min(b.len()) {
                    if a.is_char_boundary(a.len() - k)
                        && b.is_char_boundary(k)
                        && a[a.len() - k..] == b[..k]
                    {
                        hidden.partial.push((other, k));
                    }
                }
            }
            hidden.inside.sort_unstable();
            hidden.inside.dedup();
            hidden
        })
        .collect();
    (own, hidden)
}

/// The rules whose literals include a sensitive key's (the key rules, and any other
/// rule a key word can start), compiled as one regex in their order; `None` when that
/// is every rule.
fn key_subset(rules: &[Rule], keys: &KeyMatcher) -> Result<Option<Subset>, RedactError> {
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
    let patterns: Vec<&str> = members.iter().map(|&i| rules[i].pattern.as_str()).collect();
    let regex = build_many(&patterns).map_err(|detail| RedactError::Pattern {
        name: "(key rules)".to_owned(),
        detail,
    })?;
    let needs_one_of = members
        .iter()
        .map(|&i| rules[i].needs_one_of)
        .collect::<Option<Vec<&[u8]>>>()
        .map(|all| {
            let mut bytes: Vec<u8> = all.concat();
            bytes.sort_unstable();
            bytes.dedup();
            bytes
        });
    Ok(Some(Subset {
        regex,
        rules: members,
        needs_one_of,
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
    MARKER_FINDER_REV
        .rfind(&text.as_bytes()[from..at])
        .is_some_and(|open| {
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

#[cfg(test)]
mod tests {
    use super::super::testgen::fill;
    use super::super::{RedactionConfig, Redactor};

    #[test]
    fn the_built_in_rules_compile_alone_and_together() {
        // `Engine::new` trusts the built-in rules to compile and builds their regexes
        // only when a text needs them.
        let redactor = Redactor::default();
        let engine = &redactor.engine;
        assert!(engine.combined().is_some(), "the combined regex compiles");
        for (i, rule) in engine.rules.iter().enumerate() {
            assert!(
                engine.rule_regex(i).is_some(),
                "rule {} compiles alone",
                rule.label
            );
        }
    }

    /// Pieces of log text: secrets of many rules, key words with and without a value,
    /// separators, and words that only look like a rule's literal.
    const PIECES: &[&str] = &[
        "AKIA{U:16}",
        "ghp_{a:36}",
        "eyJ{w:12}.{w:12}.{w:12}",
        "postgres://app:{a:10}@db.internal:5432/app",
        "https://example.com/path",
        "password={a:10}",
        "token: {a:14}",
        "prompt_tokens=12",
        "xoxb-{d:11}-{a:16}",
        "sk_live_{a:24}",
        "AIza{w:35}",
        "glpat-{w:20}",
        "hf_{a:34}",
        "npm_{a:36}",
        "hooks.slack.com/services/T{u:8}/B{u:8}/{a:24}",
        "session_id={h:32}&page=2",
        "--db-password {a:8}",
        "name: DB_PASSWORD\n  value: {a:9}",
        "Server=db;User Id=app;Password={a:8};",
        "-----BEGIN RSA PRIVATE KEY-----\n{b:48}\n-----END RSA PRIVATE KEY-----",
        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t{b:40}",
        "Authorization: Bearer {a:24}",
        "[REDACTED:token]",
        "secretName: db-creds",
        "passage",
        "skip",
        "compass",
        " ",
        " ",
        "\n",
        "\"",
        "=",
        ": ",
        "\\",
        ",",
        "@",
        "{l:6}",
    ];

    fn random_text() -> String {
        (0..fastrand::usize(1..14))
            .map(|_| fill(PIECES[fastrand::usize(..PIECES.len())]))
            .collect()
    }

    #[test]
    fn a_plan_of_the_rules_a_text_names_finds_what_the_combined_regex_finds() {
        let redactor =
            Redactor::new(&RedactionConfig::default()).expect("the built-in rules compile");
        let engine = &redactor.engine;
        let mut changed = 0;
        for _ in 0..3_000 {
            let text = random_text();
            let planned = engine.redact(&text);
            assert_eq!(
                planned,
                engine.redact_combined(&text),
                "a plan and the combined regex differ on {text:?}"
            );
            changed += usize::from(planned != text);
        }
        assert!(
            changed > 1_000,
            "only {changed} texts had anything redacted"
        );
    }

    #[test]
    fn a_marker_that_joins_a_url_to_its_at_sign_lets_the_url_rule_in_at_once() {
        // The key's line break is replaced, so `://` and `@` end up on one line and the
        // URL password rule, which the first pass's hits did not name, can match.
        let redactor =
            Redactor::new(&RedactionConfig::default()).expect("the built-in rules compile");
        let engine = &redactor.engine;
        let text = fill("es://app:{a:6}-----BEGIN OPENSSH PRIVATE KEY-----\n{b:12}&]:@db.internal");
        let once = engine.redact(&text).into_owned();
        assert_eq!(once, engine.redact_combined(&text));
        assert_eq!(engine.redact(&once), once, "not idempotent on {text:?}");
    }
}
