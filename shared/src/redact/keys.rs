//! Which key names hold secrets.
//!
//! A key is split into lowercase words (on any non-alphanumeric character and on
//! camelCase humps: `githubToken` → `github token`, `APIKey` → `api key`). It is
//! sensitive when its words *end with* (or equal) one of the sensitive phrases below,
//! compared with the word separators removed, so `db_password`, `x-api-key`,
//! `xApiKey`, `apikey` and `AWS_SECRET_ACCESS_KEY` match, while `tokens_used`,
//! `max_tokens`, `token_count`, `token_type`, `secretName`, `session_count` and
//! `bypass` do not: a secret's key names the secret last, and a key that goes on after
//! the sensitive word (`_count`, `_type`, `Name`, `Ref`) describes it instead of holding it.

/// Built-in sensitive phrases (words separated by `_`) and the label their values get.
const BUILTIN: &[(&str, &str)] = &[
    ("password", "password"),
    ("passwd", "password"),
    ("pwd", "password"),
    ("pass", "password"),
    ("passphrase", "password"),
    ("secret", "secret"),
    ("secret_key", "secret_key"),
    ("aws_secret_key", "aws_secret_key"),
    ("secret_access_key", "aws_secret_key"),
    ("token", "token"),
    ("jwt", "token"),
    ("api_key", "api_key"),
    ("private_key", "private_key"),
    ("signing_key", "private_key"),
    ("encryption_key", "encryption_key"),
    ("authorization", "authorization"),
    ("auth", "authorization"),
    ("cookie", "cookie"),
    ("credential", "credentials"),
    ("credentials", "credentials"),
    ("session", "session"),
    ("session_id", "session"),
    ("pat", "token"),
    ("app_key", "api_key"),
    ("application_key", "api_key"),
    ("routing_key", "routing_key"),
    ("integration_key", "integration_key"),
    ("service_key", "service_key"),
    ("key_data", "private_key"),
    ("tls_key", "private_key"),
    ("ssl_key", "private_key"),
    ("master_key", "secret_key"),
];

/// Words people glue to a sensitive word in one-word environment names (`PGPASSWORD`,
/// `APITOKEN`, `CLIENTSECRET`, `identitytoken`). Only these count, so that `bypass`,
/// `compass`, `oauth` and `mytoken` stay plain words.
const GLUED_PREFIXES: &[&str] = &[
    "access",
    "account",
    "admin",
    "api",
    "app",
    "auth",
    "bearer",
    "bot",
    "client",
    "db",
    "deploy",
    "encryption",
    "ftp",
    "github",
    "gitlab",
    "identity",
    "ldap",
    "master",
    "mysql",
    "npm",
    "oauth",
    "pg",
    "private",
    "redis",
    "refresh",
    "registry",
    "root",
    "secret",
    "service",
    "session",
    "signing",
    "smtp",
    "storage",
    "user",
    "vault",
    "webhook",
];

/// File-style keys (`tls.key`, `server.key` in Helm values and Secret data) hold keys.
const FILE_KEY_SUFFIX: &str = ".key";

/// One sensitive phrase.
#[derive(Debug, Clone)]
struct Phrase {
    /// The lowercase words.
    words: Vec<String>,
    /// The words concatenated, which is what a key's tail is compared with.
    joined: String,
    /// What the redaction marker says was removed.
    label: String,
}

/// Matches key names against the built-in and configured sensitive phrases.
#[derive(Debug, Clone)]
pub(crate) struct KeyMatcher {
    /// Longest first, so the most specific phrase names the label.
    phrases: Vec<Phrase>,
    /// Most keys contain no anchor at all; they are refused without splitting them.
    quick: Option<aho_corasick::AhoCorasick>,
}

/// `key` split into words: the lowercase concatenation and where each word starts in it.
fn split_words(key: &str) -> (String, Vec<usize>) {
    if key.is_ascii() {
        split_ascii_words(key.as_bytes())
    } else {
        split_any_words(key)
    }
}

/// [`split_words`] of an ASCII key, byte by byte: what nearly every key is, and the
/// Unicode case tables cost more than the rest of a label lookup.
fn split_ascii_words(key: &[u8]) -> (String, Vec<usize>) {
    let mut joined = String::with_capacity(key.len());
    let mut starts = Vec::with_capacity(4);
    let mut prev: Option<u8> = None;
    for (i, &c) in key.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            prev = None;
            continue;
        }
        let hump = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase()
                        && key.get(i + 1).is_some_and(u8::is_ascii_lowercase))
            });
        if prev.is_none() || hump {
            starts.push(joined.len());
        }
        joined.push(char::from(c.to_ascii_lowercase()));
        prev = Some(c);
    }
    (joined, starts)
}

