//! The one redactor in front of everything that leaves the system: LLM prompts,
//! committed reports, audit and log records.
//!
//! Two kinds of rule, one configuration:
//! - **key rules** ([`is_sensitive_key`]): a value under a sensitive key is replaced
//!   whatever it looks like: in JSON, in Kubernetes `env` entries
//!   (`{"name": "DB_PASSWORD", "value": "…"}`; `valueFrom` is a reference and stays),
//!   and in free text (`password=…`, `"token": "…"`, `--db-password …`).
//! - **value rules**: secrets recognised by shape anywhere, also inside longer strings
//!   (JWTs, cloud and vendor tokens of the gitleaks and detect-secrets rule sets, PEM
//!   private keys and their base64, passwords in URLs and connection strings, bearer
//!   tokens), plus the user's own patterns.
//! - **Secret manifests** written as YAML text: every `data:`/`stringData:` value.
//!
//! JSON text (a log line, a pretty document) is parsed into spans and redacted where
//! it stands, so only the secrets change; key order and spacing stay.
//!
//! A replacement says what was removed and keeps the rest readable:
//! `[REDACTED:aws_access_key]`, `https://user:[REDACTED:url_password]@host/`.
//! Redacting redacted output changes nothing.

mod engine;
mod json;
mod keys;
mod literals;
mod raw;
mod rules;
mod stream;
mod vendors;
mod yaml;

use std::borrow::Cow;

use serde::Deserialize;

use crate::config::{ConfigError, Env};
use crate::error::{Classify, ErrorKind};

pub use keys::is_sensitive_key;

/// Extra user patterns, as JSON: `[{"name": "ticket", "pattern": "TCK-[0-9]{6}"}]`.
pub const PATTERNS_VAR: &str = "AIOPS_REDACT_PATTERNS";
/// Extra sensitive key names, comma separated: `vault_ref,x-internal-auth`.
pub const KEYS_VAR: &str = "AIOPS_REDACT_KEYS";

/// A user pattern. When the regex has a group named `secret`, only that group is
/// replaced; otherwise the whole match is. The name is the label in the marker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Label in `[REDACTED:<name>]`: letters, digits, `_`, `-` and `.`.
    pub name: String,
    /// A regex in the syntax of the `regex` crate.
    pub pattern: String,
}

/// What to redact beyond the built-in rules. `Default` is built-in only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Extra sensitive key names, matched like the built-in ones (see [`is_sensitive_key`]).
    pub extra_keys: Vec<String>,
    /// Extra value patterns.
    pub extra_patterns: Vec<CustomPattern>,
}

impl RedactionConfig {
    /// Reads [`PATTERNS_VAR`] and [`KEYS_VAR`]; both optional. Every pattern is checked
    /// here so that a bad one is reported against its variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let extra_patterns: Vec<CustomPattern> = match env.get(PATTERNS_VAR) {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| ConfigError::invalid(PATTERNS_VAR, EXPECTED, Some(e.to_string())))?,
        };
        let extra_keys = env
            .get(KEYS_VAR)
            .map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let config = Self {
            extra_keys,
            extra_patterns,
        };
        config.validate().map_err(RedactError::into_config_error)?;
        Ok(config)
    }

    /// Checks names, keys and each regex on its own (cheaper than building a redactor).
    fn validate(&self) -> Result<(), RedactError> {
        for key in &self.extra_keys {
            if keys::words(key).is_empty() {
                return Err(RedactError::Key { key: key.clone() });
            }
        }
        for p in &self.extra_patterns {
            custom_rule(p)?;
        }
        Ok(())
    }
}

/// What the two redaction variables must hold.
const EXPECTED: &str = r#"a JSON array of {"name", "pattern"} objects with valid regexes"#;

/// Why a redaction configuration was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RedactError {
    /// A pattern does not compile, or its name cannot be used as a label.
    #[error("redaction pattern {name:?}: {detail}")]
    Pattern {
        /// The pattern's name (built-in rule label for built-ins).
        name: String,
        /// What is wrong; never the text being redacted.
        detail: String,
    },
    /// An extra key name has no letters or digits, so it would match nothing.
    #[error("redaction key {key:?} has no letters or digits")]
    Key {
        /// The key as configured.
        key: String,
    },
}

impl Classify for RedactError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

