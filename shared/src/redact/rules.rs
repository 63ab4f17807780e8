//! The built-in value rules: secrets recognised by their shape or by the key in front.
//!
//! Every rule is one regex; all rules (and the user's) are compiled into one
//! multi-pattern automaton, and at a given position the rule listed first wins, so
//! specific shapes come before the generic `key=value` rule. A rule that names a
//! `secret` group has only that group replaced, which keeps the readable rest
//! (`https://user:[REDACTED:url_password]@host`); otherwise the whole match is.
//!
//! Regexes use ASCII word boundaries `(?-u:\b)`: Unicode ones would force the slow
//! engines on any non-ASCII text.

use super::keys::KeyMatcher;

/// How a match is turned into a replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// The match (or its `secret` group) is a secret labelled with the rule's label.
    Shape,
    /// The `key` group must be a sensitive key; its phrase names the label.
    Key,
    /// Like [`Check::Shape`], but a bearer token that is a JWT says so.
    Bearer,
    /// Base64 text that starts like a PEM block: a secret only when the decoded
    /// header says `PRIVATE KEY` (a base64 certificate is evidence).
    Base64Pem,
}

/// One rule before compilation.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The label in `[REDACTED:<label>]`, and the name in errors.
    pub(crate) label: String,
    pub(crate) pattern: String,
    pub(crate) check: Check,
    /// Literals (ASCII case-insensitive) one of which every match contains; `None` when
    /// the rule cannot be prefiltered.
    pub(crate) anchors: Option<Vec<String>>,
    /// For a rule whose match starts with its `key` group, a run of `[A-Za-z0-9_.-]`
    /// that the rest cannot start with: the pattern of that rest. Its groups are then
    /// resolved by this small pattern alone, which costs a fraction of the whole rule's
    /// (whose key alternation makes a backtracking search slow).
    pub(crate) key_tail: Option<String>,
    /// Bytes one of which every match contains, when the rule's regex says so plainly
    /// (a separator such as `=`): a text without any cannot match.
    pub(crate) needs_one_of: Option<&'static [u8]>,
}

/// A value after `key=`, `key: ` or `"key": `: quoted (JSON-escaped quotes too) or a
/// bare word that stops at the usual delimiters of logfmt, query strings and
/// connection strings. A bare word does not start an object or array (`"secret": {`
/// is structure, not a value) and does not end in a closing bracket, which belongs to
/// the surrounding `{k: v}` / `map[k:v]` more often than to the secret.
const VALUE: &str = concat!(
    r#"\\"(?:[^"\\\r\n]|\\[^"\r\n])*\\"|"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|"#,
    r#"(?:[^\s"'&;,\\<>{\[]|[{\[][^\s"'&;,\\<>{\[]|\\[^"'\s])"#,
    r#"(?:(?:[^\s"'&;,\\<>]|\\[^"'\s])*(?:[^\s"'&;,\\<>\]})]|\\[^"'\s]))?"#,
);

/// What follows the key in the `key=value` rule: the separator, an optional scheme
/// word, the value. It cannot start with a key character.
fn key_value_tail() -> String {
    format!(
        r#"\\?["']?[ \t]*[:=][ \t]*(?:(?i:{schemes})[ \t]+)?(?P<secret>{VALUE})"#,
        schemes = SCHEMES.join("|")
    )
}

/// The schemes [`key_value_tail`] allows before a value (`Authorization: Bearer …`).
const SCHEMES: [&str; 5] = ["bearer", "basic", "token", "digest", "negotiate"];

