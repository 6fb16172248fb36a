//! The router: every route in one place, the middleware around them, and the OpenAPI
//! document generated from the handlers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use terrace_domain::Services;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::audit;
use crate::error::ApiError;
use crate::headers;
use crate::jsonapi::BodyLimit;
use crate::limits::{self, RateLimits};
use crate::openapi::{self, BearerAuth, EdgeConventions};
use crate::pages::Pages;
use crate::routes::*;
use crate::urls::{Urls, API_PREFIX};

/// Request bodies read whole (JSON documents, forms, log chunks) are limited per route; a
/// larger one is answered 413. Uploads of state, configurations and artifacts are streamed
/// and limited by the size settings instead.
///
/// API documents: names, settings, variables (TFE's own API is of the same order).
pub const API_BODY_LIMIT: usize = crate::jsonapi::body::DEFAULT_BODY_LIMIT;
/// Creating a state version, whose document may carry the state inline (base64) with its
/// outputs.
pub const INLINE_STATE_BODY_LIMIT: usize = 64 << 20;
/// The job protocol's documents and log chunks (runners send chunks of 64 KiB).
pub const RUNNER_BODY_LIMIT: usize = 1 << 20;
/// The sign-in form and the token request.
pub const FORM_BODY_LIMIT: usize = 64 << 10;

/// What every handler and middleware reaches. Axum hands each extractor and layer its own
/// clone, several per request, so the state is one shared pointer to [`AppStateParts`].
#[derive(Clone)]
pub struct AppState(Arc<AppStateParts>);

impl AppState {
    pub fn new(parts: AppStateParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;
    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

pub struct AppStateParts {
    pub services: Services,
    pub urls: Urls,
    pub pages: Arc<Pages>,
    /// Rate limits per token and per client address.
    pub limits: RateLimits,
    /// How long a request body may send nothing.
    pub body_timeout: Duration,
    /// The built-in runner listener's health (`None`: runs execute elsewhere).
    pub builtin_listener: Option<crate::builtin::Health>,
    /// Single sign-on (`None`: not configured).
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
    /// Single sign-on with SAML (`None`: not configured).
    pub saml: Option<Arc<crate::saml::Saml>>,
    /// Password sign-in only for site administrators (`--sso-disable-passwords`).
    pub sso_disable_passwords: bool,
    /// The organizations' own identity providers.
    pub organization_oidc: Arc<crate::oidc::OrganizationClients>,
    /// What `/metrics` reports of the requests.
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Terrace API",
        description = "A self-hosted server compatible with the HCP Terraform / Terraform Enterprise V2 API. \
            Authenticate with `Authorization: Bearer <token>`; bodies are JSON:API (`application/vnd.api+json`)."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "discovery", description = "Service discovery and version headers"),
        (name = "health", description = "Liveness and readiness"),
        (name = "login", description = "`terraform login` (OAuth 2 with PKCE)"),
        (name = "organizations"), (name = "users"), (name = "tokens"), (name = "workspaces"),
        (name = "tags"), (name = "registry", description = "The private provider registry: GPG keys, providers, versions, platforms, and the provider registry protocol terraform init speaks"), (name = "projects"), (name = "state-versions"),
        (name = "configuration-versions"), (name = "runs"), (name = "variables"),
        (name = "agent-pools", description = "Agent pools, their tokens and connected agents"),
        (name = "audit-trail", description = "Who changed what, sign-ins and token use (HCP Terraform's audit trail shape, not JSON:API)"),
        (name = "team-access", description = "Team access to workspaces and projects"),
        (name = "admin", description = "Site administration (TFE's admin API); 404 for anyone but site administrators"),
        (name = "uploads", description = "Signed capability URLs that need no credentials"),
        (name = "runner", description = "The job protocol of runner listeners (agent tokens) and runners (job tokens)"),
    )
)]
struct ApiDoc;

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(discovery::api_router())
        .merge(organizations::router())
        .merge(users::router())
        .merge(tokens::router())
        .merge(workspaces::router())
        .merge(tags::router())
        .merge(reserved_tag_keys::router())
        .merge(registry_modules::router())
        .merge(registry_providers::router())
        .merge(projects::router())
        .merge(state_versions::router())
        .merge(workspace_resources::router())
        .merge(configuration_versions::router())
        .merge(data_retention_policies::router())
        .merge(runs::router())
        .merge(comments::router())
        .merge(run_triggers::router())
        .merge(notification_configurations::router())
        .merge(ssh_keys::router())
        .merge(run_tasks::router())
        .merge(task_stages::router())
        .merge(remote_state_consumers::router())
        .merge(phases::router())
        .merge(variables::router())
        .merge(variable_sets::router())
        .merge(agent_pools::router())
        .merge(audit_trail::router())
        .merge(team_access::router())
        .merge(teams::router())
        .merge(organization_memberships::router())
        .merge(organization_tokens::router())
        .merge(sso_configurations::router())
        .merge(admin_users::router())
        .merge(admin_organizations::router())
        .merge(admin_settings::router())
        .merge(admin_smtp_settings::router())
        .merge(admin_customization::router())
        .merge(admin_saml::router())
        .merge(admin_tool_versions::router())
        .merge(admin_tool_archives::router())
        .merge(admin_workspaces::router())
        .merge(admin_runs::router())
        .merge(admin_subscriptions::router())
        .layer(Extension(BodyLimit(API_BODY_LIMIT)))
}

