//! Token verification: header and issuer checks, signature, claims, groups.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::cache::{self, TokenCache};
use super::claims::{self, Found};
use super::config::check_endpoint;
use super::jwks::{JwksSource, KeySet};
use super::{IdentityConfig, IssuerConfig, IssuerKind, Principal, TokenError};
use crate::clock::SharedClock;

/// Longer than any real user token; refusing early bounds the work an attacker can ask for.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Issuer {
    config: IssuerConfig,
    algorithms: Vec<Algorithm>,
    keys: KeySet,
}

/// Verifies tokens of the configured issuers. Share one per process (`Arc`): it holds
/// the key and token caches.
#[derive(Debug)]
pub struct Verifier {
    issuers: Vec<Issuer>,
    leeway_ms: i64,
    max_lifetime_ms: i64,
    role_group_template: String,
    http: reqwest::Client,
    clock: SharedClock,
    cache: TokenCache,
}

impl Verifier {
    /// A verifier with its own HTTP client (5 s timeout).
    pub fn new(config: &IdentityConfig, clock: SharedClock) -> Result<Self, TokenError> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| {
                TokenError::IssuerUnavailable(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self::with_http(config, clock, http))
    }

    /// A verifier using `http` for JWKS and userinfo requests.
    pub fn with_http(config: &IdentityConfig, clock: SharedClock, http: reqwest::Client) -> Self {
        let issuers = config
            .issuers
            .iter()
            .map(|c| {
                let source = match (&c.jwks_url, &c.jwks_file) {
                    (Some(url), _) => JwksSource::Url(url.clone()),
                    (None, Some(path)) => JwksSource::File(path.clone()),
                    (None, None) => JwksSource::Url(String::new()),
                };
                Issuer {
                    algorithms: c.algorithms(),
                    keys: KeySet::new(
                        source,
                        http.clone(),
                        clock.clone(),
                        config.refetch_interval,
                        config.jwks_max_age,
                    ),
                    config: c.clone(),
                }
            })
            .collect();
        Self {
            issuers,
            leeway_ms: i64::try_from(config.leeway.as_millis()).unwrap_or(i64::MAX),
            max_lifetime_ms: i64::try_from(config.max_token_lifetime.as_millis())
                .unwrap_or(i64::MAX),
            role_group_template: config.role_group_template.clone(),
            http,
            clock,
            cache: TokenCache::new(config.token_cache_size),
        }
    }