/// The `secret` group of a [`key_value_tail`] match that runs from `from` (just after
/// the key) to `end`, read without a regex: the separator, then an optional scheme
/// word, then the value up to `end`. `None` when the text is not that simple (no
/// separator where one must be, or non-ASCII text where the scheme may be, which the
/// regex's Unicode case folding reads its own way): the tail's regex then decides.
/// `tail_reading_matches_the_regex` checks the two agree.
pub(crate) fn key_value_secret(
    text: &str,
    from: usize,
    end: usize,
) -> Option<regex_automata::Span> {
    let bytes = text.as_bytes().get(..end)?;
    let blank = |at: usize| matches!(bytes.get(at), Some(b' ' | b'\t'));
    let mut at = from;
    if bytes.get(at) == Some(&b'\\') {
        at += 1;
    }
    if matches!(bytes.get(at), Some(b'"' | b'\'')) {
        at += 1;
    }
    while blank(at) {
        at += 1;
    }
    if !matches!(bytes.get(at), Some(b':' | b'=')) {
        return None;
    }
    at += 1;
    while blank(at) {
        at += 1;
    }
    let near = bytes.get(at..end.min(at + 16))?;
    if !near.is_ascii() {
        return None;
    }
    if let Some(word) = SCHEMES
        .iter()
        .find(|w| near.len() > w.len() && near[..w.len()].eq_ignore_ascii_case(w.as_bytes()))
    {
        let mut after = at + word.len();
        if blank(after) {
            while blank(after) {
                after += 1;
            }
            // The scheme is taken when a value follows it within the match.
            if after < end {
                at = after;
            }
        }
    }
    (at < end).then(|| regex_automata::Span::from(at..end))
}

pub(crate) fn shape(label: &str, pattern: &str, anchors: &[&str]) -> Rule {
    Rule {
        label: label.to_owned(),
        pattern: pattern.to_owned(),
        check: Check::Shape,
        anchors: Some(anchors.iter().map(|a| (*a).to_owned()).collect()),
        key_tail: None,
        needs_one_of: None,
    }
}

/// The built-in rules, in priority order, with the key rules built from `keys`.
#[allow(clippy::too_many_lines)]
pub(crate) fn builtin(keys: &KeyMatcher) -> Vec<Rule> {
    let k = keys.regex_alternation();
    let key_anchors = keys.anchors();
    let key_rule = |pattern: String| Rule {
        label: "key".to_owned(),
        pattern,
        check: Check::Key,
        anchors: key_anchors.clone(),
        key_tail: None,
        // `key=value` and `name: … value: …` need a `:` or `=`, `--flag value` a `-`.
        needs_one_of: Some(b":=-"),
    };
    let mut rules = vec![
        // PEM in every flavour (RSA, EC, DSA, PKCS#8, ENCRYPTED, OPENSSH, PGP's
        // `PRIVATE KEY BLOCK`), also cut off before its END line.
        shape(
            "private_key",
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)",
            &["private key"],
        ),
        Rule {
            check: Check::Base64Pem,
            ..shape(
                "private_key",
                r"(?-u:\b)LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}",
                &["ls0tls1crudjti"],
            )
        },
        shape(
            "private_key",
            r"PuTTY-User-Key-File-[0-9]+:[\s\S]*?Private-MAC:[ \t]*[0-9a-fA-F]+",
            &["putty-user-key-file"],
        ),
        shape(
            "age_secret_key",
            r"(?-u:\b)AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
            &["age-secret-key-1"],
        ),
        shape(
            "jwt",
            r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            &["eyj"],
        ),
        shape(
            "aws_access_key",
            r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
            &["akia", "asia"],
        ),
        shape(
            "github_token",
            r"(?-u:\b)gh[pousr]_[A-Za-z0-9]{36}(?-u:\b)",
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        ),
        shape(
            "github_token",
            r"(?-u:\b)github_pat_[A-Za-z0-9_]{22,}",
            &["github_pat_"],
        ),
        shape(
            "slack_token",
            r"(?-u:\b)(?:xox[abprse]-|xoxe\.xox[bp]-|xapp-[0-9]-)[A-Za-z0-9-]{10,}",
            &[
                "xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-", "xoxe-", "xoxe.", "xapp-",
            ],
        ),
        shape(
            "slack_webhook",
            r"hooks\.slack\.com/(?P<secret>(?:services|workflows|triggers)/[A-Za-z0-9/_-]+)",
            &["hooks.slack.com"],
        ),
    ];
    rules.extend(super::vendors::rules());
    rules.extend([
        Rule {
            check: Check::Bearer,
            ..shape(
                "bearer",
                r"(?-u:\b)(?i:bearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)",
                &["bearer"],
            )
        },
        // The password may contain ':' (only the first one ends the user name) and
        // even an unencoded '@' (the last one before the host ends it).
        shape(
            "url_password",
            r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s:@/?#"'<>\\]*:(?P<secret>[^\s/?#"'<>\\]+)@"#,
            &["://"],
        ),
        // Oracle's `jdbc:oracle:thin:scott/tiger@host:1521/db`.
        shape(
            "url_password",
            r#"(?i:jdbc:oracle:[a-z]+):[^\s/@:"']+/(?P<secret>[^\s@"']+)@"#,
            &["jdbc:oracle:"],
        ),
        // ADO.NET / JDBC style `...;Password=p w;`: up to the next ';', spaces included.
        Rule {
            needs_one_of: Some(b";"),
            ..shape(
                "password",
                r#";[ \t]*(?i:password|pwd)[ \t]*=[ \t]*(?P<secret>[^;"'\r\n]*[^;"'\r\n \t])"#,
                &["password", "pwd"],
            )
        },
        // Kubernetes env entries in JSON, YAML block or flow style:
        // `name: DB_PASSWORD` then `value: ...` on the same or the next line.
        key_rule(format!(
            r#"(?-u:\b)(?i:name)\\?["']?[ \t]*[:=][ \t]*\\?["']?(?P<key>[A-Za-z0-9_.-]*{k})\\?["']?[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?\\?["']?(?i:value)\\?["']?[ \t]*[:=][ \t]*(?P<secret>{VALUE})"#
        )),
        // `key=value`, `key: value`, `"key": "value"`, `Authorization: Basic xyz`.
        Rule {
            key_tail: Some(format!(r"(?:{})\z", key_value_tail())),
            ..key_rule(format!(r"(?P<key>[A-Za-z0-9_.-]*{k}){}", key_value_tail()))
        },
        // Command-line flags: `--db-password hunter2`, also as a quoted list
        // `["--db-password", "hunter2"]`.
        key_rule(format!(
            r#"(?:^|[\s"'\[,])--?(?P<key>[A-Za-z0-9_.-]*{k})(?:[ \t]+|\\?["'][ \t]*,[ \t]*(?:\r?\n[ \t]*)?\\?["'])(?P<secret>[^\s"'\\-][^\s"'\\]*)"#
        )),
    ]);
    rules
}

