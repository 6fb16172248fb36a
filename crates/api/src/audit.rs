//! The audit middleware: the one place every change made over HTTP is recorded. It sees the
//! matched route, its path parameters, the caller the rate limiter authenticated, the client
//! address and the answer's status, and hands them to the domain once the response is built,
//! on a task of its own, so recording never fails a request and adds no write to it (only the
//! organization lookup, which runs alongside the handler). Reads only note a token's first
//! use in each hour.

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use terrace_domain::audit::ChangeRequest;

use crate::app::AppState;
use crate::extract::Authenticated;
use crate::limits::ClientAddr;

/// Routes whose mutations are not recorded here: the sign-in pages and the token endpoint
/// (the login code records sign-ins and tokens with the user it alone knows), and the job
/// protocol's chatter (heartbeats, claims, log chunks, artifacts: a runner's work, not a
/// change anyone makes; registering, state versions and finishing are recorded).
const NOT_RECORDED: &[&str] = &[
    "/app/oauth/authorization",
    "/app/sign-in",
    "/app/sign-out",
    "/oauth/token",
    "/api/runner/v1/listeners/:listener_id/heartbeat",
    "/api/runner/v1/listeners/:listener_id/claim",
    "/api/runner/v1/job/logs",
    "/api/runner/v1/job/artifacts/:name",
];

/// A JSON:API answer larger than this is not read for the ID of what it created.
const MAX_CREATED_DOCUMENT: u64 = 1 << 20;

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| template(p.as_str()));
    let caller = parts
        .extensions
        .get::<Authenticated>()
        .and_then(|Authenticated(result)| result.as_ref().ok().cloned());
    let client_address = parts
        .extensions
        .get::<ClientAddr>()
        .map(|client| client.0.to_string());
    let mutating = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let Some(route) = route.filter(|r| mutating && !NOT_RECORDED.contains(&r.as_str())) else {
        if let Some(caller) = caller {
            let services = state.services.clone();
            tokio::spawn(async move { services.record_token_use(&caller, client_address).await });
        }
        return next.run(Request::from_parts(parts, body)).await;
    };
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|params| {
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let change = ChangeRequest {
        method: parts.method.to_string(),
        route,
        params,
        caller,
        client_address,
    };
    // The organization is looked up alongside the handler and awaited before the response
    // leaves (a client's next request may delete what this one named); a deletion's before
    // the handler runs, since what it names is gone afterwards.
    let mut lookup = {
        let services = state.services.clone();
        let change = change.clone();
        tokio::spawn(async move { services.audit_organization(&change).await })
    };
    let deleted_from = if parts.method == Method::DELETE {
        Some((&mut lookup).await.ok().flatten())
    } else {
        None
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    let organization = match deleted_from {
        Some(organization) => organization,
        None => lookup.await.ok().flatten(),
    };
    let status = response.status().as_u16();
    let (response, created) = created_resource(&change.method, response).await;
    let services = state.services.clone();
    tokio::spawn(async move {
        services
            .record_change(change, organization, status, created)
            .await
    });
    response
}

/// `/workspaces/{workspace_id}` as TFE's documentation writes routes: `/workspaces/:workspace_id`.
fn template(path: &str) -> String {
    path.replace('{', ":").replace('}', "")
}

/// The type and ID of the resource a successful POST created, from its JSON:API answer (a
/// document built in memory, so reading it costs a parse and nothing else).
async fn created_resource(
    method: &str,
    response: Response,
) -> (Response, Option<(String, String)>) {
    let is_document = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/vnd.api+json"));
    let small = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|n| n <= MAX_CREATED_DOCUMENT);
    if method != "POST" || !response.status().is_success() || !is_document || !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CREATED_DOCUMENT as usize).await else {
        return (Response::from_parts(parts, Body::empty()), None);
    };
    let created = serde_json::from_slice::<CreatedDocument>(&bytes)
        .ok()
        .map(|doc| (doc.data.kind, doc.data.id));
    (Response::from_parts(parts, Body::from(bytes)), created)
}

/// Of a created resource's document, only what the audit trail names (the rest is skipped
/// as it is read, not built).
#[derive(serde::Deserialize)]
struct CreatedDocument {
    data: CreatedResource,
}

#[derive(serde::Deserialize)]
struct CreatedResource {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}
