//! The TCP listener: health endpoints, discovery, and the two WebSocket
//! endpoints (`/rpc` for JSON-RPC, `/ws` and `/` for Letta Code frames).
//!
//! One guard sits in front of every route: with an auth token configured,
//! requests must carry `Authorization: Bearer <token>` (compared in constant
//! time); without one, requests carrying an `Origin` header or a `Host` that
//! is not a loopback name are refused, so a web page the user happens to
//! visit cannot drive the daemon, directly or by DNS rebinding.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{Shared, ws};
use crate::config::Secret;
use crate::rpc::Transport;

/// Builds the HTTP router.
pub fn router(shared: Arc<Shared>, auth_token: Option<Secret>) -> Router {
    let guard = Arc::new(AccessGuard { auth_token });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/app-server-info", get(app_server_info))
        .route("/rpc", get(ws::upgrade_rpc))
        .route("/ws", get(ws::upgrade_frames))
        .route("/", get(ws::upgrade_frames))
        .layer(middleware::from_fn_with_state(guard, guard_request))
        .with_state(shared)
}

struct AccessGuard {
    auth_token: Option<Secret>,
}

async fn guard_request(
    State(guard): State<Arc<AccessGuard>>,
    request: Request,
    next: Next,
) -> Response {
    match guard.refusal(request.headers()) {
        Some((status, message)) => refuse(status, message),
        None => next.run(request).await,
    }
}

impl AccessGuard {
    /// Why the request must be refused, if it must.
    fn refusal(&self, headers: &HeaderMap) -> Option<(StatusCode, &'static str)> {
        match &self.auth_token {
            Some(token) => {
                let presented = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .map(str::trim)
                    .unwrap_or_default();
                let matches = bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes()));
                (!matches).then_some((
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token: send Authorization: Bearer <token from --auth-token-file>",
                ))
            }
            None if headers.contains_key(header::ORIGIN) => Some((
                StatusCode::FORBIDDEN,
                "requests from web pages (with an Origin header) are refused unless the daemon runs with --auth-token-file",
            )),
            None if !names_loopback(headers.get(header::HOST)) => Some((
                StatusCode::FORBIDDEN,
                "only loopback names (localhost, 127.0.0.1, [::1]) may be used as Host unless the daemon runs with --auth-token-file",
            )),
            None => None,
        }
    }
}

/// Whether a request's `Host` names this machine's loopback. A page that
/// had its own name resolve to 127.0.0.1 (DNS rebinding) sends that name,
/// and no `Origin` on its same-origin requests; this is what refuses it.
/// Programs that send no `Host` at all are local ones.
fn names_loopback(host: Option<&header::HeaderValue>) -> bool {
    let Some(host) = host else { return true };
    let Some(authority) = host
        .to_str()
        .ok()
        .and_then(|host| host.parse::<axum::http::uri::Authority>().ok())
    else {
        return false;
    };
    let name = authority.host();
    let name = name
        .strip_prefix('[')
        .and_then(|name| name.strip_suffix(']'))
        .unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.is_ready() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
            .into_response()
    }
}

async fn app_server_info(State(shared): State<Arc<Shared>>) -> Json<letta_protocol::AppServerInfo> {
    Json(crate::rpc::app_server_info(&shared.state))
}

/// Used by the WebSocket endpoints to name their transport in logs.
pub(super) fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::LocalSocket => "local socket",
        Transport::WebSocketRpc => "/rpc",
        Transport::WebSocketFrames => "/ws",
    }
}
