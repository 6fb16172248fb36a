//! Notification configurations (HCP Terraform's `notification-configurations`):
//! `/workspaces/:id/notification-configurations` (list, create) and
//! `/notification-configurations/:id` (show, update, delete, `actions/verify`). The rules and
//! the delivery are the domain's `notifications`; the token is write-only.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::notifications::NotificationInput;
use terrace_storage::model::NotificationConfiguration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(verify))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct NotificationConfigurationAttributes {
    name: String,
    destination_type: String,
    url: String,
    enabled: bool,
    triggers: Vec<String>,
    email_addresses: Vec<String>,
    /// Always null: the token is write-only.
    token: Option<String>,
    /// The last delivery responses, oldest first (`code` and `successful` are strings).
    #[schema(value_type = Vec<Object>)]
    delivery_responses: Vec<serde_json::Value>,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    updated_at: DateTime<Utc>,
}

pub fn resource(
    c: &NotificationConfiguration,
    urls: &Urls,
) -> Resource<NotificationConfigurationAttributes> {
    Resource::new(
        "notification-configurations",
        &c.id,
        NotificationConfigurationAttributes {
            name: c.name.clone(),
            destination_type: c.destination_type.clone(),
            url: c.url.clone(),
            enabled: c.enabled,
            triggers: c.triggers.0.clone(),
            email_addresses: c.email_addresses.0.clone(),
            token: None,
            delivery_responses: c.delivery_responses.0.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        },
    )
    .relationship(
        "subscribable",
        Relationship::one("workspaces", &c.workspace_id),
    )
    .relationship(
        "users",
        Relationship::many("users", c.email_user_ids.0.iter()),
    )
    .link(
        "self",
        urls.api(&format!("/notification-configurations/{}", c.id)),
    )
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct NotificationConfigurationInput {
    name: Option<String>,
    /// generic, slack, microsoft-teams or email.
    destination_type: Option<String>,
    url: Option<String>,
    /// The HMAC-SHA512 key of generic payloads (write-only; empty removes it).
    token: Option<String>,
    enabled: Option<bool>,
    triggers: Option<Vec<String>>,
    email_addresses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NotificationConfigurationRelationships {
    /// E-mail destinations: members of the organization to write to.
    users: Option<RelationshipMany>,
}

fn input(
    body: Body<NotificationConfigurationInput, NotificationConfigurationRelationships>,
) -> ApiResult<NotificationInput> {
    let (a, r) = body.into_parts("notification-configurations")?;
    Ok(NotificationInput {
        name: a.name,
        destination_type: a.destination_type,
        url: a.url,
        token: a.token,
        enabled: a.enabled,
        triggers: a.triggers,
        email_addresses: a.email_addresses,
        email_user_ids: r.users.map(|u| u.ids()),
    })
}

/// Creates a notification configuration (administrators of the workspace); when enabled,
/// its verification request is sent at once.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/notification-configurations",
    tag = "notification-configurations", params(("workspace_id" = String, Path)),
    request_body(content = Body<NotificationConfigurationInput, NotificationConfigurationRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<NotificationConfigurationAttributes>), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<
        Body<NotificationConfigurationInput, NotificationConfigurationRelationships>,
    >,
) -> ApiResult<JsonApi<Document<NotificationConfigurationAttributes>>> {
    let config = state
        .services
        .create_notification_configuration(&caller, &id, input(body)?)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &config,
        &state.urls,
    ))))
}

/// A workspace's notification configurations, oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/notification-configurations",
    tag = "notification-configurations", params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<NotificationConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<NotificationConfigurationAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .list_notification_configurations(&caller, &id, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|c| resource(c, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[utoipa::path(get, path = "/notification-configurations/{notification_configuration_id}",
    tag = "notification-configurations", params(("notification_configuration_id" = String, Path)),
    responses((status = 200, body = Document<NotificationConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<NotificationConfigurationAttributes>>> {
    let config = state
        .services
        .notification_configuration(&caller, &id)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&config, &state.urls))))
}

#[utoipa::path(patch, path = "/notification-configurations/{notification_configuration_id}",
    tag = "notification-configurations", params(("notification_configuration_id" = String, Path)),
    request_body(content = Body<NotificationConfigurationInput, NotificationConfigurationRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<NotificationConfigurationAttributes>), (status = 404, body = ErrorDocument),
        (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<
        Body<NotificationConfigurationInput, NotificationConfigurationRelationships>,
    >,
) -> ApiResult<JsonApi<Document<NotificationConfigurationAttributes>>> {
    let config = state
        .services
        .update_notification_configuration(&caller, &id, input(body)?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&config, &state.urls))))
}

#[utoipa::path(delete, path = "/notification-configurations/{notification_configuration_id}",
    tag = "notification-configurations", params(("notification_configuration_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_notification_configuration(&caller, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the verification request now; answers with the configuration and its recorded
/// response, whether or not the receiver took it.
#[utoipa::path(post, path = "/notification-configurations/{notification_configuration_id}/actions/verify",
    tag = "notification-configurations", params(("notification_configuration_id" = String, Path)),
    responses((status = 200, body = Document<NotificationConfigurationAttributes>), (status = 404, body = ErrorDocument)))]
async fn verify(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<Document<NotificationConfigurationAttributes>>> {
    let config = state
        .services
        .verify_notification_configuration(&caller, &id)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&config, &state.urls))))
}
