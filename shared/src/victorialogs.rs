//! The VictoriaLogs endpoint: `AIOPS_VICTORIALOGS_URL` and its tenant, parsed once.
//!
//! The audit sink writes to it, the log source queries it and the report links to its
//! UI; all three take an [`Endpoint`], so the URL is checked in one place and the tenant
//! headers go with every request, reads as well as writes.

use reqwest::{RequestBuilder, Url};

use crate::config::{ConfigError, Env};

/// VictoriaLogs base URL (`http://victorialogs:9428`, or behind a path prefix).
pub const URL_VAR: &str = "AIOPS_VICTORIALOGS_URL";
/// The tenant's account id, sent as the `AccountID` header.
pub const ACCOUNT_ID_VAR: &str = "AIOPS_VICTORIALOGS_ACCOUNT_ID";
/// The tenant's project id, sent as the `ProjectID` header.
pub const PROJECT_ID_VAR: &str = "AIOPS_VICTORIALOGS_PROJECT_ID";

const URL_EXPECTED: &str = "an http(s) URL such as http://victorialogs:9428";
const TENANT_EXPECTED: &str = "a VictoriaLogs tenant id (a number from 0 to 4294967295)";

/// Where VictoriaLogs is and which tenant to use.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: Url,
    account_id: Option<u32>,
    project_id: Option<u32>,
}

impl Endpoint {
    /// Parses a base URL: `http` or `https`, with a host. The error names
    /// [`URL_VAR`] and never repeats the text, which may carry credentials.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(raw.trim())
            .map_err(|e| ConfigError::invalid(URL_VAR, URL_EXPECTED, Some(e.to_string())))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::invalid(
                URL_VAR,
                URL_EXPECTED,
                Some("scheme is not http or https".into()),
            ));
        }
        if url.host().is_none() {
            return Err(ConfigError::invalid(
                URL_VAR,
                URL_EXPECTED,
                Some("there is no host".into()),
            ));
        }
        Ok(Self::from_url(url))
    }

    /// An endpoint at an already parsed URL, with the default tenant.
    pub fn from_url(base: Url) -> Self {
        Self {
            base,
            account_id: None,
            project_id: None,
        }
    }

    /// Reads [`URL_VAR`], [`ACCOUNT_ID_VAR`] and [`PROJECT_ID_VAR`]; `None` when the URL
    /// is unset.
    pub fn from_env(env: &impl Env) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = env.get(URL_VAR) else {
            return Ok(None);
        };
        Ok(Some(Self::parse(&raw)?.with_tenant(
            env.parse(ACCOUNT_ID_VAR, TENANT_EXPECTED)?,
            env.parse(PROJECT_ID_VAR, TENANT_EXPECTED)?,
        )))
    }

    /// The same endpoint for another tenant.
    #[must_use]
    pub fn with_tenant(mut self, account_id: Option<u32>, project_id: Option<u32>) -> Self {
        self.account_id = account_id;
        self.project_id = project_id;
        self
    }

    /// The base URL as configured (it may carry basic-auth credentials).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The tenant's account id.
    pub fn account_id(&self) -> Option<u32> {
        self.account_id
    }

    /// The tenant's project id.
    pub fn project_id(&self) -> Option<u32> {
        self.project_id
    }

    /// The URL of an API path (`insert/jsonline`, `select/logsql/query`) under the base
    /// URL's path, so a VictoriaLogs behind a prefix (`https://gw/vl`) works with or
    /// without a trailing slash. The base URL's query is dropped.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    /// [`Endpoint::url`] without credentials: for a link a person follows, which is
    /// written into a report and must not carry the password.
    pub fn link(&self, path: &str) -> Url {
        let mut url = self.url(path);
        // Both fail only for URLs that cannot have credentials at all.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url
    }

    /// Adds the tenant headers to a request.
    pub fn tenant(&self, mut request: RequestBuilder) -> RequestBuilder {
        if let Some(account) = self.account_id {
            request = request.header("AccountID", account.to_string());
        }
        if let Some(project) = self.project_id {
            request = request.header("ProjectID", project.to_string());
        }
        request
    }
}

// The URL may carry basic-auth credentials, so Debug shows only where it points.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.base.host_str())
            .field("port", &self.base.port_or_known_default())
            .field("path", &self.base.path())
            .field("account_id", &self.account_id)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn api_paths_keep_a_path_prefix_with_or_without_a_trailing_slash() {
        for (base, expected) in [
            ("http://vl:9428", "http://vl:9428/insert/jsonline"),
            ("http://vl:9428/", "http://vl:9428/insert/jsonline"),
            ("https://gw/vl/", "https://gw/vl/insert/jsonline"),
            ("https://gw/vl?x=1", "https://gw/vl/insert/jsonline"),
        ] {
            let endpoint = Endpoint::parse(base).expect(base);
            assert_eq!(endpoint.url("insert/jsonline").as_str(), expected, "{base}");
        }
    }

    #[test]
    fn a_link_never_carries_the_credentials_requests_use() {
        let password = format!("pw{}", fastrand::u64(..));
        let endpoint =
            Endpoint::parse(&format!("https://reader:{password}@vl.example/vl/")).expect("url");
        assert_eq!(endpoint.url("select/vmui/").password(), Some(&*password));
        let link = endpoint.link("select/vmui/");
        assert_eq!(link.as_str(), "https://vl.example/vl/select/vmui/");
        assert!(!format!("{endpoint:?}").contains(&password));
    }

    #[test]
    fn the_tenant_is_read_with_the_url_and_named_when_bad() {
        let env = MapEnv::new()
            .with(URL_VAR, "http://vl:9428")
            .with(ACCOUNT_ID_VAR, "12")
            .with(PROJECT_ID_VAR, "3");
        let endpoint = Endpoint::from_env(&env).expect("valid").expect("set");
        assert_eq!(
            (endpoint.account_id(), endpoint.project_id()),
            (Some(12), Some(3))
        );
        assert!(Endpoint::from_env(&MapEnv::new()).expect("valid").is_none());
        for (var, value) in [
            (ACCOUNT_ID_VAR, "-1"),
            (PROJECT_ID_VAR, "many"),
            (URL_VAR, "ftp://vl"),
            (URL_VAR, "http://"),
        ] {
            let env = MapEnv::new()
                .with(URL_VAR, "http://vl:9428")
                .with(var, value);
            let err = Endpoint::from_env(&env).expect_err(value);
            assert_eq!(err.var(), var, "{value}");
        }
    }

    #[test]
    fn tenant_headers_go_on_the_request() {
        let endpoint = Endpoint::parse("http://vl:9428")
            .expect("url")
            .with_tenant(Some(7), None);
        let request = endpoint
            .tenant(reqwest::Client::new().get(endpoint.url("select/logsql/query")))
            .build()
            .expect("request");
        assert_eq!(request.headers()["AccountID"], "7");
        assert!(request.headers().get("ProjectID").is_none());
    }
}