/// [`split_words`] of any key.
fn split_any_words(key: &str) -> (String, Vec<usize>) {
    let mut joined = String::with_capacity(key.len());
    let mut starts = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            prev = None;
            continue;
        }
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && chars.peek().is_some_and(|n| n.is_lowercase()))
            });
        if prev.is_none() || hump {
            starts.push(joined.len());
        }
        joined.extend(c.to_lowercase());
        prev = Some(c);
    }
    (joined, starts)
}

/// The lowercase words of a key, for labels and regex alternations.
pub(crate) fn words(key: &str) -> Vec<String> {
    let (joined, starts) = split_words(key);
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let end = starts.get(i + 1).copied().unwrap_or(joined.len());
            joined[s..end].to_owned()
        })
        .collect()
}

impl KeyMatcher {
    /// The built-in phrases plus `extra` key names (each normalised into words; its
    /// label is its words joined with `_`). Extra keys without any word are skipped.
    pub(crate) fn new(extra: &[String]) -> Self {
        let builtin = BUILTIN
            .iter()
            .map(|(phrase, label)| (words(phrase), (*label).to_owned()));
        let custom = extra.iter().map(|k| {
            let w = words(k);
            let label = w.join("_");
            (w, label)
        });
        let mut phrases: Vec<Phrase> = builtin
            .chain(custom)
            .filter(|(w, _)| !w.is_empty())
            .map(|(words, label)| Phrase {
                joined: words.concat(),
                words,
                label,
            })
            .collect();
        phrases.sort_by_key(|p| std::cmp::Reverse(p.joined.len()));
        phrases.dedup_by(|a, b| a.joined == b.joined);
        let mut matcher = Self {
            phrases,
            quick: None,
        };
        // Only fails on absurd sizes; without it every key is split, which is correct.
        matcher.quick = matcher.anchors().and_then(|anchors| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(anchors)
                .ok()
        });
        matcher
    }

    /// The label for values under `key`, or `None` when the key is not sensitive.
    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        if self.quick.as_ref().is_some_and(|q| !q.is_match(key)) {
            return None;
        }
        let (joined, starts) = split_words(key);
        let last_word = starts.last().map_or("", |&s| &joined[s..]);
        self.phrases
            .iter()
            .find(|p| {
                joined.ends_with(&p.joined) && starts.contains(&(joined.len() - p.joined.len()))
            })
            .or_else(|| {
                // One word glued from a known prefix and a one-word phrase.
                self.phrases.iter().find(|p| {
                    p.words.len() == 1
                        && last_word.len() > p.joined.len()
                        && last_word.ends_with(&p.joined)
                        && GLUED_PREFIXES.contains(&&last_word[..last_word.len() - p.joined.len()])
                })
            })
            .map(|p| p.label.as_str())
            .or_else(|| {
                let file_key = key.len() > FILE_KEY_SUFFIX.len()
                    && key.is_char_boundary(key.len() - FILE_KEY_SUFFIX.len())
                    && key[key.len() - FILE_KEY_SUFFIX.len()..]
                        .eq_ignore_ascii_case(FILE_KEY_SUFFIX)
                    && !key.starts_with('.');
                file_key.then_some("private_key")
            })
    }

    /// A case-insensitive regex alternation that every sensitive key's tail matches,
    /// for the free-text rules (which then confirm the key with [`Self::label`]).
    pub(crate) fn regex_alternation(&self) -> String {
        let alternatives: Vec<String> = self
            .phrases
            .iter()
            .map(|p| {
                p.words
                    .iter()
                    .map(|w| regex_syntax::escape(w))
                    .collect::<Vec<_>>()
                    .join("[_.-]?")
            })
            .collect();
        format!("(?i:{}|\\.key)", alternatives.join("|"))
    }

    /// Literals (compared ASCII case-insensitively) at least one of which occurs in
    /// every sensitive key, for the prefilter. `None` when a phrase is not ASCII, as
    /// ASCII case folding could then miss a spelling.
    pub(crate) fn anchors(&self) -> Option<Vec<String>> {
        if !self.phrases.iter().all(|p| p.joined.is_ascii()) {
            return None;
        }
        let mut out = Vec::new();
        for p in &self.phrases {
            if p.words.len() > 3 {
                if let Some(longest) = p.words.iter().max_by_key(|w| w.len()) {
                    out.push(longest.clone());
                }
                continue;
            }
            let mut variants = vec![p.words[0].clone()];
            for word in &p.words[1..] {
                variants = variants
                    .iter()
                    .flat_map(|v| ["", "_", "-", "."].map(|sep| format!("{v}{sep}{word}")))
                    .collect();
            }
            out.extend(variants);
        }
        out.push(FILE_KEY_SUFFIX.to_owned());
        out.sort();
        out.dedup();
        Some(out)
    }
}

