//! What clients ask before anything else: service discovery, `ping` and health.

use axum::extract::State;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use terrace_runner_listener::listener::Connection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::urls::API_PREFIX;

/// The API version advertised to clients: the CLI needs at least 2.5 for the cloud block.
pub const TFP_API_VERSION: &str = "2.6";
/// Shaped like TFE's release names (`vYYYYMM-N`): the CLI parses it when deciding whether
/// it can render structured run output.
pub const TFE_VERSION: &str = "v202507-1";
pub const APP_NAME: &str = "Terrace";

/// Whether `path` is one a client reads before anything else: service discovery or the ping.
/// Both answer the same to everyone, so the rate limits let them fall back to the address's
/// allowance when their token is over its limit (`limits::enforce`).
pub fn is_discovery(path: &str) -> bool {
    path == "/.well-known/terraform.json"
        || path
            .strip_prefix(API_PREFIX)
            .is_some_and(|rest| rest == "/ping")
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(well_known))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ping))
}

/// Service discovery: where the API, the state backend and `terraform login` live.
#[utoipa::path(get, path = "/.well-known/terraform.json", tag = "discovery", security(()),
    responses((status = 200, description = "Service discovery document", content_type = "application/json")))]
async fn well_known() -> impl IntoResponse {
    let api = format!("{API_PREFIX}/");
    let body = json!({
        "tfe.v2": api,
        "tfe.v2.1": api,
        "tfe.v2.2": api,
        "state.v2": api,
        "modules.v1": super::module_registry::MODULES_V1,
        "providers.v1": crate::routes::provider_registry::PREFIX,
        "login.v1": {
            "client": terrace_domain::login::CLI_CLIENT_ID,
            "grant_types": ["authz_code"],
            "authz": "/app/oauth/authorization",
            "token": "/oauth/token",
            "ports": [10000, 10010],
        },
    });
    // Exactly application/json: the CLI refuses anything else here.
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Liveness for clients: go-tfe reads the API version from this answer's headers (set on
/// every response, [`crate::headers`]) and paces itself by its rate limit headers.
#[utoipa::path(get, path = "/ping", tag = "discovery", security(()),
    responses((status = 204, description = "The server is up; the headers carry its API version")))]
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The headers naming this server and its API version, on every response as TFE sends them:
/// a client that reads the version from a refused answer (a 429) still finds it.
pub const VERSION_HEADERS: [(HeaderName, &str); 3] = [
    (HeaderName::from_static("tfp-api-version"), TFP_API_VERSION),
    (HeaderName::from_static("tfp-appname"), APP_NAME),
    (HeaderName::from_static("x-tfe-version"), TFE_VERSION),
];

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "Alive")))]
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers and, where runs execute here, the built-in listener
/// reaches the server. A 503 names the failing checks, with the listener's last error.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, description = "Ready"),
              (status = 503, description = "A check failed: the database, or the built-in runner listener")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut ready = true;
    let mut checks = serde_json::Map::new();
    let database = match state.services.ready().await {
        Ok(()) => json!({"status": "ok"}),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            ready = false;
            json!({"status": "unavailable"})
        }
    };
    checks.insert("database".into(), database);
    if let Some(health) = &state.builtin_listener {
        let (status, error) = match &*health.borrow() {
            Connection::Connected => ("ok", None),
            Connection::Connecting => ("connecting", None),
            Connection::Failing(error) => ("failing", Some(error.clone())),
            Connection::Stopped(error) => ("stopped", Some(error.clone())),
        };
        ready &= status == "ok";
        let mut check = json!({"status": status});
        if let Some(error) = error {
            check["error"] = json!(error);
        }
        checks.insert("builtin-listener".into(), check);
    }
    let (code, status) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (code, Json(json!({"status": status, "checks": checks})))
}
