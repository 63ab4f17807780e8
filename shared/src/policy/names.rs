//! The closed vocabularies of the policy: environments and actions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// One of the four environments every namespace belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production.
    Prod,
    /// Pre-production.
    Staging,
    /// Development.
    Dev,
    /// Test and QA.
    Test,
}

impl Environment {
    /// Every environment, in a fixed order.
    pub const ALL: [Self; 4] = [Self::Prod, Self::Staging, Self::Dev, Self::Test];

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prod => "prod",
            Self::Staging => "staging",
            Self::Dev => "dev",
            Self::Test => "test",
        }
    }

    /// The names teams use in namespace names and labels, besides the canonical one.
    /// A policy file can add more.
    pub fn builtin_aliases(self) -> &'static [&'static str] {
        match self {
            Self::Prod => &["production", "prd", "live"],
            Self::Staging => &["stage", "stg", "preprod"],
            Self::Dev => &["development", "develop"],
            Self::Test => &["testing", "tst", "qa"],
        }
    }

    /// The environment a canonical name or built-in alias stands for (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|env| env.as_str() == name || env.builtin_aliases().contains(&name.as_str()))
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| {
            format!("unknown environment {s:?}: expected prod, staging, dev or test (or an alias)")
        })
    }
}

// Aliases are accepted wherever the policy file names an environment, so the error for
// a typo comes from here and carries the file's line.
impl<'de> Deserialize<'de> for Environment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a principal wants to do in the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Look: logs, events, pod state. What an RCA needs.
    Read,
    /// Change resources.
    Write,
    /// Run commands in, attach to or port-forward into pods.
    Exec,
}

impl Action {
    /// Every action.
    pub const ALL: [Self; 3] = [Self::Read, Self::Write, Self::Exec];

    /// The name used in requests and the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Exec => "exec",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "exec" => Ok(Self::Exec),
            _ => Err(format!(
                "unknown action {s:?}: expected read, write or exec"
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_environment_and_builtin_alias_resolves_case_insensitively() {
        let table = [
            ("prod", Environment::Prod),
            ("production", Environment::Prod),
            ("PRD", Environment::Prod),
            ("live", Environment::Prod),
            ("staging", Environment::Staging),
            ("stage", Environment::Staging),
            ("stg", Environment::Staging),
            ("preprod", Environment::Staging),
            ("dev", Environment::Dev),
            ("development", Environment::Dev),
            ("develop", Environment::Dev),
            ("test", Environment::Test),
            ("testing", Environment::Test),
            ("tst", Environment::Test),
            ("qa", Environment::Test),
        ];
        for (name, env) in table {
            assert_eq!(Environment::from_name(name), Some(env), "{name}");
        }
        for env in Environment::ALL {
            assert_eq!(Environment::from_name(env.as_str()), Some(env));
        }
        assert_eq!(Environment::from_name("sandbox"), None);
        assert!(
            "uat"
                .parse::<Environment>()
                .unwrap_err()
                .contains("unknown environment")
        );
    }

    #[test]
    fn actions_parse_and_refuse_others() {
        assert_eq!("READ".parse::<Action>(), Ok(Action::Read));
        assert_eq!("exec".parse::<Action>(), Ok(Action::Exec));
        assert!("delete".parse::<Action>().is_err());
    }
}
