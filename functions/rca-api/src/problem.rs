//! Problem details (RFC 9457) for every error answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `application/problem+json` with `type`, `title`, `status`, `detail` and, for a bad
/// field, `field`.
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: &str,
    field: Option<&str>,
) -> Response {
    let mut body = json!({
        "type": format!("/problems/{slug}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    respond(status, &body)
}

/// 401 with the reason code (`invalid_token`, `expired_token`, `untrusted_issuer`) in
/// the body, and `WWW-Authenticate: Bearer`.
pub fn unauthorized(reason: &str, detail: &str) -> Response {
    let body = json!({
        "type": "/problems/unauthorized",
        "title": "The token was refused",
        "status": 401,
        "detail": detail,
        "reason": reason,
    });
    let mut response = respond(StatusCode::UNAUTHORIZED, &body);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

fn respond(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
