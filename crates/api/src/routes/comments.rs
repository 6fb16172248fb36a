//! Comments on runs: `/runs/:id/comments` and `/comments/:id`. Each comment also appears in
//! the run's events as `commented`.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use terrace_storage::model::RunComment;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::{Body, Document, JsonApi, JsonBody, ListDocument, Relationship, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentAttributes {
    body: String,
}

pub fn resource(comment: &RunComment, urls: &Urls) -> Resource<CommentAttributes> {
    Resource::new(
        "comments",
        &comment.id,
        CommentAttributes {
            body: comment.body.clone(),
        },
    )
    .relationship(
        "run-event",
        Relationship::related(urls.api(&format!("/runs/{}/run-events", comment.run_id))),
    )
    .link("self", urls.api(&format!("/comments/{}", comment.id)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CommentInput {
    body: Option<String>,
}

#[utoipa::path(get, path = "/runs/{run_id}/comments", tag = "runs", params(("run_id" = String, Path)),
    responses((status = 200, body = ListDocument<CommentAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(run_id): Path<String>,
) -> ApiResult<JsonApi<ListDocument<CommentAttributes>>> {
    let comments = state.services.run_comments(&caller, &run_id).await?;
    Ok(JsonApi::ok(ListDocument::all(
        comments.iter().map(|c| resource(c, &state.urls)).collect(),
    )))
}

/// Comments on the run (who may queue runs on its workspace may).
#[utoipa::path(post, path = "/runs/{run_id}/comments", tag = "runs", params(("run_id" = String, Path)),
    request_body(content = Body<CommentInput>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<CommentAttributes>), (status = 403, body = ErrorDocument), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(run_id): Path<String>,
    JsonBody(body): JsonBody<Body<CommentInput>>,
) -> ApiResult<JsonApi<Document<CommentAttributes>>> {
    let (input, _) = body.into_parts("comments")?;
    let text = input
        .body
        .ok_or_else(|| ApiError::invalid("/data/attributes/body", "a comment needs a body"))?;
    let comment = state
        .services
        .comment_on_run(&caller, &run_id, &text)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &comment,
        &state.urls,
    ))))
}

#[utoipa::path(get, path = "/comments/{comment_id}", tag = "runs", params(("comment_id" = String, Path)),
    responses((status = 200, body = Document<CommentAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<CommentAttributes>>> {
    let comment = state.services.run_comment(&caller, &id).await?;
    Ok(JsonApi::ok(Document::new(resource(&comment, &state.urls))))
}
