//! Trusted issuers and verification settings, from the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::config::{ConfigError, Env};
use crate::entity::EntityRef;

/// Clock skew tolerated on `exp` and `nbf` when `AIOPS_JWT_LEEWAY` is unset.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// How a ZITADEL role key becomes a group ref when `AIOPS_ROLE_GROUP_TEMPLATE` is unset.
pub const DEFAULT_ROLE_GROUP_TEMPLATE: &str = "group:default/<role>";
/// The least time between two refetches caused by unknown `kid`s, per issuer.
pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Keys older than this are refreshed on the next use (rotation without restarts).
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_mins(15);
/// Verified tokens remembered (until their expiry) when `AIOPS_TOKEN_CACHE_SIZE` is unset.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 10_000;
/// The longest `exp - iat` accepted when `AIOPS_JWT_MAX_LIFETIME` is unset: Backstage
/// user tokens live one hour, ZITADEL's default access and id tokens twelve.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_hours(24);
/// The Backstage token type accepted when an issuer names no `token_types`.
pub const BACKSTAGE_USER_TOKEN: &str = "vnd.backstage.user";
/// Backstage's reduced user token (cookie auth), refused unless configured.
pub const BACKSTAGE_LIMITED_USER_TOKEN: &str = "vnd.backstage.limited-user";
/// Backstage's plugin-to-plugin token, refused unless configured.
pub const BACKSTAGE_PLUGIN_TOKEN: &str = "vnd.backstage.plugin";

const ISSUERS_VAR: &str = "AIOPS_TRUSTED_ISSUERS";
const ISSUERS_EXPECTED: &str = r#"a JSON array, or a path to a YAML/JSON file, of {"issuer", "jwks_url" or "jwks_file", "audience", "kind": "backstage" or "zitadel", "org_ids" (zitadel)}"#;

/// Which product issues the tokens, which decides where groups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssuerKind {
    /// Backstage user tokens: `sub` and the `ent` claim, or `/v1/userinfo`.
    Backstage,
    /// ZITADEL access or id tokens: project role claims.
    Zitadel,
}