    /// The principal a token stands for, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too long"));
        }
        let key = cache::hash(token);
        if let Some(principal) = self.cache.get(&key, self.clock.now_millis()) {
            return Ok(principal);
        }
        let (principal, exp_ms) = self.verify_uncached(token).await?;
        self.cache
            .insert(key, principal.clone(), exp_ms, self.clock.now_millis());
        Ok(principal)
    }

    async fn verify_uncached(&self, token: &str) -> Result<(Principal, i64), TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let header = decode_part(header)?;
        let alg = algorithm(&header)?;
        let unverified = decode_part(payload)?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(TokenError::UntrustedIssuer)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or(TokenError::UntrustedIssuer)?;
        if !issuer.algorithms.contains(&alg) {
            return Err(TokenError::DisallowedAlgorithm(format!("{alg:?}")));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenError::Malformed("kid is missing"))?;
        let key = issuer.keys.key(kid).await?;
        if !key.algorithms.contains(&alg) {
            return Err(TokenError::KeyMismatch(format!("{alg:?}")));
        }
        let claims = verify_signature(token, &key.decoding, alg)?;
        if issuer.config.kind == IssuerKind::Backstage {
            check_token_type(&header, &claims, &issuer.config)?;
        }
        let exp_ms = self.check_claims(&claims, &issuer.config)?;
        let principal = match issuer.config.kind {
            IssuerKind::Zitadel => {
                claims::zitadel(&claims, &issuer.config, &self.role_group_template)?
            }
            IssuerKind::Backstage => match claims::backstage(&claims)? {
                Found::Principal(p) => p,
                Found::NeedUserinfo { user } => self.userinfo(&issuer.config, token, user).await?,
            },
        };
        Ok((principal, exp_ms))
    }

    /// `iss` was matched already; `aud`, `exp` and `nbf` against our clock. Returns
    /// `exp` in milliseconds.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        issuer: &IssuerConfig,
    ) -> Result<i64, TokenError> {
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == issuer.audience,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(issuer.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        let now = self.clock.now_millis();
        // NumericDate may be fractional; `as` saturates, which is what an absurd value deserves.
        #[allow(clippy::cast_possible_truncation)]
        let seconds = |name| {
            claims
                .get(name)
                .and_then(Value::as_f64)
                .map(|s| (s * 1000.0) as i64)
        };
        let exp = seconds("exp").ok_or(TokenError::Malformed("exp is missing"))?;
        if now > exp.saturating_add(self.leeway_ms) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = seconds("nbf")
            && now.saturating_add(self.leeway_ms) < nbf
        {
            return Err(TokenError::NotYetValid);
        }
        // A token minted for years, or stamped in the future, is a stolen signing key
        // or a broken issuer clock: neither should be trusted until its distant `exp`.
        match seconds("iat") {
            Some(iat) if iat > now.saturating_add(self.leeway_ms) => {
                return Err(TokenError::BadLifetime("iat lies in the future"));
            }
            Some(iat) if exp.saturating_sub(iat) > self.max_lifetime_ms => {
                return Err(TokenError::BadLifetime(
                    "exp - iat exceeds the maximum token lifetime",
                ));
            }
            None if exp.saturating_sub(now)
                > self.max_lifetime_ms.saturating_add(self.leeway_ms) =>
            {
                return Err(TokenError::BadLifetime(
                    "without iat, exp lies further ahead than the maximum token lifetime",
                ));
            }
            _ => {}
        }
        Ok(exp)
    }

    async fn userinfo(
        &self,
        issuer: &IssuerConfig,
        token: &str,
        user: crate::entity::EntityRef,
    ) -> Result<Principal, TokenError> {
        let unavailable = |what: String| TokenError::IssuerUnavailable(what);
        let url = issuer.userinfo_url();
        check_endpoint(&url).map_err(|e| unavailable(format!("the userinfo URL {e}")))?;
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable(format!("userinfo request failed: {}", e.without_url())))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(TokenError::Revoked);
        }
        if !status.is_success() {
            return Err(unavailable(format!(
                "userinfo answered HTTP {}",
                status.as_u16()
            )));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|_| TokenError::Malformed("userinfo answer is not JSON"))?;
        claims::backstage_userinfo(user, &body)
    }
}

/// Backstage puts `typ` in the header (older releases put it in the payload). A token
/// without one is not a current user token and is refused like any other type.
fn check_token_type(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
) -> Result<(), TokenError> {
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .filter(|t| t.starts_with("vnd.backstage."))
        .or_else(|| claims.get("typ").and_then(Value::as_str))
        .unwrap_or("none");
    if issuer.token_types().iter().any(|t| t == typ) {
        return Ok(());
    }
    let printable: String = typ
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .take(32)
        .collect();
    Err(TokenError::WrongTokenType(printable))
}

fn decode_part(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("a part is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("a part is not a JSON object"))
}

/// Only asymmetric algorithms: `none` proves nothing, and an HMAC "signed" with a
/// public key (the classic confusion attack) proves nothing either.
fn algorithm(header: &Map<String, Value>) -> Result<Algorithm, TokenError> {
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(TokenError::Malformed("alg is missing"))?;
    let printable: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    let alg: Algorithm = name
        .parse()
        .map_err(|_| TokenError::DisallowedAlgorithm(printable.clone()))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(TokenError::DisallowedAlgorithm(printable));
    }
    Ok(alg)
}

fn verify_signature(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    alg: Algorithm,
) -> Result<Map<String, Value>, TokenError> {
    // Time and audience are checked against our clock in `check_claims`, not here
    // (the library would read the system clock).
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            JwtErrorKind::InvalidSignature => TokenError::BadSignature,
            JwtErrorKind::InvalidAlgorithm
            | JwtErrorKind::InvalidKeyFormat
            | JwtErrorKind::InvalidEcdsaKey
            | JwtErrorKind::InvalidRsaKey(_) => TokenError::KeyMismatch(format!("{alg:?}")),
            _ => TokenError::Malformed("the payload cannot be read"),
        })
}
