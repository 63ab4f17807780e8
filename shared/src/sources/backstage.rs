//! The Backstage catalog over HTTP, with a static service token
//! (`backend.auth.externalAccess`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::http::{body_excerpt, read_capped, transport_error};
use super::{Catalog, EntityRef, SourceError};
use crate::config::{ConfigError, Env};
use crate::evidence::{CatalogEntity, Link};

/// Catalog base URL.
pub const URL_VAR: &str = "AIOPS_BACKSTAGE_URL";
/// Static service token.
pub const TOKEN_VAR: &str = "AIOPS_BACKSTAGE_TOKEN";

const MAX_ENTITY_BYTES: usize = 1024 * 1024;

/// Where the catalog is and the token to call it with.
#[derive(Clone, PartialEq, Eq)]
pub struct CatalogConfig {
    /// [`URL_VAR`].
    pub url: String,
    /// [`TOKEN_VAR`]: a static external-access token.
    pub token: String,
}

impl CatalogConfig {
    /// From [`URL_VAR`] and [`TOKEN_VAR`]; `None` when the URL is unset. A URL without a
    /// token is a configuration error.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        let Some(url) = env.get(URL_VAR) else {
            return Ok(None);
        };
        let token = env.require(TOKEN_VAR, "the catalog's static service token")?;
        Ok(Some(Self { url, token }))
    }
}

// The token is a credential and the URL may carry one.
impl std::fmt::Debug for CatalogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        f.debug_struct("CatalogConfig")
            .field("host", &host)
            .finish_non_exhaustive()
    }
}

/// The catalog adapter.
#[derive(Debug, Clone)]
pub struct BackstageCatalog {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
}

impl BackstageCatalog {
    /// A catalog at `base_url` (`https://backstage.example.com`), calling with `token`.
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, ConfigError> {
        let base = reqwest::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ConfigError::invalid(URL_VAR, "an http:// or https:// URL", None))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ConfigError::invalid(URL_VAR, "a usable URL", Some(e.to_string())))?;
        Ok(Self {
            http,
            base,
            token: token.to_owned(),
        })
    }

    /// From [`URL_VAR`] and [`TOKEN_VAR`]; `None` when the URL is unset (the catalog is
    /// then reported unavailable). A URL without a token is a configuration error.
    pub fn from_env(env: &impl Env, timeout: Duration) -> Result<Option<Self>, ConfigError> {
        CatalogConfig::from_env(env)?
            .map(|config| Self::connect(&config, timeout))
            .transpose()
    }

    /// A catalog client for `config`.
    pub fn connect(config: &CatalogConfig, timeout: Duration) -> Result<Self, ConfigError> {
        Self::new(&config.url, &config.token, timeout)
    }

    fn entity_url(&self, entity: &EntityRef) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend([
                "api",
                "catalog",
                "entities",
                "by-name",
                entity.kind(),
                entity.namespace(),
                entity.name(),
            ]);
        }
        url
    }
}

/// One page of `GET /api/catalog/entities/by-query`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryPage {
    /// The entities, with only the requested fields.
    #[serde(default)]
    pub items: Vec<Value>,
    /// The catalog's count of every match.
    #[serde(default, rename = "totalItems")]
    pub total_items: Option<u64>,
    /// Paging.
    #[serde(default, rename = "pageInfo")]
    pub page_info: PageInfo,
}

/// The cursor of the next page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageInfo {
    /// Absent on the last page.
    #[serde(default, rename = "nextCursor")]
    pub next_cursor: Option<String>,
}

/// A page of entities may be large (500 Components with their annotations).
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

impl BackstageCatalog {
    /// One page of entities matching `filter` (`kind=group`), with only `fields`
    /// (`metadata.name,spec.owner`), at most `limit` of them. The first call passes the
    /// filter; later ones only the previous page's cursor, which carries it.
    pub async fn query_page(
        &self,
        filter: &str,
        fields: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<QueryPage, SourceError> {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["api", "catalog", "entities", "by-query"]);
        }
        {
            let mut query = url.query_pairs_mut();
            match cursor {
                Some(cursor) => query.append_pair("cursor", cursor),
                None => query.append_pair("filter", filter),
            };
            query
                .append_pair("fields", fields)
                .append_pair("limit", &limit.max(1).to_string());
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| transport_error("catalog", e))?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_PAGE_BYTES, "catalog").await?;
        check_status(status, &body, "entities by query")?;
        serde_json::from_slice(&body).map_err(|e| {
            SourceError::caused(format!("catalog: unexpected by-query JSON: {e}"), false, e)
        })
    }
}