fn custom_rule(p: &CustomPattern) -> Result<rules::Rule, RedactError> {
    let err = |detail: String| RedactError::Pattern {
        name: p.name.clone(),
        detail,
    };
    let name_ok = !p.name.is_empty()
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !name_ok {
        return Err(err(
            "the name must be non-empty letters, digits, '_', '-' or '.'".to_owned(),
        ));
    }
    let hir = regex_syntax::ParserBuilder::new()
        .crlf(true)
        .build()
        .parse(&p.pattern)
        .map_err(|e| err(e.to_string()))?;
    if hir.properties().minimum_len().unwrap_or(0) == 0 {
        return Err(err("the pattern can match empty text".to_owned()));
    }
    Ok(rules::Rule {
        label: p.name.clone(),
        pattern: p.pattern.clone(),
        check: rules::Check::Shape,
        anchors: required_literals(&hir),
        key_tail: None,
        needs_one_of: None,
    })
}

/// Literals one of which starts (or else ends) every match of `hir`, for the prefilter.
fn required_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .find_map(|kind| {
            let seq = Extractor::new().kind(kind).extract(hir);
            let literals = seq.literals()?;
            let usable = !literals.is_empty() && literals.iter().all(|l| l.len() >= 2);
            usable.then(|| {
                literals
                    .iter()
                    .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                    .collect()
            })
        })
        .filter(|lits: &Vec<String>| lits.iter().all(|l| !l.contains('\u{fffd}')))
}

/// Redacts text and JSON. Cheap to share (`Arc<Redactor>`); build it once.
#[derive(Debug)]
pub struct Redactor {
    engine: engine::Engine,
}

impl RedactError {
    /// The configuration error naming the variable this came from.
    pub fn into_config_error(self) -> ConfigError {
        let var = match self {
            Self::Key { .. } => KEYS_VAR,
            Self::Pattern { .. } => PATTERNS_VAR,
        };
        ConfigError::invalid(var, EXPECTED, Some(self.to_string()))
    }
}

impl Redactor {
    /// The redactor the environment configures: the built-in rules plus
    /// [`PATTERNS_VAR`] and [`KEYS_VAR`].
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Self::configured(&RedactionConfig::from_env(env)?)
    }

    /// [`Self::new`] for a binary's configuration: a bad rule is reported against the
    /// variable it came from. Every binary builds its redactor here.
    pub fn configured(config: &RedactionConfig) -> Result<Self, ConfigError> {
        Self::new(config).map_err(RedactError::into_config_error)
    }

    /// Compiles `config`'s additions (to report a bad one), the prefilter and the key
    /// rules; each built-in rule alone, and all rules together, are compiled when a text
    /// first needs them.
    pub fn new(config: &RedactionConfig) -> Result<Self, RedactError> {
        config.validate()?;
        let keys = keys::KeyMatcher::new(&config.extra_keys);
        let mut all = rules::builtin(&keys);
        let builtin = all.len();
        for p in &config.extra_patterns {
            all.push(custom_rule(p)?);
        }
        Ok(Self {
            engine: engine::Engine::new(all, keys, builtin)?,
        })
    }

    /// Free text (log lines, event messages, container args). Borrowed when nothing
    /// was found.
    pub fn redact_text<'a>(&self, input: &'a str) -> Cow<'a, str> {
        self.engine.redact(input)
    }

    /// A JSON value in place: values under sensitive keys, then every string.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        json::redact_value(&self.engine, value);
    }

    /// A JSON document, JSON lines, or any text mixing JSON lines with other lines. Each
    /// JSON line is redacted as JSON; other lines as text. A line that needed no change
    /// is returned byte for byte; in a changed JSON line or document only the replaced
    /// strings change (key order, spacing and escapes elsewhere stay as they were).
    pub fn redact_json_text(&self, input: &str) -> String {
        if let Some(out) = json::redact_document(&self.engine, input) {
            return out;
        }
        let mut out = Vec::with_capacity(input.len());
        // Writing into a Vec cannot fail.
        let _ = self.redact_stream(input.as_bytes(), &mut out);
        let out = String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        // Text redaction can turn a document that was almost JSON into JSON (see
        // `raw::redacted_into_json`); it then gets the JSON rules, as it would on a
        // second pass.
        json::redact_document(&self.engine, &out).unwrap_or(out)
    }

    /// [`Self::redact_json_text`] over a reader, line by line, so input of any size runs
    /// in bounded memory. Invalid UTF-8 is replaced with U+FFFD.
    pub fn redact_stream<R: std::io::BufRead, W: std::io::Write>(
        &self,
        reader: R,
        writer: W,
    ) -> std::io::Result<()> {
        stream::LineRedactor::new(&self.engine, writer).run(reader)
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&RedactionConfig::default()).expect("the built-in redaction rules compile")
    }
}

#[cfg(test)]
mod shape_tests;
#[cfg(test)]
pub(crate) mod testgen;
#[cfg(test)]
mod tests;
