//! A small ZITADEL client: who holds which role of a project.
//!
//! Followed: ZITADEL's published API reference for v4 (zitadel.com/docs, "APIs → Core
//! Resources"), checked against `proto/zitadel/authorization/v2/authorization.proto`:
//! - v2 `POST /zitadel.authorization.v2.AuthorizationService/ListAuthorizations`
//!   (Connect JSON, `Connect-Protocol-Version: 1`): request `{"pagination": {"offset",
//!   "limit", "asc"}, "filters": [{"projectId": {"id"}}]}`, answer `{"pagination":
//!   {"totalResult", "appliedLimit"}, "authorizations": [{"id", "project": {"id",
//!   "organizationId"}, "organization": {"id"}, "user": {"id", "preferredLoginName",
//!   "displayName", "organizationId"}, "state", "roles": [{"key"}]}]}`. It carries no
//!   e-mail address and no organisation domain; the domain comes from v2
//!   `POST /v2/organizations/_search` (`{"queries": [{"idQuery": {"id"}}]}` →
//!   `{"result": [{"id", "primaryDomain"}]}`).
//! - v1 `POST /management/v1/users/grants/_search` (deprecated, for older servers, asked
//!   once per configured organisation with `x-zitadel-orgid`): request `{"query":
//!   {"offset", "limit", "asc"}, "queries": [{"projectIdQuery": {"projectId"}}]}`,
//!   answer `{"details": {"totalResult"}, "result": [{"roleKeys", "state", "userId",
//!   "email", "displayName", "orgId", "projectId", "preferredLoginName",
//!   "grantedOrgId", "grantedOrgDomain"}]}` (`orgId` is the grant's organisation,
//!   `grantedOrg*` the user's own).
//! - The project's roles (for groups without members): v1
//!   `POST /management/v1/projects/{id}/roles/_search` → `{"result": [{"key"}]}`.
//! - Auth: a personal access token, or a JWT-profile key (`{"type":
//!   "serviceaccount", "keyId", "key", "userId"}`) signed into an RS256 assertion and
//!   exchanged at `POST /oauth/v2/token` (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`).
//!
//! 64-bit counts arrive as JSON strings (proto3 JSON) or numbers; both are accepted.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::backoff::Backoff;

use super::Error;

const PAGE: u64 = 100;
const ATTEMPTS: u32 = 3;
const MAX_PAGES: u64 = 10_000;
const TOKEN_VAR: &str = "AIOPS_ZITADEL_TOKEN";
const KEY_FILE_VAR: &str = "AIOPS_ZITADEL_KEY_FILE";

/// How the sync signs in. Debug never shows the secret.
#[derive(Clone)]
pub enum Credential {
    /// `AIOPS_ZITADEL_TOKEN`: a service user's personal access token.
    Token(String),
    /// `AIOPS_ZITADEL_KEY_FILE`: a service user's JSON key.
    Key(ServiceKey),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(..)"),
            Self::Key(k) => f
                .debug_struct("Key")
                .field("key_id", &k.key_id)
                .field("user_id", &k.user_id)
                .finish_non_exhaustive(),
        }
    }
}

impl Credential {
    /// The variable the credential came from, for error messages.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Token(_) => TOKEN_VAR,
            Self::Key(_) => KEY_FILE_VAR,
        }
    }
}

/// The JSON key ZITADEL issues for a service user. Debug never shows the key.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceKey {
    /// Always `serviceaccount`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The key's id (the JWT `kid`).
    pub key_id: String,
    /// The RSA private key, PEM.
    pub key: String,
    /// The service user's id (`iss` and `sub` of the assertion).
    pub user_id: String,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKey")
            .field("key_id", &self.key_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl ServiceKey {
    /// Parses a key file's content; errors name `AIOPS_ZITADEL_KEY_FILE`.
    pub fn parse(text: &str) -> Result<Self, shared::config::ConfigError> {
        let expected =
            r#"a ZITADEL service-user key file: {"type":"serviceaccount","keyId","key","userId"}"#;
        let key: Self = serde_json::from_str(text).map_err(|e| {
            shared::config::ConfigError::invalid(
                KEY_FILE_VAR,
                expected,
                Some(format!("line {}: {}", e.line(), e.classify_name())),
            )
        })?;
        if key.kind != "serviceaccount" || key.key_id.is_empty() || key.user_id.is_empty() {
            return Err(shared::config::ConfigError::invalid(
                KEY_FILE_VAR,
                expected,
                None,
            ));
        }
        jsonwebtoken::EncodingKey::from_rsa_pem(key.key.as_bytes()).map_err(|_| {
            shared::config::ConfigError::invalid(
                KEY_FILE_VAR,
                expected,
                Some("key is not an RSA private key in PEM form".into()),
            )
        })?;
        Ok(key)
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "not valid JSON"
            }
            serde_json::error::Category::Data => "a field is missing or of the wrong type",
        }
    }
}

