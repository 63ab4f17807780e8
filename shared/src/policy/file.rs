//! The policy file (`AIOPS_POLICY_FILE`, YAML or JSON) and the built-in default.
//!
//! Everything is checked at load time so that a typo fails the deployment rather than
//! a request: unknown fields, unknown environments, bad patterns and malformed entity
//! refs are errors that name the line.
//!
//! ```yaml
//! strict: true
//! environments:
//!   prod: {groups: [group:default/sre], actions: [read], aliases: [live-eu]}
//! namespaces:
//!   payments: {environment: prod, owner: group:default/team-payments}
//! patterns:
//!   - {match: "<team>-<env>", owner: "group:default/<team>"}
//!   - {match: "sandbox-<team>", environment: dev}
//! labels: {owner: aiops.io/owner, environment: aiops.io/environment}
//! audit: {allow_severity: low}
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::pattern::{Pattern, owner_ref};
use super::{Action, Environment};
use crate::audit::Severity;
use crate::config::{ConfigError, Env};
use crate::entity::{EntityRef, Namespace};

/// The variable naming the policy file.
pub const POLICY_FILE_VAR: &str = "AIOPS_POLICY_FILE";
/// The namespace label holding the owning group's name (label values cannot hold
/// `group:default/x`, so the ref is built from the name).
pub const DEFAULT_OWNER_LABEL: &str = "aiops.io/owner";
/// The namespace label holding the environment (a name or alias).
pub const DEFAULT_ENVIRONMENT_LABEL: &str = "aiops.io/environment";

/// A policy file that cannot be used, with where the problem is.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{origin}{}: {message}", line.map(|l| format!(":{l}:{}", column.unwrap_or(1))).unwrap_or_default())]
pub struct PolicyError {
    /// The file (or `policy` for text given in code).
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What one environment allows beyond ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRules {
    /// Groups allowed in every namespace of the environment (SRE in prod), lowercased refs.
    pub groups: Vec<EntityRef>,
    /// Actions allowed at all in the environment; default all three.
    pub actions: BTreeSet<Action>,
}

impl Default for EnvironmentRules {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            actions: Action::ALL.into_iter().collect(),
        }
    }
}

/// Which namespace labels carry owner and environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelNames {
    /// Label holding the owning group's name.
    pub owner: String,
    /// Label holding the environment.
    pub environment: String,
}

impl Default for LabelNames {
    fn default() -> Self {
        Self {
            owner: DEFAULT_OWNER_LABEL.to_owned(),
            environment: DEFAULT_ENVIRONMENT_LABEL.to_owned(),
        }
    }
}

/// An explicit namespace entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explicit {
    pub(crate) environment: Environment,
    pub(crate) owner: EntityRef,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Deny unmapped namespaces and unknown environments (otherwise allow with a warning).
    pub strict: bool,
    pub(crate) environments: BTreeMap<Environment, EnvironmentRules>,
    aliases: HashMap<String, Environment>,
    pub(crate) namespaces: BTreeMap<Namespace, Explicit>,
    pub(crate) patterns: Vec<Pattern>,
    /// Label names, or `None` when the policy ignores labels.
    pub labels: Option<LabelNames>,
    /// Severity of audit records for allowed requests (denials are always high).
    pub allow_severity: Severity,
}

impl Default for Policy {
    /// Strict, naming convention `<team>-<env>`, owner `group:default/<team>`, every
    /// action in every environment for the owner, default label names.
    fn default() -> Self {
        Self {
            strict: true,
            environments: Environment::ALL
                .into_iter()
                .map(|e| (e, EnvironmentRules::default()))
                .collect(),
            aliases: HashMap::new(),
            namespaces: BTreeMap::new(),
            patterns: vec![default_pattern()],
            labels: Some(LabelNames::default()),
            allow_severity: Severity::Low,
        }
    }
}

fn default_pattern() -> Pattern {
    Pattern::new("<team>-<env>", None, None).unwrap_or_else(|e| unreachable!("{e}"))
}

