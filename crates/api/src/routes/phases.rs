//! Plans and applies: show (by ID or through their run), the log URL, and the plan's JSON.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use terrace_domain::{Caller, Services};
use terrace_storage::model::{PhaseKind, RunPhase};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::runs::timestamps;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Document, JsonApi, Relationship, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_plan))
        .routes(routes!(show_apply))
        .routes(routes!(run_plan))
        .routes(routes!(run_apply))
        .routes(routes!(json_output))
        .routes(routes!(json_output_redacted))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PhaseAttributes {
    status: String,
    #[schema(value_type = Object)]
    status_timestamps: serde_json::Map<String, Value>,
    has_changes: bool,
    resource_additions: i64,
    resource_changes: i64,
    resource_destructions: i64,
    resource_imports: i64,
    /// Where to read the log: no credentials needed; `limit`/`offset` in the query.
    log_read_url: String,
    #[schema(value_type = Object)]
    execution_details: Value,
    generated_configuration: bool,
}

/// A phase as `caller` sees it: each rendering carries a fresh log URL bound to the caller.
pub fn resource(
    phase: &RunPhase,
    caller: &Caller,
    services: &Services,
    urls: &Urls,
) -> Resource<PhaseAttributes> {
    let kind = match phase.kind {
        PhaseKind::Plan => "plans",
        PhaseKind::Apply => "applies",
    };
    let resource = Resource::new(
        kind,
        &phase.id,
        PhaseAttributes {
            status: phase.status.to_string(),
            status_timestamps: timestamps(&phase.status_timestamps.0),
            has_changes: phase.has_changes,
            resource_additions: phase.resource_additions,
            resource_changes: phase.resource_changes,
            resource_destructions: phase.resource_destructions,
            resource_imports: phase.resource_imports,
            log_read_url: urls.log(&services.log_token(caller, &phase.id)),
            execution_details: serde_json::json!({"mode": "remote"}),
            generated_configuration: false,
        },
    )
    .relationship(
        "state-versions",
        Relationship::many("state-versions", Vec::<String>::new()),
    )
    .link("self", urls.api(&format!("/{kind}/{}", phase.id)));
    match phase.kind {
        PhaseKind::Plan => resource.link(
            "json-output",
            urls.api(&format!("/plans/{}/json-output", phase.id)),
        ),
        PhaseKind::Apply => resource,
    }
}

async fn phase_document(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: PhaseKind,
) -> ApiResult<JsonApi<Document<PhaseAttributes>>> {
    let (phase, _) = state.services.phase(caller, id).await?;
    if phase.kind != kind {
        return Err(ApiError::not_found(format!("{} not found", kind)));
    }
    Ok(JsonApi::ok(Document::new(resource(
        &phase,
        caller,
        &state.services,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/plans/{plan_id}", tag = "runs", params(("plan_id" = String, Path)),
    responses((status = 200, body = Document<PhaseAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_plan(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<PhaseAttributes>>> {
    phase_document(&state, &caller, &id, PhaseKind::Plan).await
}

#[utoipa::path(get, path = "/applies/{apply_id}", tag = "runs", params(("apply_id" = String, Path)),
    responses((status = 200, body = Document<PhaseAttributes>), (status = 404, body = ErrorDocument)))]
async fn show_apply(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<PhaseAttributes>>> {
    phase_document(&state, &caller, &id, PhaseKind::Apply).await
}

#[utoipa::path(get, path = "/runs/{run_id}/plan", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 200, body = Document<PhaseAttributes>), (status = 404, body = ErrorDocument)))]
async fn run_plan(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<PhaseAttributes>>> {
    let view = state.services.run(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(
        &view.plan,
        &caller,
        &state.services,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/runs/{run_id}/apply", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 200, body = Document<PhaseAttributes>), (status = 404, body = ErrorDocument)))]
async fn run_apply(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<PhaseAttributes>>> {
    let view = state.services.run(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(
        &view.apply,
        &caller,
        &state.services,
        &state.urls,
    ))))
}

fn json_response(json: Option<Vec<u8>>) -> Response {
    match json {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        // Not planned yet (or planning failed): nothing to show.
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The plan as `terraform show -json` prints it, sensitive values included (workspace
/// administrators only). 204 while there is no plan yet.
#[utoipa::path(get, path = "/plans/{plan_id}/json-output", tag = "runs", params(("plan_id" = String, Path)),
    responses((status = 200, description = "The plan JSON", content_type = "application/json"), (status = 204),
        (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn json_output(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(json_response(
        state.services.plan_json(&caller, &id, false).await?,
    ))
}

/// The plan with sensitive values replaced and the provider schemas the CLI needs to render it.
#[utoipa::path(get, path = "/plans/{plan_id}/json-output-redacted", tag = "runs", params(("plan_id" = String, Path)),
    responses((status = 200, description = "The redacted plan JSON", content_type = "application/json"), (status = 204),
        (status = 404, body = ErrorDocument)))]
async fn json_output_redacted(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(json_response(
        state.services.plan_json(&caller, &id, true).await?,
    ))
}