/// One role assignment as the sync needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The user's id.
    pub user_id: String,
    /// The preferred login name.
    pub login: String,
    /// The display name.
    pub display_name: String,
    /// The e-mail address, when the API gives it (v1).
    pub email: Option<String>,
    /// The organisation the user belongs to.
    pub user_org_id: String,
    /// Its primary domain, when known.
    pub user_org_domain: Option<String>,
    /// The project.
    pub project_id: String,
    /// The organisation the roles were granted in.
    pub org_id: String,
    /// Only active assignments count (inactive ones are not in tokens either).
    pub active: bool,
    /// The role keys.
    pub roles: Vec<String>,
}

/// Which API answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// `AuthorizationService/ListAuthorizations`.
    V2,
    /// `management/v1/users/grants/_search`.
    V1,
}

/// A signed-in client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    bearer: String,
    var: &'static str,
    backoff: Backoff,
}

impl Client {
    /// Signs in: a token as it is, a key through the token endpoint.
    pub async fn connect(
        base: Url,
        credential: &Credential,
        backoff: Backoff,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Dependency(format!("ZITADEL client set-up: {e}")))?;
        let bearer = match credential {
            Credential::Token(token) => token.clone(),
            Credential::Key(key) => exchange_key(&http, &base, key, backoff).await?,
        };
        Ok(Self {
            http,
            base,
            bearer,
            var: credential.var(),
            backoff,
        })
    }

    /// Every assignment of `project_id` visible to the service user, through v2, or
    /// v1 (one pass per organisation in `org_ids`) when the server has no v2.
    pub async fn assignments(
        &self,
        project_id: &str,
        org_ids: &[String],
    ) -> Result<(ApiVersion, Vec<Assignment>), Error> {
        if let Some(list) = self.v2_assignments(project_id).await? {
            return Ok((ApiVersion::V2, list));
        }
        let mut all = Vec::new();
        for org in org_ids {
            all.extend(self.v1_assignments(project_id, org).await?);
        }
        Ok((ApiVersion::V1, all))
    }

    /// `None` when the server does not implement v2.
    async fn v2_assignments(&self, project_id: &str) -> Result<Option<Vec<Assignment>>, Error> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let body = json!({
                "pagination": {"offset": offset.to_string(), "limit": PAGE, "asc": true},
                "sortingColumn": "AUTHORIZATION_FIELD_NAME_ID",
                "filters": [{"projectId": {"id": project_id}}],
            });
            let answer = match self
                .post(
                    "zitadel.authorization.v2.AuthorizationService/ListAuthorizations",
                    &body,
                    None,
                    true,
                )
                .await?
            {
                Answer::Json(v) => v,
                Answer::Unimplemented => return Ok(None),
            };
            let page: V2Page = decode(answer, "ListAuthorizations")?;
            let n = page.authorizations.len() as u64;
            out.extend(
                page.authorizations
                    .into_iter()
                    .map(V2Authorization::into_assignment),
            );
            offset += n;
            let total = page.pagination.map_or(0, |p| p.total_result.0);
            if n == 0 || offset >= total {
                return Ok(Some(out));
            }
        }
        Err(Error::Dependency(
            "ListAuthorizations: too many pages".into(),
        ))
    }

    async fn v1_assignments(&self, project_id: &str, org: &str) -> Result<Vec<Assignment>, Error> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let body = json!({
                "query": {"offset": offset.to_string(), "limit": PAGE, "asc": true},
                "queries": [{"projectIdQuery": {"projectId": project_id}}],
            });
            let answer = self
                .post(
                    "management/v1/users/grants/_search",
                    &body,
                    Some(org),
                    false,
                )
                .await?;
            let Answer::Json(answer) = answer else {
                return Err(Error::Dependency(
                    "management/v1/users/grants/_search: not found on this server (neither v2 nor v1 is served)".into(),
                ));
            };
            let page: V1Page = decode(answer, "users/grants/_search")?;
            let n = page.result.len() as u64;
            out.extend(page.result.into_iter().map(V1Grant::into_assignment));
            offset += n;
            let total = page.details.map_or(0, |d| d.total_result.0);
            if n == 0 || offset >= total {
                return Ok(out);
            }
        }
        Err(Error::Dependency(
            "users/grants/_search: too many pages".into(),
        ))
    }

    /// The role keys defined on `project_id`.
    pub async fn project_roles(&self, project_id: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        let route = format!("management/v1/projects/{project_id}/roles/_search");
        for _ in 0..MAX_PAGES {
            let body = json!({"query": {"offset": offset.to_string(), "limit": PAGE, "asc": true}});
            let Answer::Json(answer) = self.post(&route, &body, None, false).await? else {
                return Err(Error::Dependency(format!(
                    "{route}: not found (is the project id right and visible to the service user?)"
                )));
            };
            let page: RolesPage = decode(answer, "projects/roles/_search")?;
            let n = page.result.len() as u64;
            out.extend(page.result.into_iter().map(|r| r.key));
            offset += n;
            let total = page.details.map_or(0, |d| d.total_result.0);
            if n == 0 || offset >= total {
                return Ok(out);
            }
        }
        Err(Error::Dependency(format!("{route}: too many pages")))
    }

    /// The primary domain of each organisation in `org_ids` that the server knows.
    pub async fn org_domains(&self, org_ids: &[String]) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        for org in org_ids {
            let body = json!({"queries": [{"idQuery": {"id": org}}]});
            let Answer::Json(answer) = self
                .post("v2/organizations/_search", &body, None, false)
                .await?
            else {
                // An older server without the v2 organisation service: v1 grants carry
                // the domain themselves.
                return Ok(out);
            };
            let page: OrgPage = decode(answer, "organizations/_search")?;
            for o in page.result {
                if !o.primary_domain.is_empty() {
                    out.insert(o.id, o.primary_domain);
                }
            }
        }
        Ok(out)
    }

    async fn post(
        &self,
        route: &str,
        body: &Value,
        org: Option<&str>,
        connect: bool,
    ) -> Result<Answer, Error> {
        let url = self
            .base
            .join(route)
            .map_err(|e| Error::Dependency(format!("{route}: {e}")))?;
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .post(url.clone())
                .bearer_auth(&self.bearer)
                .json(body);
            if connect {
                request = request.header("Connect-Protocol-Version", "1");
            }
            if let Some(org) = org {
                request = request.header("x-zitadel-orgid", org);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = response.bytes().await.unwrap_or_default();
                    classify(route, status, &bytes, self.var)
                }
                Err(e) => Err((
                    Error::Dependency(format!("{route}: {}", transport(&e))),
                    true,
                )),
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err((e, true)) if attempt + 1 < ATTEMPTS => {
                    tracing::info!(%route, attempt, error = %e, "ZITADEL call failed; retrying");
                    tokio::time::sleep(self.backoff.random_delay(attempt)).await;
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
}

enum Answer {
    Json(Value),
    /// 404, 501, or a Connect `unimplemented` error.
    Unimplemented,
}

fn classify(
    route: &str,
    status: StatusCode,
    body: &[u8],
    var: &'static str,
) -> Result<Answer, (Error, bool)> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if status.is_success() {
        return parsed.map(Answer::Json).ok_or_else(|| {
            (
                Error::Dependency(format!("{route}: the answer is not JSON")),
                false,
            )
        });
    }
    if status == StatusCode::UNAUTHORIZED || code == "unauthenticated" {
        return Err((
            Error::Auth {
                var,
                detail: format!("{route} answered {status}"),
            },
            false,
        ));
    }
    if status == StatusCode::FORBIDDEN || code == "permission_denied" {
        return Err((
            Error::Auth {
                var,
                detail: format!(
                    "{route} answered {status}: the service user lacks a permission (user.grant.read, project.role.read)"
                ),
            },
            false,
        ));
    }
    if status == StatusCode::NOT_FOUND
        || status == StatusCode::NOT_IMPLEMENTED
        || code == "unimplemented"
    {
        return Ok(Answer::Unimplemented);
    }
    let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(|m| m.chars().take(200).collect::<String>())
        .unwrap_or_default();
    Err((
        Error::Dependency(format!("{route} answered {status} {message}")),
        retryable,
    ))
}