impl Policy {
    /// The file named by `AIOPS_POLICY_FILE`, or the built-in default when unset.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        match env.path(POLICY_FILE_VAR) {
            None => Ok(Self::default()),
            Some(path) => Self::load(&path).map_err(|e| {
                ConfigError::invalid(
                    POLICY_FILE_VAR,
                    "a readable, valid namespace policy (YAML or JSON)",
                    Some(e.to_string()),
                )
            }),
        }
    }

    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            origin: origin.clone(),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &origin)
    }

    /// Validates policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|e| {
            let location = e.location();
            PolicyError {
                origin: origin.to_owned(),
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
                message: first_line(&e.without_snippet().to_string()),
            }
        })?;
        raw.into_policy().map_err(|(loc, message)| PolicyError {
            origin: origin.to_owned(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            message,
        })
    }

    /// The environment a name or alias (built-in or from the file) stands for.
    pub fn environment_named(&self, name: &str) -> Option<Environment> {
        Environment::from_name(name)
            .or_else(|| self.aliases.get(&name.trim().to_ascii_lowercase()).copied())
    }

    /// The rules of one environment.
    pub fn rules(&self, env: Environment) -> &EnvironmentRules {
        static DEFAULT: std::sync::OnceLock<EnvironmentRules> = std::sync::OnceLock::new();
        self.environments
            .get(&env)
            .unwrap_or_else(|| DEFAULT.get_or_init(EnvironmentRules::default))
    }
}

/// Errors carry the rendered location already; one line is enough for stderr.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

type Located = (Option<serde_saphyr::Location>, String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default = "yes")]
    strict: bool,
    #[serde(default)]
    environments: BTreeMap<Environment, RawEnvironment>,
    #[serde(default)]
    namespaces: BTreeMap<Namespace, RawExplicit>,
    patterns: Option<Vec<Spanned<RawPattern>>>,
    labels: Option<RawLabels>,
    #[serde(default)]
    audit: RawAudit,
}

fn yes() -> bool {
    true
}

/// `labels: false` turns label lookups off; a map renames the labels; absent keeps
/// the defaults.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawLabels {
    Enabled(bool),
    Names(LabelNames),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    #[serde(default)]
    groups: Vec<OwnerRef>,
    actions: Option<Vec<Action>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplicit {
    environment: Environment,
    owner: OwnerRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    #[serde(rename = "match")]
    text: String,
    owner: Option<String>,
    environment: Option<Environment>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    #[serde(default)]
    allow_severity: Severity,
}

/// A group or user ref, checked where it is read so the error carries its line.
struct OwnerRef(EntityRef);

impl<'de> Deserialize<'de> for OwnerRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        owner_ref(&text).map(Self).map_err(serde::de::Error::custom)
    }
}

impl RawPolicy {
    fn into_policy(self) -> Result<Policy, Located> {
        let mut policy = Policy {
            strict: self.strict,
            labels: match self.labels {
                None | Some(RawLabels::Enabled(true)) => Some(LabelNames::default()),
                Some(RawLabels::Enabled(false)) => None,
                Some(RawLabels::Names(names)) => Some(names),
            },
            allow_severity: self.audit.allow_severity,
            ..Policy::default()
        };
        for (env, raw) in self.environments {
            for alias in raw.aliases {
                let name = alias.value.trim().to_ascii_lowercase();
                let taken =
                    Environment::from_name(&name).or_else(|| policy.aliases.get(&name).copied());
                if let Some(other) = taken {
                    return Err((
                        Some(alias.referenced),
                        format!("alias {name:?} already names {other}"),
                    ));
                }
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err((
                        Some(alias.referenced),
                        format!(
                            "alias {name:?}: use lowercase letters and digits only, as <env> matches no dash"
                        ),
                    ));
                }
                policy.aliases.insert(name, env);
            }
            let defaults = EnvironmentRules::default();
            policy.environments.insert(
                env,
                EnvironmentRules {
                    groups: raw.groups.into_iter().map(|g| g.0).collect(),
                    actions: raw
                        .actions
                        .map_or(defaults.actions, |a| a.into_iter().collect()),
                },
            );
        }
        for (namespace, entry) in self.namespaces {
            policy.namespaces.insert(
                namespace,
                Explicit {
                    environment: entry.environment,
                    owner: entry.owner.0,
                },
            );
        }
        if let Some(patterns) = self.patterns {
            policy.patterns = patterns
                .into_iter()
                .map(|p| {
                    let raw = p.value;
                    Pattern::new(&raw.text, raw.owner.as_deref(), raw.environment)
                        .map_err(|e| (Some(p.referenced), e))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(policy)
    }
}
