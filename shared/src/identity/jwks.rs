//! One issuer's signing keys: fetched, cached, refreshed when old, and refetched when
//! a token names a `kid` we do not have, at most once per interval so that a flood of
//! made-up `kid`s cannot turn us into a load generator against the issuer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::TokenError;
use crate::clock::SharedClock;

/// A verification key and the algorithms it may verify.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Where the JWKS document comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksSource {
    Url(String),
    File(PathBuf),
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Arc<Key>>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<i64>,
    /// When the last fetch was attempted (success or not): paces retries after failures.
    attempted_at: Option<i64>,
    /// When an unknown `kid` last caused a refetch: paces kid-driven refetches.
    forced_at: Option<i64>,
}

/// The cached key set of one issuer.
#[derive(Debug)]
pub(crate) struct KeySet {
    source: JwksSource,
    http: reqwest::Client,
    clock: SharedClock,
    refetch_interval_ms: i64,
    max_age_ms: i64,
    state: RwLock<State>,
    /// Single flight: concurrent misses wait for one fetch instead of each sending one.
    fetching: tokio::sync::Mutex<()>,
}

enum Need {
    Have(Arc<Key>),
    Refresh {
        forced: bool,
    },
    Missing,
    /// Never fetched, and the last attempt failed too recently to try again.
    Unavailable,
}

impl KeySet {
    pub(crate) fn new(
        source: JwksSource,
        http: reqwest::Client,
        clock: SharedClock,
        refetch_interval: std::time::Duration,
        max_age: std::time::Duration,
    ) -> Self {
        Self {
            source,
            http,
            clock,
            refetch_interval_ms: millis(refetch_interval),
            max_age_ms: millis(max_age),
            state: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key with `kid`, fetching or refetching as the rules allow.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<Key>, TokenError> {
        match self.need(kid) {
            Need::Have(key) => return Ok(key),
            Need::Missing => return Err(TokenError::UnknownKey),
            Need::Unavailable => return Err(not_fetched()),
            Need::Refresh { .. } => {}
        }
        let _flight = self.fetching.lock().await;
        // Someone else may have fetched while we waited.
        let forced = match self.need(kid) {
            Need::Have(key) => return Ok(key),
            Need::Missing => return Err(TokenError::UnknownKey),
            Need::Unavailable => return Err(not_fetched()),
            Need::Refresh { forced } => forced,
        };
        let now = self.clock.now_millis();
        let fetched = self.fetch().await;
        let mut state = self.write();
        state.attempted_at = Some(now);
        if forced {
            state.forced_at = Some(now);
        }
        match fetched {
            Ok(keys) => {
                state.keys = keys;
                state.fetched_at = Some(now);
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot fetch the issuer's JWKS; keeping cached keys");
                if state.fetched_at.is_none() {
                    return Err(error);
                }
            }
        }
        state.keys.get(kid).cloned().ok_or(TokenError::UnknownKey)
    }

    fn need(&self, kid: &str) -> Need {
        let now = self.clock.now_millis();
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let since = |t: Option<i64>, interval: i64| t.is_none_or(|t| now - t >= interval);
        let retry_ok = since(state.attempted_at, self.refetch_interval_ms);
        let fresh = state.fetched_at.is_some_and(|t| now - t < self.max_age_ms);
        match state.keys.get(kid) {
            Some(key) if fresh || !retry_ok => Need::Have(Arc::clone(key)),
            Some(_) => Need::Refresh { forced: false },
            None if state.fetched_at.is_none() && retry_ok => Need::Refresh { forced: false },
            None if state.fetched_at.is_none() => Need::Unavailable,
            None if !fresh && retry_ok => Need::Refresh { forced: false },
            None if since(state.forced_at, self.refetch_interval_ms) => {
                Need::Refresh { forced: true }
            }
            None => Need::Missing,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, TokenError> {
        let unavailable = |what: String| TokenError::IssuerUnavailable(what);
        let body = match &self.source {
            JwksSource::Url(url) => {
                super::config::check_endpoint(url)
                    .map_err(|e| unavailable(format!("the JWKS URL {e}")))?;
                let response = self.http.get(url).send().await.map_err(|e| {
                    unavailable(format!("JWKS request failed: {}", e.without_url()))
                })?;
                if !response.status().is_success() {
                    return Err(unavailable(format!(
                        "JWKS answered HTTP {}",
                        response.status().as_u16()
                    )));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| unavailable(format!("JWKS body: {}", e.without_url())))?
                    .to_vec()
            }
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| unavailable(format!("JWKS file {}: {e}", path.display())))?,
        };
        parse_jwks(&body).map_err(unavailable)
    }
}

fn not_fetched() -> TokenError {
    TokenError::IssuerUnavailable("the issuer's keys could not be fetched yet".into())
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// Keeps only asymmetric signing keys with a `kid`; a key we cannot use is skipped
/// rather than failing the set, since issuers publish keys for other consumers too.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<Key>>, String> {
    let jwks: Jwks =
        serde_json::from_slice(body).map_err(|e| format!("JWKS is not a key set: {e}"))?;
    let mut keys = HashMap::new();
    for value in jwks.keys {
        let Ok(raw) = serde_json::from_value::<RawKey>(value) else {
            continue;
        };
        let (Some(kid), None | Some("sig")) = (raw.kid.clone(), raw.usage.as_deref()) else {
            continue;
        };
        if let Some(key) = to_key(&raw) {
            keys.insert(kid, Arc::new(key));
        }
    }
    Ok(keys)
}

fn to_key(raw: &RawKey) -> Option<Key> {
    let (decoding, family) = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("EC", Some("P-256")) => (
            DecodingKey::from_ec_components(raw.x.as_deref()?, raw.y.as_deref()?).ok()?,
            vec![Algorithm::ES256],
        ),
        ("EC", Some("P-384")) => (
            DecodingKey::from_ec_components(raw.x.as_deref()?, raw.y.as_deref()?).ok()?,
            vec![Algorithm::ES384],
        ),
        ("RSA", _) => (
            DecodingKey::from_rsa_components(raw.n.as_deref()?, raw.e.as_deref()?).ok()?,
            vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        ),
        // `oct` (HMAC secrets) never: a published symmetric key is no proof of anything.
        _ => return None,
    };
    let algorithms = match raw.alg.as_deref() {
        None => family,
        Some(declared) => {
            let alg: Algorithm = declared.parse().ok()?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    Some(Key {
        decoding,
        algorithms,
    })
}
