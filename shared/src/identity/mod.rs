//! Who is asking: JWTs from trusted issuers (Backstage, ZITADEL) turned into a
//! [`Principal`] with group refs.
//!
//! Only asymmetric algorithms that both the issuer's configuration and the JWKS key
//! allow are accepted; `iss`, `aud`, `exp` and `nbf` are checked against the injected
//! [`Clock`](crate::clock::Clock) with a small leeway, `iat` may not lie ahead and the
//! lifetime is bounded. Backstage tokens must carry an accepted `typ`; ZITADEL roles
//! count only for the configured projects and organisations. Keys and userinfo are
//! fetched over https (plain http for loopback only). Keys are cached per issuer; an
//! unknown `kid` triggers at most one refetch per interval. Verified tokens are cached
//! by the SHA-256 of the token until they expire, least recently used out first. A token is never logged nor put into
//! an error: failures are [`TokenError`] variants that map to the contract's reasons.

mod cache;
mod claims;
mod config;
mod jwks;
mod verifier;

pub use claims::{
    ZitadelLogin, entity_name, zitadel_org_counts, zitadel_project_counts, zitadel_role_group,
    zitadel_user_ref,
};
pub use config::{
    BACKSTAGE_LIMITED_USER_TOKEN, BACKSTAGE_PLUGIN_TOKEN, BACKSTAGE_USER_TOKEN,
    DEFAULT_JWKS_MAX_AGE, DEFAULT_JWKS_REFETCH_INTERVAL, DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_LIFETIME, DEFAULT_ROLE_GROUP_TEMPLATE, DEFAULT_TOKEN_CACHE_SIZE,
    IdentityConfig, IssuerConfig, IssuerKind,
};
pub use verifier::Verifier;

use serde::{Deserialize, Serialize};

use crate::entity::EntityRef;
use crate::error::{Classify, ErrorKind};

/// A verified caller: a user entity ref and the group refs it belongs to. Both travel
/// as strings (`"user:default/jane"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `user:default/jane`.
    pub user: EntityRef,
    /// `group:default/team-checkout`, …
    #[serde(default)]
    pub groups: Vec<EntityRef>,
}

/// Why a token was refused. Never carries the token or any of its claims' values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or a required claim is missing or mistyped.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is `none`, an HMAC algorithm, or not one the issuer is configured for.
    #[error("algorithm {0} is not accepted")]
    DisallowedAlgorithm(String),
    /// No configured issuer has this `iss`.
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    /// The issuer's key set has no key with this `kid`, even after a refetch.
    #[error("no key of the issuer has the token's kid")]
    UnknownKey,
    /// The key's type or declared algorithm does not fit the token's `alg`.
    #[error("the key does not fit algorithm {0}")]
    KeyMismatch(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// `aud` does not hold the configured audience.
    #[error("the token is for another audience")]
    WrongAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` lies in the future, or the token lives longer than the configured maximum.
    #[error("implausible token lifetime: {0}")]
    BadLifetime(&'static str),
    /// A Backstage token whose `typ` the issuer is not configured to accept (plugin and
    /// limited user tokens by default; the value is cut to 32 safe characters).
    #[error("token type {0} is not accepted")]
    WrongTokenType(String),
    /// The token carries no group, and the issuer's userinfo had none either.
    #[error("the token carries no groups")]
    MissingGroups,
    /// The issuer's userinfo endpoint refused the token.
    #[error("the issuer's userinfo endpoint refused the token")]
    Revoked,
    /// The issuer's keys or userinfo could not be fetched: a retry may help.
    #[error("issuer unavailable: {0}")]
    IssuerUnavailable(String),
}

impl TokenError {
    /// A finer code for the audit record (`bad_signature`, `wrong_audience`, …).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::DisallowedAlgorithm(_) => "disallowed_algorithm",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::UnknownKey => "unknown_kid",
            Self::KeyMismatch(_) => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::BadLifetime(_) => "bad_lifetime",
            Self::WrongTokenType(_) => "wrong_token_type",
            Self::MissingGroups => "missing_groups",
            Self::Revoked => "userinfo_refused",
            Self::IssuerUnavailable(_) => "issuer_unavailable",
        }
    }
}

impl Classify for TokenError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::IssuerUnavailable(_) => ErrorKind::Dependency,
            _ => ErrorKind::Invalid,
        }
    }
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