/// Whether values under `key` are redacted by the built-in key rules.
pub fn is_sensitive_key(key: &str) -> bool {
    builtin().label(key).is_some()
}

/// The built-in matcher, built once.
pub(crate) fn builtin() -> &'static KeyMatcher {
    static BUILTIN_MATCHER: std::sync::OnceLock<KeyMatcher> = std::sync::OnceLock::new();
    BUILTIN_MATCHER.get_or_init(|| KeyMatcher::new(&[]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ascii_keys_split_into_the_same_words_byte_by_byte() {
        // Random keys from the characters that decide a split: cases, digits and
        // separators, in runs like real names (`DB_PASSWORD2`, `xAPIKey`).
        let alphabet = b"aAbBzZkKpP09_-. /";
        for _ in 0..20_000 {
            let len = fastrand::usize(0..16);
            let key: String = (0..len)
                .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
                .collect();
            assert_eq!(
                split_ascii_words(key.as_bytes()),
                split_any_words(&key),
                "key {key:?}"
            );
        }
    }

    #[test]
    fn keys_ending_with_a_sensitive_word_in_any_spelling_are_sensitive() {
        for key in [
            "password",
            "PASSWORD",
            "db_password",
            "DB-PASSWORD",
            "dbPassword",
            "githubToken",
            "GITHUB_TOKEN",
            "x-api-key",
            "X-Api-Key",
            "apiKey",
            "APIKey",
            "apikey",
            "api_key",
            "AWS_SECRET_ACCESS_KEY",
            "aws_secret_access_key",
            "client_secret",
            "clientSecret",
            "Authorization",
            "proxy-authorization",
            "Cookie",
            "Set-Cookie",
            "private_key",
            "privateKey",
            "credentials",
            "session",
            "session_id",
            "sessionId",
            "passwd",
            "spring.datasource.password",
            "--db-password",
        ] {
            assert!(is_sensitive_key(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn keys_that_describe_rather_than_hold_a_secret_are_not_sensitive() {
        for key in [
            "tokens_used",
            "max_tokens",
            "maxTokens",
            "token_count",
            "token_type",
            "session_count",
            "secretName",
            "secret_ref",
            "secretKeyRef",
            "bypass",
            "compass",
            "oauth",
            "author",
            "mytoken",
            "private_key_id",
            "AWS_ACCESS_KEY_ID",
            "key",
            "name",
            "passed",
            "",
            "---",
        ] {
            assert!(!is_sensitive_key(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn labels_come_from_the_most_specific_phrase() {
        let m = builtin();
        assert_eq!(m.label("AWS_SECRET_ACCESS_KEY"), Some("aws_secret_key"));
        assert_eq!(m.label("db_passwd"), Some("password"));
        assert_eq!(m.label("x-api-key"), Some("api_key"));
        assert_eq!(m.label("githubToken"), Some("token"));
    }

    #[test]
    fn extra_keys_are_matched_as_phrases_with_their_own_label() {
        let m = KeyMatcher::new(&["vault-ref".to_owned(), "PIN".to_owned()]);
        assert_eq!(m.label("VAULT_REF"), Some("vault_ref"));
        assert_eq!(m.label("backupVaultRef"), Some("vault_ref"));
        assert_eq!(m.label("card_pin"), Some("pin"));
        assert_eq!(m.label("spinner"), None);
    }

    #[test]
    fn camel_case_humps_and_acronyms_split_into_words() {
        assert_eq!(words("HTTPProxyToken"), ["http", "proxy", "token"]);
        assert_eq!(words("db2Password"), ["db2", "password"]);
        assert_eq!(words("x-api_KEY"), ["x", "api", "key"]);
    }

    #[test]
    fn every_sensitive_key_contains_an_anchor() {
        let m = builtin();
        let anchors = m.anchors().unwrap();
        for key in ["xApiKey", "x.api.key", "AWS_SECRET_ACCESS_KEY", "sessionId"] {
            let lower = key.to_ascii_lowercase();
            assert!(anchors.iter().any(|a| lower.contains(a.as_str())), "{key}");
        }
    }
}