/// The routes and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(discovery::router())
        .merge(login::router().layer(Extension(BodyLimit(FORM_BODY_LIMIT))))
        .merge(sso::router())
        .merge(saml::router().layer(Extension(BodyLimit(saml::ACS_BODY_LIMIT))))
        .merge(capabilities::router())
        .merge(registry_modules::upload_router())
        .merge(module_registry::router())
        .merge(meta::router())
        .merge(
            gpg_keys::router()
                .merge(provider_registry::router())
                .merge(provider_mirror::router())
                .layer(Extension(BodyLimit(API_BODY_LIMIT))),
        )
        .merge(runner::router().layer(Extension(BodyLimit(RUNNER_BODY_LIMIT))))
        .nest(API_PREFIX, api_routes())
        .split_for_parts();
    EdgeConventions.modify(&mut openapi);
    (routes, openapi)
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = routes();
    let document = openapi::document_route(&doc);
    drop(doc);
    routes
        // The web UI's pages: not API, so not in the OpenAPI document.
        .merge(crate::web::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), log_request))
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .merge(SwaggerUi::new("/swagger-ui").config(Config::from(openapi::DOCUMENT_PATH)))
        .route(openapi::DOCUMENT_PATH, document)
        .route("/static/{file}", axum::routing::get(crate::assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .layer(middleware::from_fn_with_state(
            state.body_timeout,
            limits::body::read_timeout,
        ))
        .layer(middleware::from_fn(limits::unread::drain_unread))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            headers::standard_headers,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error",
                "the request failed; the server log has the details",
            )
            .into_response()
        }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        "this endpoint does not accept that method",
    )
}

/// Logs and counts each request by its route template, never its concrete path or query:
/// paths carry capability tokens and queries may carry names the operator did not mean to
/// log. Every log line of the request carries its ID, which the response's `X-Request-Id`
/// gives the client (one it sent is kept when it is a plain token).
async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| plain_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| terrace_storage::ids::random_string(20));
    let span = tracing::info_span!(target: "terrace::http", "request", id = %id);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    let millis = took.as_millis() as u64;
    span.in_scope(|| {
        if response.status().is_server_error() {
            tracing::warn!(target: "terrace::http", %method, route, status, millis, "request failed");
        } else {
            tracing::info!(target: "terrace::http", %method, route, status, millis, "request");
        }
    });
    state.metrics.request(method.as_str(), &route, status, took);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

const REQUEST_ID: &str = "x-request-id";

/// A client's request ID worth keeping: short, and nothing a log could be confused by.
fn plain_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