#[cfg(test)]
mod tests {
    use regex_automata::meta::Regex;
    use regex_automata::util::syntax;

    use super::*;

    /// A random piece of what may follow a key in text.
    fn piece() -> String {
        let pieces = [
            "\\",
            "\"",
            "'",
            " ",
            "\t",
            ":",
            "=",
            "==",
            ": ",
            " = ",
            "\\\"",
            "bearer",
            "Bearer",
            "BASIC",
            "token",
            "Digest",
            "negotiate",
            "bearerx",
            " ",
            "  ",
            "\t ",
            ",",
            "&",
            ";",
            "{",
            "[",
            "]",
            "}",
            "\r\n",
            "ü",
            "é",
        ];
        match fastrand::u8(..4) {
            0 => super::super::testgen::random("a", fastrand::usize(1..12)),
            1 => format!(
                "\"{}\"",
                super::super::testgen::random("a", fastrand::usize(0..6))
            ),
            _ => pieces[fastrand::usize(..pieces.len())].to_owned(),
        }
    }

    #[test]
    fn tail_reading_matches_the_regex() {
        // The key=value rule alone, with its groups, as the engine would resolve them.
        let keys = KeyMatcher::new(&[]);
        let rule = builtin(&keys)
            .into_iter()
            .find(|r| r.key_tail.is_some())
            .expect("the key=value rule has a tail");
        let regex = Regex::builder()
            .syntax(syntax::Config::new().crlf(true))
            .build(&rule.pattern)
            .expect("the rule compiles");
        let mut compared = 0;
        for _ in 0..20_000 {
            let key = "api_token";
            let tail: String = (0..fastrand::usize(1..7)).map(|_| piece()).collect();
            let text = format!("{key}{tail}");
            let mut caps = regex.create_captures();
            regex.captures(&text, &mut caps);
            let Some(m) = caps.get_match().filter(|m| m.start() == 0) else {
                continue;
            };
            if caps.get_group_by_name("key").map(|k| k.end) != Some(key.len()) {
                continue;
            }
            if let Some(secret) = key_value_secret(&text, key.len(), m.end()) {
                assert_eq!(
                    Some(secret),
                    caps.get_group_by_name("secret"),
                    "the value read by hand differs from the regex's in {text:?}"
                );
                compared += 1;
            }
        }
        assert!(compared > 1_000, "only {compared} tails were compared");
    }
}
