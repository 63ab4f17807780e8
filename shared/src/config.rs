//! Configuration from the environment.
//!
//! Every binary parses one configuration struct, once, at start-up. The process
//! environment is read here and nowhere else: logic receives an [`Env`] so tests pass a
//! map instead of mutating the real environment. Errors name the variable and what was
//! expected, and never echo a value that could be a secret.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A configuration error, naming the variable and what it should have held.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("{var} is not set: expected {expected}")]
    Missing {
        /// The variable's name.
        var: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A variable is set to something that cannot be used.
    #[error("{var} is invalid: expected {expected}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Invalid {
        /// The variable's name.
        var: String,
        /// What a valid value looks like.
        expected: String,
        /// Why the value was refused; never the value itself, which may be a secret.
        detail: Option<String>,
    },
}

impl ConfigError {
    /// A variable holds something other than what was expected.
    pub fn invalid(var: &str, expected: impl Into<String>, detail: Option<String>) -> Self {
        Self::Invalid {
            var: var.to_owned(),
            expected: expected.into(),
            detail,
        }
    }

    /// A required variable is missing.
    pub fn missing(var: &str, expected: impl Into<String>) -> Self {
        Self::Missing {
            var: var.to_owned(),
            expected: expected.into(),
        }
    }

    /// The name of the variable this error is about.
    pub fn var(&self) -> &str {
        match self {
            Self::Missing { var, .. } | Self::Invalid { var, .. } => var,
        }
    }
}

/// A source of configuration variables: the process environment, or a map in tests.
pub trait Env: Send + Sync {
    /// The raw value of `name`; `None` when unset. Empty values count as unset.
    fn raw(&self, name: &str) -> Option<String>;

    /// An optional string variable.
    fn get(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.trim().is_empty())
    }

    /// A required string variable.
    fn require(&self, name: &str, expected: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::missing(name, expected))
    }

    /// An optional variable parsed with [`FromStr`]; `expected` describes a valid value.
    fn parse<T: FromStr>(&self, name: &str, expected: &str) -> Result<Option<T>, ConfigError>
    where
        Self: Sized,
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<T>()
                    .map_err(|e| ConfigError::invalid(name, expected, Some(e.to_string())))
            })
            .transpose()
    }

    /// An optional boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    fn flag(&self, name: &str) -> Result<Option<bool>, ConfigError>
    where
        Self: Sized,
    {
        self.get(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::invalid(name, "true or false", None)),
            })
            .transpose()
    }

    /// An optional duration: a number with a unit `ms`, `s`, `m` or `h` (`250ms`, `30s`, `2h`).
    fn duration(&self, name: &str) -> Result<Option<Duration>, ConfigError>
    where
        Self: Sized,
    {
        self.get(name)
            .map(|v| {
                parse_duration(&v).ok_or_else(|| {
                    ConfigError::invalid(name, "a duration such as 250ms, 30s, 5m or 2h", None)
                })
            })
            .transpose()
    }

    /// An optional path.
    fn path(&self, name: &str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from)
    }
}

/// Parses a duration as `humantime` writes it (`250ms`, `30s`, `5m`, `2h`, `1d`,
/// `1h 30m`). A bare number is seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok().map(Duration::from_secs);
    }
    humantime::parse_duration(text).ok()
}

/// The real process environment. The only place the project reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and for configuration built in code.
#[derive(Debug, Clone, Default)]
pub struct MapEnv(BTreeMap<String, String>);

impl MapEnv {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one variable.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Env for MapEnv {
    fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_each_unit_and_refuse_garbage() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_mins(5)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_hours(2)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_hours(24)));
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn errors_name_the_variable_and_the_expectation_but_not_the_value() {
        let env = MapEnv::new().with("AIOPS_X_TIMEOUT", "soon-ish-secret");
        let err = env.duration("AIOPS_X_TIMEOUT").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("AIOPS_X_TIMEOUT"), "{text}");
        assert!(text.contains("duration"), "{text}");
        assert!(!text.contains("soon-ish-secret"), "{text}");

        let err = env.require("AIOPS_MISSING", "a URL").unwrap_err();
        assert_eq!(err.to_string(), "AIOPS_MISSING is not set: expected a URL");
    }

    #[test]
    fn empty_values_count_as_unset_and_flags_parse() {
        let env = MapEnv::new()
            .with("A", "  ")
            .with("B", "Yes")
            .with("C", "maybe");
        assert_eq!(env.get("A"), None);
        assert_eq!(env.flag("B"), Ok(Some(true)));
        assert!(matches!(env.flag("C"), Err(ConfigError::Invalid { .. })));
        assert_eq!(env.parse::<u32>("A", "a number"), Ok(None));
    }
}
