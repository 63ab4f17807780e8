//! The decision itself: a pure function of policy, mapping, principal and action.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Action, Environment, Mapping, Policy};
use crate::entity::EntityRef;
use crate::identity::Principal;

/// Why a request was allowed or denied. The wire names are the contract's reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed: the principal (or one of its groups) owns the namespace.
    Owner,
    /// Allowed: one of the principal's groups is allowed in the whole environment.
    EnvironmentGroup,
    /// Denied: someone else owns the namespace.
    NotOwner,
    /// The namespace's environment is not one the policy knows (denied when strict).
    UnknownEnvironment,
    /// Nothing maps the namespace to an owner (denied when strict).
    UnmappedNamespace,
    /// Denied: the token is malformed, badly signed, for another audience or not yet valid.
    InvalidToken,
    /// Denied: the token has expired.
    ExpiredToken,
    /// Denied: no trusted issuer issued the token.
    UntrustedIssuer,
    /// Denied: the principal has no groups to judge ownership by.
    MissingGroups,
    /// Denied: the principal may enter the namespace, but the environment does not allow
    /// this action (an addition to the contract's list).
    ActionNotAllowed,
}

impl Reason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::EnvironmentGroup => "environment_group",
            Self::NotOwner => "not_owner",
            Self::UnknownEnvironment => "unknown_environment",
            Self::UnmappedNamespace => "unmapped_namespace",
            Self::InvalidToken => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::MissingGroups => "missing_groups",
            Self::ActionNotAllowed => "action_not_allowed",
        }
    }

    /// Whether the reason is about the credential rather than the namespace (HTTP 401).
    pub fn is_authentication(self) -> bool {
        matches!(
            self,
            Self::InvalidToken | Self::ExpiredToken | Self::UntrustedIssuer
        )
    }
}

/// The contract's reason code for a refused token.
impl From<&crate::identity::TokenError> for Reason {
    fn from(error: &crate::identity::TokenError) -> Self {
        use crate::identity::TokenError;
        match error {
            TokenError::Expired => Self::ExpiredToken,
            TokenError::UntrustedIssuer => Self::UntrustedIssuer,
            TokenError::MissingGroups => Self::MissingGroups,
            _ => Self::InvalidToken,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict before it is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Why.
    pub reason: Reason,
    /// Allowed only because the policy is not strict: audited as a warning.
    pub warning: bool,
}

impl Outcome {
    fn allow(reason: Reason) -> Self {
        Self {
            allowed: true,
            reason,
            warning: false,
        }
    }
    fn deny(reason: Reason) -> Self {
        Self {
            allowed: false,
            reason,
            warning: false,
        }
    }
    fn warn(reason: Reason) -> Self {
        Self {
            allowed: true,
            reason,
            warning: true,
        }
    }
}

/// The response of the decision API (contract: "Policy decision").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The reason code.
    pub reason: Reason,
    /// The namespace's environment, when known.
    pub environment: Option<Environment>,
    /// The namespace's owner, when known.
    pub owner: Option<EntityRef>,
    /// Who asked, when the credential said so.
    pub principal: Option<EntityRef>,
    /// The audit record of this decision.
    pub audit_id: Uuid,
}

/// Decides. Ownership is the rule; environment groups are the exception for everyone
/// (SRE in prod); a non-strict policy lets through only what it cannot judge.
pub fn decide(
    policy: &Policy,
    mapping: &Mapping,
    principal: &Principal,
    action: Action,
) -> Outcome {
    let Some(owner) = mapping.owner.as_ref() else {
        return if policy.strict {
            Outcome::deny(Reason::UnmappedNamespace)
        } else {
            Outcome::warn(Reason::UnmappedNamespace)
        };
    };
    // Refs compare case-insensitively (EntityRef's equality).
    let is_owner = principal.user == *owner || principal.groups.contains(owner);
    let Some(env) = mapping.environment else {
        return match (policy.strict, is_owner) {
            (true, _) => Outcome::deny(Reason::UnknownEnvironment),
            // Without an environment there are no action rules to apply, but an unknown
            // environment does not make anyone an owner.
            (false, true) => Outcome::warn(Reason::Owner),
            (false, false) => not_owner(principal),
        };
    };
    let rules = policy.rules(env);
    let may_act = rules.actions.contains(&action);
    if is_owner {
        return if may_act {
            Outcome::allow(Reason::Owner)
        } else {
            Outcome::deny(Reason::ActionNotAllowed)
        };
    }
    let env_group = rules
        .groups
        .iter()
        .any(|allowed| principal.groups.contains(allowed));
    if env_group {
        return if may_act {
            Outcome::allow(Reason::EnvironmentGroup)
        } else {
            Outcome::deny(Reason::ActionNotAllowed)
        };
    }
    not_owner(principal)
}

fn not_owner(principal: &Principal) -> Outcome {
    if principal.groups.is_empty() {
        Outcome::deny(Reason::MissingGroups)
    } else {
        Outcome::deny(Reason::NotOwner)
    }
}