fn transport(e: &reqwest::Error) -> String {
    let mut message = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "failed".to_owned()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

fn decode<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        Error::Dependency(format!(
            "{what}: unexpected answer shape at {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// The JWT-profile grant: an RS256 assertion about the service user, for the instance.
async fn exchange_key(
    http: &reqwest::Client,
    base: &Url,
    key: &ServiceKey,
    backoff: Backoff,
) -> Result<String, Error> {
    let now = chrono::Utc::now().timestamp();
    let audience = base.as_str().trim_end_matches('/');
    let claims = json!({"iss": key.user_id, "sub": key.user_id, "aud": audience, "iat": now, "exp": now + 3600});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.key_id.clone());
    let signing =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.key.as_bytes()).map_err(|_| Error::Auth {
            var: KEY_FILE_VAR,
            detail: "the key is not an RSA private key in PEM form".into(),
        })?;
    let assertion = jsonwebtoken::encode(&header, &claims, &signing).map_err(|_| Error::Auth {
        var: KEY_FILE_VAR,
        detail: "the key cannot sign an RS256 assertion".into(),
    })?;
    let mut form =
        Url::parse("http://form.invalid/").map_err(|e| Error::Dependency(e.to_string()))?;
    form.query_pairs_mut()
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("scope", "openid urn:zitadel:iam:org:project:id:zitadel:aud")
        .append_pair("assertion", &assertion);
    let body = form.query().unwrap_or_default().to_owned();
    let url = base
        .join("oauth/v2/token")
        .map_err(|e| Error::Dependency(format!("oauth/v2/token: {e}")))?;
    let mut attempt = 0;
    loop {
        let sent = http
            .post(url.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                let answer: TokenAnswer = response.json().await.map_err(|_| {
                    Error::Dependency("oauth/v2/token: the answer has no access_token".into())
                })?;
                return Ok(answer.access_token);
            }
            Ok(response) if response.status().is_client_error() => {
                // 400 invalid_grant / 401 invalid_client: the key is wrong, unknown or revoked.
                let status = response.status();
                let error: Option<Value> = response.json().await.ok();
                let reason = error
                    .as_ref()
                    .and_then(|v| v.get("error"))
                    .and_then(Value::as_str)
                    .map(|r| format!(" ({})", r.chars().take(60).collect::<String>()))
                    .unwrap_or_default();
                return Err(Error::Auth {
                    var: KEY_FILE_VAR,
                    detail: format!("the token endpoint refused the key: {status}{reason}"),
                });
            }
            Ok(response) => format!("oauth/v2/token answered {}", response.status()),
            Err(e) => format!("oauth/v2/token: {}", transport(&e)),
        };
        if attempt + 1 >= ATTEMPTS {
            return Err(Error::Dependency(failure));
        }
        tokio::time::sleep(backoff.random_delay(attempt)).await;
        attempt += 1;
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// A proto3 64-bit integer: a JSON string or number.
#[derive(Debug, Default, Clone, Copy)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .map(Count)
                .ok_or_else(|| serde::de::Error::custom("a count")),
            Value::String(s) => s.parse().map(Count).map_err(serde::de::Error::custom),
            Value::Null => Ok(Count(0)),
            _ => Err(serde::de::Error::custom("a count as a string or number")),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Total {
    #[serde(default)]
    total_result: Count,
}

#[derive(Deserialize)]
struct V2Page {
    #[serde(default)]
    pagination: Option<Total>,
    #[serde(default)]
    authorizations: Vec<V2Authorization>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct V2Ref {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct V2User {
    #[serde(default)]
    id: String,
    #[serde(default)]
    preferred_login_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    organization_id: String,
}

#[derive(Deserialize)]
struct V2Role {
    key: String,
}

#[derive(Deserialize)]
struct V2Authorization {
    #[serde(default)]
    project: V2Ref,
    #[serde(default)]
    organization: V2Ref,
    #[serde(default)]
    user: V2User,
    #[serde(default)]
    state: String,
    #[serde(default)]
    roles: Vec<V2Role>,
}

impl V2Authorization {
    fn into_assignment(self) -> Assignment {
        Assignment {
            user_id: self.user.id,
            login: self.user.preferred_login_name,
            display_name: self.user.display_name,
            email: None,
            user_org_id: self.user.organization_id,
            user_org_domain: None,
            project_id: self.project.id,
            org_id: self.organization.id,
            // proto3 JSON leaves out a default value; the default is UNSPECIFIED.
            active: self.state == "STATE_ACTIVE",
            roles: self.roles.into_iter().map(|r| r.key).collect(),
        }
    }
}

#[derive(Deserialize)]
struct V1Page {
    #[serde(default)]
    details: Option<Total>,
    #[serde(default)]
    result: Vec<V1Grant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Grant {
    #[serde(default)]
    role_keys: Vec<String>,
    #[serde(default)]
    state: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    preferred_login_name: String,
    #[serde(default)]
    granted_org_id: String,
    #[serde(default)]
    granted_org_domain: String,
}

impl V1Grant {
    fn into_assignment(self) -> Assignment {
        let some = |s: String| (!s.is_empty()).then_some(s);
        Assignment {
            user_id: self.user_id,
            login: self.preferred_login_name,
            display_name: self.display_name,
            email: some(self.email),
            user_org_id: self.granted_org_id,
            user_org_domain: some(self.granted_org_domain),
            project_id: self.project_id,
            org_id: self.org_id,
            active: self.state == "USER_GRANT_STATE_ACTIVE",
            roles: self.role_keys,
        }
    }
}

#[derive(Deserialize)]
struct RolesPage {
    #[serde(default)]
    details: Option<Total>,
    #[serde(default)]
    result: Vec<V2Role>,
}

#[derive(Deserialize)]
struct OrgPage {
    #[serde(default)]
    result: Vec<Org>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Org {
    id: String,
    #[serde(default)]
    primary_domain: String,
}