impl IssuerKind {
    /// What each product signs with by default.
    pub fn default_algorithms(self) -> Vec<Algorithm> {
        match self {
            Self::Backstage => vec![Algorithm::ES256],
            Self::Zitadel => vec![Algorithm::RS256],
        }
    }
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` claim.
    pub issuer: String,
    /// Where its JWKS is served.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A local JWKS file instead (air-gapped set-ups, tests).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The `aud` value our tokens must carry.
    pub audience: String,
    /// Backstage or ZITADEL.
    pub kind: IssuerKind,
    /// Accepted algorithms; by default ES256 for Backstage, RS256 for ZITADEL.
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    /// Backstage only: the userinfo endpoint, by default `<iss>/v1/userinfo` when the
    /// issuer ends in `/api/auth`, else `<iss>/api/auth/v1/userinfo`.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// ZITADEL only: role key → group ref, overriding the template for those roles.
    #[serde(default)]
    pub role_groups: BTreeMap<String, EntityRef>,
    /// ZITADEL only: the project ids whose roles count; by default the audience
    /// (ZITADEL puts the project id in `aud`).
    #[serde(default)]
    pub project_ids: Vec<String>,
    /// ZITADEL only, required: the organisation ids whose role grants count. A role
    /// granted in any other organisation (a project granted to a customer's org, say)
    /// is ignored.
    #[serde(default)]
    pub org_ids: Vec<String>,
    /// Backstage only: the `typ` values accepted; by default only `vnd.backstage.user`.
    /// `vnd.backstage.limited-user` and `vnd.backstage.plugin` may be added.
    #[serde(default)]
    pub token_types: Vec<String>,
}

impl IssuerConfig {
    /// The algorithms accepted for this issuer.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.algorithms
            .clone()
            .unwrap_or_else(|| self.kind.default_algorithms())
    }

    /// The ZITADEL project ids whose roles count.
    pub fn project_ids(&self) -> Vec<String> {
        if self.project_ids.is_empty() {
            vec![self.audience.clone()]
        } else {
            self.project_ids.clone()
        }
    }

    /// The Backstage token types accepted.
    pub fn token_types(&self) -> Vec<String> {
        if self.token_types.is_empty() {
            vec![BACKSTAGE_USER_TOKEN.to_owned()]
        } else {
            self.token_types.clone()
        }
    }

    /// The Backstage userinfo endpoint.
    pub fn userinfo_url(&self) -> String {
        if let Some(url) = &self.userinfo_url {
            return url.clone();
        }
        let base = self.issuer.trim_end_matches('/');
        if base.ends_with("/api/auth") {
            format!("{base}/v1/userinfo")
        } else {
            format!("{base}/api/auth/v1/userinfo")
        }
    }

    fn check(&self, index: usize) -> Result<(), String> {
        let at = format!("issuer {index} ({})", self.issuer);
        match (&self.jwks_url, &self.jwks_file) {
            (Some(_), Some(_)) => {
                return Err(format!("{at}: give jwks_url or jwks_file, not both"));
            }
            (None, None) => return Err(format!("{at}: needs jwks_url or jwks_file")),
            (Some(url), None) => {
                check_endpoint(url).map_err(|e| format!("{at}: jwks_url {e}"))?;
            }
            _ => {}
        }
        if self.kind == IssuerKind::Backstage {
            check_endpoint(&self.userinfo_url()).map_err(|e| {
                format!("{at}: the userinfo URL (userinfo_url, or derived from the issuer) {e}")
            })?;
            let known = [
                BACKSTAGE_USER_TOKEN,
                BACKSTAGE_LIMITED_USER_TOKEN,
                BACKSTAGE_PLUGIN_TOKEN,
            ];
            if let Some(bad) = self
                .token_types
                .iter()
                .find(|t| !known.contains(&t.as_str()))
            {
                return Err(format!(
                    "{at}: token_types holds {bad:?}; expected {}",
                    known.join(", ")
                ));
            }
        }
        let zitadel_only = !self.project_ids.is_empty()
            || !self.org_ids.is_empty()
            || !self.role_groups.is_empty();
        match self.kind {
            IssuerKind::Zitadel if self.org_ids.iter().all(|o| o.trim().is_empty()) => {
                return Err(format!(
                    "{at}: a zitadel issuer needs org_ids, the organisation ids whose role grants count"
                ));
            }
            IssuerKind::Backstage if zitadel_only => {
                return Err(format!(
                    "{at}: role_groups, project_ids and org_ids apply to zitadel issuers only"
                ));
            }
            IssuerKind::Zitadel if !self.token_types.is_empty() => {
                return Err(format!(
                    "{at}: token_types applies to backstage issuers only"
                ));
            }
            _ => {}
        }
        if self.issuer.trim().is_empty() || self.audience.trim().is_empty() {
            return Err(format!("{at}: issuer and audience must not be empty"));
        }
        let algorithms = self.algorithms();
        if algorithms.is_empty() {
            return Err(format!("{at}: algorithms must not be empty"));
        }
        if let Some(alg) = algorithms
            .iter()
            .find(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(format!(
                "{at}: {alg:?} is symmetric; only asymmetric algorithms can be trusted"
            ));
        }
        Ok(())
    }
}

/// Keys and userinfo are fetched over https only; plain http is allowed for loopback
/// hosts so that tests and a local issuer work.
pub(crate) fn check_endpoint(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "must be an absolute https URL".to_owned())?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("must use https (plain http only for loopback hosts)".to_owned()),
        _ => Err("must be an absolute https URL".to_owned()),
    }
}

/// Everything token verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// `AIOPS_TRUSTED_ISSUERS`; empty refuses every token.
    pub issuers: Vec<IssuerConfig>,
    /// `AIOPS_JWT_LEEWAY` (default 30 s).
    pub leeway: Duration,
    /// `AIOPS_ROLE_GROUP_TEMPLATE` (default `group:default/<role>`).
    pub role_group_template: String,
    /// `AIOPS_JWKS_REFETCH_INTERVAL` (default 30 s).
    pub refetch_interval: Duration,
    /// `AIOPS_JWKS_MAX_AGE` (default 15 min).
    pub jwks_max_age: Duration,
    /// `AIOPS_TOKEN_CACHE_SIZE` (default 10 000).
    pub token_cache_size: usize,
    /// `AIOPS_JWT_MAX_LIFETIME` (default 24 h): the longest `exp - iat` accepted, and
    /// how far ahead `exp` may lie for a token without `iat`.
    pub max_token_lifetime: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            role_group_template: DEFAULT_ROLE_GROUP_TEMPLATE.to_owned(),
            refetch_interval: DEFAULT_JWKS_REFETCH_INTERVAL,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            token_cache_size: DEFAULT_TOKEN_CACHE_SIZE,
            max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
        }
    }
}

impl IdentityConfig {
    /// Reads `AIOPS_TRUSTED_ISSUERS`, `AIOPS_JWT_LEEWAY`, `AIOPS_ROLE_GROUP_TEMPLATE`,
    /// `AIOPS_JWKS_REFETCH_INTERVAL`, `AIOPS_JWKS_MAX_AGE`, `AIOPS_TOKEN_CACHE_SIZE` and
    /// `AIOPS_JWT_MAX_LIFETIME`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let issuers = match env.get(ISSUERS_VAR) {
            None => Vec::new(),
            Some(text) => parse_issuers(&text)?,
        };
        let role_group_template = env
            .get("AIOPS_ROLE_GROUP_TEMPLATE")
            .unwrap_or(defaults.role_group_template);
        if !role_group_template.contains("<role>")
            || EntityRef::parse(&role_group_template.replace("<role>", "role")).is_err()
        {
            return Err(ConfigError::invalid(
                "AIOPS_ROLE_GROUP_TEMPLATE",
                "a group ref template holding <role>, such as group:default/<role>",
                None,
            ));
        }
        let leeway = env.duration("AIOPS_JWT_LEEWAY")?.unwrap_or(defaults.leeway);
        if leeway > Duration::from_mins(5) {
            return Err(ConfigError::invalid(
                "AIOPS_JWT_LEEWAY",
                "a small clock-skew allowance, at most 5m",
                None,
            ));
        }
        let max_token_lifetime = env
            .duration("AIOPS_JWT_MAX_LIFETIME")?
            .unwrap_or(defaults.max_token_lifetime);
        if max_token_lifetime < Duration::from_mins(1) {
            return Err(ConfigError::invalid(
                "AIOPS_JWT_MAX_LIFETIME",
                "the longest token lifetime accepted, at least 1m (such as 24h)",
                None,
            ));
        }
        Ok(Self {
            issuers,
            leeway,
            max_token_lifetime,
            role_group_template,
            refetch_interval: env
                .duration("AIOPS_JWKS_REFETCH_INTERVAL")?
                .unwrap_or(defaults.refetch_interval),
            jwks_max_age: env
                .duration("AIOPS_JWKS_MAX_AGE")?
                .unwrap_or(defaults.jwks_max_age),
            token_cache_size: env
                .parse("AIOPS_TOKEN_CACHE_SIZE", "a number of tokens")?
                .unwrap_or(defaults.token_cache_size),
        })
    }
}

/// Inline JSON when it looks like an array; otherwise a file path (YAML or JSON).
fn parse_issuers(text: &str) -> Result<Vec<IssuerConfig>, ConfigError> {
    let invalid =
        |detail: String| ConfigError::invalid(ISSUERS_VAR, ISSUERS_EXPECTED, Some(detail));
    let issuers: Vec<IssuerConfig> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| invalid(format!("line {}: {e}", e.line())))?
    } else {
        let path = text.trim();
        let content = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
        serde_saphyr::from_str(&content).map_err(|e| {
            let line = e
                .location()
                .map(|l| format!("{path}:{}: ", l.line()))
                .unwrap_or_default();
            let message = e.without_snippet().to_string();
            invalid(format!(
                "{line}{}",
                message.lines().next().unwrap_or_default()
            ))
        })?
    };
    for (i, issuer) in issuers.iter().enumerate() {
        issuer.check(i).map_err(invalid)?;
    }
    Ok(issuers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn inline_json_and_yaml_files_both_configure_issuers() {
        let json = r#"[{"issuer": "https://backstage.example/api/auth", "jwks_url": "https://backstage.example/api/auth/.well-known/jwks.json", "audience": "backstage", "kind": "backstage"}]"#;
        let cfg = IdentityConfig::from_env(&MapEnv::new().with(ISSUERS_VAR, json)).unwrap();
        assert_eq!(cfg.issuers[0].kind, IssuerKind::Backstage);
        assert_eq!(cfg.issuers[0].algorithms(), vec![Algorithm::ES256]);
        assert_eq!(
            cfg.issuers[0].userinfo_url(),
            "https://backstage.example/api/auth/v1/userinfo"
        );
        assert_eq!(cfg.leeway, DEFAULT_LEEWAY);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuers.yaml");
        std::fs::write(
            &path,
            "- issuer: https://zitadel.example\n  jwks_file: /etc/jwks.json\n  audience: '123'\n  kind: zitadel\n  org_ids: ['42']\n",
        )
        .unwrap();
        let env = MapEnv::new()
            .with(ISSUERS_VAR, path.display().to_string())
            .with("AIOPS_JWT_LEEWAY", "5s");
        let cfg = IdentityConfig::from_env(&env).unwrap();
        assert_eq!(cfg.issuers[0].algorithms(), vec![Algorithm::RS256]);
        assert_eq!(
            cfg.issuers[0].project_ids(),
            vec!["123"],
            "the audience by default"
        );
        assert_eq!(cfg.leeway, Duration::from_secs(5));
        assert_eq!(cfg.max_token_lifetime, DEFAULT_MAX_TOKEN_LIFETIME);
    }

    #[test]
    fn bad_issuer_configuration_names_the_variable_and_the_problem() {
        let cases = [
            (
                r#"[{"issuer": "x", "audience": "a", "kind": "backstage"}]"#,
                "needs jwks_url",
            ),
            (
                r#"[{"issuer": "https://x", "jwks_url": "https://x", "audience": "a", "kind": "backstage", "algorithms": ["HS256"]}]"#,
                "symmetric",
            ),
            (
                r#"[{"issuer": "https://x", "jwks_url": "https://x", "audience": "a", "kind": "okta"}]"#,
                "unknown variant",
            ),
            (
                r#"[{"issuer": "x", "jwks_url": "https://x", "audience": "a", "kind": "zitadel", "org_ids": ["1"], "colour": 1}]"#,
                "unknown field",
            ),
            (
                r#"[{"issuer": "x", "jwks_url": "https://x", "audience": "a", "kind": "zitadel"}]"#,
                "needs org_ids",
            ),
            (
                r#"[{"issuer": "x", "jwks_url": "https://x", "audience": "a", "kind": "zitadel", "org_ids": ["1"], "role_groups": {"sre": "sre"}}]"#,
                "kind is missing",
            ),
            (
                r#"[{"issuer": "https://b", "jwks_url": "https://b/jwks", "audience": "a", "kind": "backstage", "org_ids": ["1"]}]"#,
                "zitadel issuers only",
            ),
            (
                r#"[{"issuer": "https://b", "jwks_url": "https://b/jwks", "audience": "a", "kind": "backstage", "token_types": ["JWT"]}]"#,
                "token_types holds \"JWT\"",
            ),
            (
                r#"[{"issuer": "https://b", "jwks_url": "http://keys.example/jwks", "audience": "a", "kind": "backstage"}]"#,
                "jwks_url must use https",
            ),
            (
                r#"[{"issuer": "http://backstage.example/api/auth", "jwks_url": "https://b/jwks", "audience": "a", "kind": "backstage"}]"#,
                "userinfo URL (userinfo_url, or derived from the issuer) must use https",
            ),
            (
                r#"[{"issuer": "https://b", "jwks_url": "file:///etc/jwks", "audience": "a", "kind": "backstage"}]"#,
                "absolute https URL",
            ),
            ("/no/such/file.yaml", "cannot read"),
        ];
        for (value, expected) in cases {
            let err =
                IdentityConfig::from_env(&MapEnv::new().with(ISSUERS_VAR, value)).unwrap_err();
            assert_eq!(err.var(), ISSUERS_VAR);
            assert!(err.to_string().contains(expected), "{value}: {err}");
        }
        let err = IdentityConfig::from_env(
            &MapEnv::new().with("AIOPS_ROLE_GROUP_TEMPLATE", "group:default/x"),
        )
        .unwrap_err();
        assert_eq!(err.var(), "AIOPS_ROLE_GROUP_TEMPLATE");
        let err =
            IdentityConfig::from_env(&MapEnv::new().with("AIOPS_JWT_LEEWAY", "1h")).unwrap_err();
        assert_eq!(err.var(), "AIOPS_JWT_LEEWAY");
        let err = IdentityConfig::from_env(&MapEnv::new().with("AIOPS_JWT_MAX_LIFETIME", "10s"))
            .unwrap_err();
        assert_eq!(err.var(), "AIOPS_JWT_MAX_LIFETIME");
    }

    #[test]
    fn plain_http_endpoints_are_accepted_for_loopback_hosts_only() {
        for ok in [
            "https://keys.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://keys.example/jwks",
            "http://10.0.0.1/jwks",
            "http://127.0.0.1.example/jwks",
            "ftp://keys.example/jwks",
            "keys.example/jwks",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }
}
