//! `policy-check --listen [ADDR]`: the Function URL routes as a plain local HTTP server,
//! so that a kube-apiserver (or anything else) can reach the same handler without
//! Lambda. Every request becomes the Function URL event it would have been
//! (lowercased headers, query parameters, body, method, path, a request id) and gets
//! the same answer: 200/401/403 decisions, SubjectAccessReviews with the webhook's
//! bearer token, 400/405 for the rest.
//!
//! It listens on loopback (`127.0.0.1:8080`) unless told otherwise and speaks plain
//! HTTP: keep it on the API server's host, or put TLS in front of it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use shared::Classify;
use shared::config::ProcessEnv;

use crate::http::{HttpDetails, HttpEvent, RequestContext};
use crate::{Config, Context, Input, Output};

/// Where `--listen` without an address listens.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// `Some` when the arguments ask for `--listen`: the address (the default when none
/// follows), or why the one given is not an address.
pub fn requested(args: &[String]) -> Option<Result<SocketAddr, String>> {
    let position = args
        .iter()
        .position(|a| a == "--listen" || a.starts_with("--listen="))?;
    let arg = &args[position];
    let value = match arg.strip_prefix("--listen=") {
        Some(value) => Some(value.to_owned()),
        None => args
            .get(position + 1)
            .filter(|v| !v.starts_with('-'))
            .cloned(),
    };
    Some(match value {
        None => Ok(DEFAULT_ADDR),
        Some(text) => text.parse().map_err(|_| {
            format!("--listen: expected an address such as 127.0.0.1:8080, got {text:?}")
        }),
    })
}

/// The router: every path and method goes to the Function URL handler.
pub fn app(ctx: Arc<Context>) -> Router {
    Router::new().fallback(route).with_state(ctx)
}

async fn route(
    State(ctx): State<Arc<Context>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let event = event(&method, &uri, &headers, query, &body);
    match crate::handle(&ctx, Input::Http(event)).await {
        Ok(Output::Http(answer)) => {
            let status = StatusCode::from_u16(answer.status_code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, answer.body).into_response();
            for (name, value) in &answer.headers {
                if let (Ok(name), Ok(value)) = (
                    axum::http::HeaderName::try_from(name.as_str()),
                    axum::http::HeaderValue::try_from(value.as_str()),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        // The HTTP handler answers everything itself; anything else is a bug worth a 500.
        Ok(_) | Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer").into_response(),
    }
}

/// The Function URL event this request would have been.
fn event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: BTreeMap<String, String>,
    body: &Bytes,
) -> HttpEvent {
    let headers = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let (body, is_base64_encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    HttpEvent {
        headers,
        query_string_parameters: query,
        body: Some(body),
        is_base64_encoded,
        request_context: RequestContext {
            http: HttpDetails {
                method: method.as_str().to_owned(),
                path: uri.path().to_owned(),
            },
            request_id: Some(uuid::Uuid::new_v4().to_string()),
        },
    }
}

/// Serves `app` on a bound listener until the process stops.
pub async fn serve(listener: tokio::net::TcpListener, ctx: Arc<Context>) -> std::io::Result<()> {
    axum::serve(listener, app(ctx)).await
}

/// The whole `--listen` mode: configuration, context, bind, serve. Exit 2 for a bad
/// address or configuration, 1 when the address cannot be bound or serving fails.
pub async fn main(addr: Result<SocketAddr, String>) -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let addr = match addr {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("policy-check: {message}");
            return ExitCode::from(shared::invoke::EXIT_INVALID);
        }
    };
    let ctx = match Config::from_env(&ProcessEnv).and_then(Context::new) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("policy-check: {e}");
            return ExitCode::from(e.kind().exit_code());
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("policy-check: cannot listen on {addr}: {e}");
            return ExitCode::from(shared::invoke::EXIT_DEPENDENCY);
        }
    };
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback over plain HTTP; put TLS in front");
    }
    tracing::info!(%addr, "serving the Function URL routes");
    match serve(listener, ctx).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("policy-check: serving on {addr} failed: {e}");
            ExitCode::from(shared::invoke::EXIT_DEPENDENCY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn listen_takes_an_optional_address_and_defaults_to_loopback() {
        assert_eq!(requested(&args(&["--event", "x.json"])), None);
        assert_eq!(requested(&args(&["--listen"])), Some(Ok(DEFAULT_ADDR)));
        assert_eq!(
            requested(&args(&["--listen", "127.0.0.1:9443"])),
            Some(Ok("127.0.0.1:9443".parse().unwrap_or(DEFAULT_ADDR)))
        );
        assert_eq!(
            requested(&args(&["--listen=[::1]:8081"])),
            Some(Ok("[::1]:8081".parse().unwrap_or(DEFAULT_ADDR)))
        );
        let Some(Err(message)) = requested(&args(&["--listen", "localhost"])) else {
            panic!("a host without a port is not an address")
        };
        assert!(
            message.starts_with("--listen: expected an address"),
            "{message}"
        );
    }
}
