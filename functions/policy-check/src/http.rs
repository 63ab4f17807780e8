//! The Function URL decision API (API Gateway v2 HTTP event shape), hand-rolled so the
//! crate needs neither lambda_http nor aws_lambda_events for four fields.
//!
//! `POST` with `Authorization: Bearer <JWT>` and `{"namespace", "cluster"?, "action"?}`
//! answers 200 (allow), 401 (bad token) or 403 (deny) with the decision JSON. The
//! principal form is refused here: over a public URL a caller could name anyone.
//! A SubjectAccessReview body is accepted only with the webhook's bearer token.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::entity::Namespace;
use shared::policy::{AccessError, Action};

use crate::{Context, DecisionRequest, Error, sar};

/// The parts of a Function URL event this API reads.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEvent {
    /// Lowercased header names (as Function URLs deliver them).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters (`?cluster=prod-eu1` for the webhook).
    #[serde(default)]
    pub query_string_parameters: BTreeMap<String, String>,
    /// The body as sent, or base64 of it.
    #[serde(default)]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default)]
    pub is_base64_encoded: bool,
    /// Method, path and request id.
    pub request_context: RequestContext,
}

// Headers carry the bearer token: never print them.
impl std::fmt::Debug for HttpEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEvent")
            .field("method", &self.request_context.http.method)
            .field("path", &self.request_context.http.path)
            .finish_non_exhaustive()
    }
}

/// `requestContext`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// `requestContext.http`.
    pub http: HttpDetails,
    /// The invocation's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `requestContext.http`.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpDetails {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path.
    #[serde(default)]
    pub path: String,
}

/// What a Function URL returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// The HTTP status.
    pub status_code: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The JSON body as text.
    pub body: String,
}

impl HttpResponse {
    fn json(status_code: u16, body: &impl Serialize) -> Self {
        let mut headers =
            BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]);
        if status_code == 401 {
            headers.insert("www-authenticate".into(), "Bearer".into());
        }
        Self {
            status_code,
            headers,
            body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
        }
    }

    fn error(status_code: u16, message: &str) -> Self {
        Self::json(status_code, &json!({ "error": message }))
    }
}

/// The body of a decision API call: the token is in the header only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlRequest {
    #[serde(default)]
    cluster: Option<String>,
    namespace: Namespace,
    #[serde(default)]
    action: Option<Action>,
}

pub(crate) fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Answers one Function URL event; every outcome is an HTTP answer.
pub async fn handle(ctx: &Context, event: HttpEvent) -> HttpResponse {
    if !event
        .request_context
        .http
        .method
        .eq_ignore_ascii_case("POST")
    {
        return HttpResponse::error(405, "use POST");
    }
    let body = match body_json(&event) {
        Ok(body) => body,
        Err(message) => return HttpResponse::error(400, &message),
    };
    let bearer = bearer(&event.headers);
    let cluster = event.query_string_parameters.get("cluster").cloned();
    if body.get("kind").and_then(Value::as_str) == Some("SubjectAccessReview") {
        // Digests have a fixed length, so comparing them leaks nothing useful.
        let presented = bearer.map(digest);
        if ctx.webhook_token_hash.is_none() || presented != ctx.webhook_token_hash {
            return HttpResponse::error(
                401,
                "a SubjectAccessReview needs the webhook's bearer token",
            );
        }
        return match serde_json::from_value::<sar::SubjectAccessReview>(body) {
            Ok(review) => {
                let id = event.request_context.request_id.clone();
                HttpResponse::json(200, &sar::handle(ctx, review, cluster, id).await)
            }
            Err(e) => HttpResponse::error(400, &format!("SubjectAccessReview: {e}")),
        };
    }
    let request: UrlRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => {
            return HttpResponse::error(
                400,
                &format!(
                    "body: {e}; expected {{\"namespace\", \"cluster\", \"action\"}} with the token in the Authorization header"
                ),
            );
        }
    };
    let request = DecisionRequest {
        // A missing token is decided (and audited) as an invalid one.
        token: Some(bearer.unwrap_or_default().to_owned()),
        principal: None,
        cluster: request.cluster.or(cluster),
        namespace: request.namespace,
        action: request.action.unwrap_or(Action::Read),
    };
    match crate::decide(ctx, request, event.request_context.request_id.clone()).await {
        Ok(decision) => {
            let status = if decision.allowed {
                200
            } else if decision.reason.is_authentication() {
                401
            } else {
                403
            };
            HttpResponse::json(status, &decision)
        }
        Err(Error::Invalid { field, expected }) => {
            HttpResponse::error(400, &format!("{field}: expected {expected}"))
        }
        Err(Error::Access(AccessError::InvalidRequest { field, expected })) => {
            HttpResponse::error(400, &format!("{field}: expected {expected}"))
        }
        Err(Error::Access(e)) => {
            tracing::warn!(error = %e, "cannot verify the token now");
            HttpResponse::error(503, "the token's issuer cannot be reached; retry later")
        }
    }
}

fn body_json(event: &HttpEvent) -> Result<Value, String> {
    let raw = event.body.as_deref().unwrap_or_default();
    let bytes = if event.is_base64_encoded {
        STANDARD
            .decode(raw)
            .map_err(|_| "body: isBase64Encoded is set but the body is not base64".to_owned())?
    } else {
        raw.as_bytes().to_vec()
    };
    serde_json::from_slice(&bytes).map_err(|e| format!("body: expected JSON ({e})"))
}

fn bearer(headers: &BTreeMap<String, String>) -> Option<&str> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