/// Maps a non-200 catalog answer to a source error.
fn check_status(status: u16, body: &[u8], what: &str) -> Result<(), SourceError> {
    match status {
        200 => Ok(()),
        404 => Err(SourceError::NotFound { what: what.into() }),
        401 | 403 => Err(SourceError::Unauthorized {
            source_name: "the catalog".into(),
            status,
            var: TOKEN_VAR.into(),
        }),
        code => Err(SourceError::failed(
            format!("catalog answered {code}: {}", error_message(body)),
            code >= 500 || code == 429,
        )),
    }
}

#[async_trait]
impl Catalog for BackstageCatalog {
    async fn entity(&self, entity: &EntityRef) -> Result<CatalogEntity, SourceError> {
        let response = self
            .http
            .get(self.entity_url(entity))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| transport_error("catalog", e))?;
        let status = response.status().as_u16();
        let body = read_capped(response, MAX_ENTITY_BYTES, "catalog").await?;
        check_status(status, &body, &format!("entity {entity}"))?;
        let raw: RawEntity = serde_json::from_slice(&body).map_err(|e| {
            SourceError::caused(format!("catalog: unexpected entity JSON: {e}"), false, e)
        })?;
        Ok(raw.into_entity(entity))
    }
}

/// Backstage errors are `{"error": {"name", "message"}}`; anything else is excerpted.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body_excerpt(body))
}

#[derive(Debug, Deserialize)]
struct RawEntity {
    metadata: RawMetadata,
    #[serde(default)]
    spec: Value,
}

#[derive(Debug, Deserialize)]
struct RawMetadata {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    links: Vec<RawLink>,
}

#[derive(Debug, Deserialize)]
struct RawLink {
    url: String,
    #[serde(default)]
    title: Option<String>,
}

impl RawEntity {
    fn into_entity(mut self, entity: &EntityRef) -> CatalogEntity {
        let spec = |key: &str| {
            self.spec
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let owner = spec("owner").map(|o| full_ref(&o, "group", entity.namespace()));
        let system = spec("system");
        let lifecycle = spec("lifecycle");
        let mut annotation = |key: &str| {
            self.metadata
                .annotations
                .remove(key)
                .filter(|v| !v.trim().is_empty())
        };
        CatalogEntity {
            entity_ref: entity.to_string(),
            owner,
            system,
            lifecycle,
            kubernetes_id: annotation("backstage.io/kubernetes-id"),
            kubernetes_namespace: annotation("backstage.io/kubernetes-namespace"),
            label_selector: annotation("backstage.io/kubernetes-label-selector"),
            links: self
                .metadata
                .links
                .into_iter()
                .map(|l| Link {
                    url: l.url,
                    title: l.title,
                })
                .collect(),
        }
    }
}

/// `team-a` → `group:<ns>/team-a`, `default/team-a` → `group:default/team-a`: the
/// shorthand forms the catalog accepts for `spec.owner`.
/// An entity's `spec.owner` as a ref: without a kind it is a Group, without a namespace
/// it is in the entity's own namespace (the catalog's own rules).
pub fn owner_ref(owner: &str, entity_namespace: &str) -> Option<EntityRef> {
    EntityRef::parse(&full_ref(owner.trim(), "group", entity_namespace))
        .ok()
        .map(|r| r.lowercased())
}

fn full_ref(text: &str, default_kind: &str, default_namespace: &str) -> String {
    let (kind, rest) = text.split_once(':').unwrap_or((default_kind, text));
    let (namespace, name) = rest.split_once('/').unwrap_or((default_namespace, rest));
    format!("{}:{namespace}/{name}", kind.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn owner_shorthands_become_full_refs() {
        assert_eq!(full_ref("web", "group", "default"), "group:default/web");
        assert_eq!(full_ref("team/web", "group", "default"), "group:team/web");
        assert_eq!(
            full_ref("User:default/jane", "group", "x"),
            "user:default/jane"
        );
    }

    #[test]
    fn config_needs_a_token_when_a_url_is_set_and_names_the_variable() {
        use crate::config::MapEnv;
        let t = Duration::from_secs(1);
        assert!(
            BackstageCatalog::from_env(&MapEnv::new(), t)
                .unwrap()
                .is_none()
        );
        let err = BackstageCatalog::from_env(&MapEnv::new().with(URL_VAR, "http://b:7007"), t)
            .unwrap_err();
        assert_eq!(err.var(), TOKEN_VAR);
        let env = MapEnv::new().with(URL_VAR, "b:7007").with(TOKEN_VAR, "t");
        assert_eq!(
            BackstageCatalog::from_env(&env, t).unwrap_err().var(),
            URL_VAR
        );
    }

    #[test]
    fn entity_urls_escape_each_segment_and_keep_a_base_path() {
        let c =
            BackstageCatalog::new("http://b:7007/portal/", "t", Duration::from_secs(1)).unwrap();
        let e = EntityRef::parse("component:default/web").unwrap();
        assert_eq!(
            c.entity_url(&e).as_str(),
            "http://b:7007/portal/api/catalog/entities/by-name/component/default/web"
        );
    }
}
