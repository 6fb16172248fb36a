//! Tags: key/value tag bindings of workspaces and projects (`/workspaces/:id/tag-bindings`,
//! `/projects/:id/tag-bindings`, and the bindings in effect, a workspace's including those it
//! inherits from its project), the flat tag list of a workspace
//! (`/workspaces/:id/relationships/tags`) and organization tags.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::Serialize;
use terrace_domain::projects::rules::EffectiveTagBinding;
use terrace_domain::tags::{rules, TagRef};
use terrace_storage::model::{Tag, TagBinding};
use terrace_storage::store::TagFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::LinkageList;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipMany, Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bindings, merge_bindings))
        .routes(routes!(list_effective_bindings))
        .routes(routes!(list_project_bindings, merge_project_bindings))
        .routes(routes!(list_project_effective_bindings))
        .routes(routes!(
            list_workspace_tags,
            add_workspace_tags,
            remove_workspace_tags
        ))
        .routes(routes!(list_organization_tags, delete_organization_tags))
        .routes(routes!(tag_workspaces))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagBindingAttributes {
    key: String,
    value: String,
}

/// Bindings have no IDs of their own; theirs is derived from owner (workspace or project) and
/// key, stable across reads.
fn binding_id(owner_id: &str, key: &str) -> String {
    let digest = hex::encode(Md5::digest(format!("{owner_id}/{key}").as_bytes()));
    format!("tb-{}", &digest[..16])
}

fn binding_resource(
    kind: &'static str,
    owner_id: &str,
    binding: &TagBinding,
) -> Resource<TagBindingAttributes> {
    Resource::new(
        kind,
        binding_id(owner_id, &binding.key),
        TagBindingAttributes {
            key: binding.key.clone(),
            value: binding.value.clone(),
        },
    )
}

fn binding_list(kind: &'static str, owner_id: &str, tags: &[TagBinding]) -> BindingList {
    ListDocument::all(
        tags.iter()
            .map(|t| binding_resource(kind, owner_id, t))
            .collect(),
    )
}

/// A binding in effect on a workspace; one inherited links to the project it comes from.
fn effective_resource(
    workspace_id: &str,
    effective: &EffectiveTagBinding,
    urls: &Urls,
) -> Resource<TagBindingAttributes> {
    let resource = binding_resource("effective-tag-bindings", workspace_id, &effective.binding);
    match &effective.inherited_from {
        Some(project_id) => resource.link(
            "inherited-from",
            urls.api(&format!("/projects/{project_id}")),
        ),
        None => resource,
    }
}

/// A project's bindings in effect: its own (projects inherit none), for `include`.
pub(crate) fn project_effective_resources(
    project_id: &str,
    tags: &[TagBinding],
) -> Vec<Resource<TagBindingAttributes>> {
    tags.iter()
        .map(|t| binding_resource("effective-tag-bindings", project_id, t))
        .collect()
}

/// Tag bindings from a request's `data` list (`attributes.key`, optional `attributes.value`),
/// at most [`rules::MAX_BINDINGS`] of them.
pub(crate) fn bindings_from(list: &RelationshipMany, pointer: &str) -> ApiResult<Vec<TagBinding>> {
    let bindings = list
        .data
        .iter()
        .map(|item| {
            let key = item.attribute("key").ok_or_else(|| {
                ApiError::invalid(pointer, "each tag binding needs attributes.key")
            })?;
            Ok(TagBinding {
                key: key.to_string(),
                value: item.attribute("value").unwrap_or("").to_string(),
            })
        })
        .collect::<ApiResult<Vec<TagBinding>>>()?;
    rules::binding_count(&bindings, pointer)?;
    Ok(bindings)
}

type BindingList = ListDocument<TagBindingAttributes>;

/// The workspace's tags as key/value bindings (key-only tags have an empty value), in the order
/// they were added. Not paginated.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/tag-bindings", tag = "tags",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<BindingList>> {
    let tags = state.services.tag_bindings(&caller, &id).await?;
    Ok(JsonApi::ok(binding_list("tag-bindings", &id, &tags)))
}

/// Adds or updates bindings (at most 10 at once; not a value its project binds for a key
/// reserved with overrides disabled); keys not mentioned are kept.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/tag-bindings", tag = "tags",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn merge_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<JsonApi<BindingList>> {
    let bindings = bindings_from(&body, "/data")?;
    let tags = state
        .services
        .merge_tag_bindings(&caller, &id, bindings)
        .await?;
    Ok(JsonApi::ok(binding_list("tag-bindings", &id, &tags)))
}

/// The bindings in effect on the workspace: its own, and its project's for keys it does not
/// bind itself (with an `inherited-from` link to the project).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/effective-tag-bindings", tag = "tags",
    params(("workspace_id" = String, Path)),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_effective_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<BindingList>> {
    let effective = state.services.effective_tag_bindings(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::all(
        effective
            .iter()
            .map(|e| effective_resource(&id, e, &state.urls))
            .collect(),
    )))
}

/// The project's own tag bindings. Not paginated.
#[utoipa::path(get, path = "/projects/{project_id}/tag-bindings", tag = "tags",
    params(("project_id" = String, Path)),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_project_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<BindingList>> {
    let tags = state.services.project_tag_bindings(&caller, &id).await?;
    Ok(JsonApi::ok(binding_list("tag-bindings", &id, &tags)))
}

/// Adds or updates the project's bindings (at most 10 at once); keys not mentioned are kept.
#[utoipa::path(patch, path = "/projects/{project_id}/tag-bindings", tag = "tags",
    params(("project_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn merge_project_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<JsonApi<BindingList>> {
    let bindings = bindings_from(&body, "/data")?;
    let tags = state
        .services
        .merge_project_tag_bindings(&caller, &id, bindings)
        .await?;
    Ok(JsonApi::ok(binding_list("tag-bindings", &id, &tags)))
}

/// The bindings in effect on the project: its own (projects inherit none).
#[utoipa::path(get, path = "/projects/{project_id}/effective-tag-bindings", tag = "tags",
    params(("project_id" = String, Path)),
    responses((status = 200, body = ListDocument<TagBindingAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_project_effective_bindings(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<JsonApi<BindingList>> {
    let tags = state.services.project_tag_bindings(&caller, &id).await?;
    Ok(JsonApi::ok(ListDocument::all(project_effective_resources(
        &id, &tags,
    ))))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TagAttributes {
    name: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    instance_count: i64,
}

fn tag_resource(tag: &Tag, org_name: &str) -> Resource<TagAttributes> {
    Resource::new(
        "tags",
        &tag.id,
        TagAttributes {
            name: tag.name.clone(),
            created_at: tag.created_at,
            instance_count: tag.instance_count,
        },
    )
    .relationship("organization", Relationship::one("organizations", org_name))
}

type TagList = ListDocument<TagAttributes>;

/// Flat tags named by ID or by `attributes.name`.
fn tag_refs(body: &LinkageList) -> ApiResult<Vec<TagRef>> {
    body.data
        .iter()
        .map(|item| match (&item.id, item.attribute("name")) {
            (Some(id), _) => Ok(TagRef::Id(id.clone())),
            (None, Some(name)) => Ok(TagRef::Name(name.to_string())),
            (None, None) => Err(ApiError::invalid(
                "/data",
                "each tag needs an id or attributes.name",
            )),
        })
        .collect()
}

/// The workspace's key-only tags, as tag objects.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/relationships/tags", tag = "tags",
    params(("workspace_id" = String, Path), PageParams),
    responses((status = 200, body = ListDocument<TagAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_workspace_tags(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<TagList>> {
    let page = params.page()?;
    let (org, found) = state
        .services
        .workspace_flat_tags(&caller, &id, page)
        .await?;
    let data = found.items.iter().map(|t| tag_resource(t, &org)).collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Adds tags (by name, created as needed, or by ID).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/relationships/tags", tag = "tags",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn add_workspace_tags(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    state
        .services
        .add_workspace_flat_tags(&caller, &id, tag_refs(&body)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}/relationships/tags", tag = "tags",
    params(("workspace_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn remove_workspace_tags(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    state
        .services
        .remove_workspace_flat_tags(&caller, &id, tag_refs(&body)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's tags with how many workspaces carry each.
#[utoipa::path(get, path = "/organizations/{organization}/tags", tag = "tags",
    params(("organization" = String, Path), ("q" = Option<String>, Query),
        ("filter[exclude][taggable][id]" = Option<String>, Query),
        PageParams),
    responses((status = 200, body = ListDocument<TagAttributes>), (status = 404, body = ErrorDocument)))]
async fn list_organization_tags(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<TagList>> {
    let filter = TagFilter {
        query: params.get("q").map(str::to_string),
        exclude_workspace: params
            .get("filter[exclude][taggable][id]")
            .map(str::to_string),
        on_workspace: None,
    };
    let page = params.page()?;
    let found = state
        .services
        .list_organization_tags(&caller, &org, &filter, page)
        .await?;
    let data = found.items.iter().map(|t| tag_resource(t, &org)).collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Deletes tags from the organization and every workspace.
#[utoipa::path(delete, path = "/organizations/{organization}/tags", tag = "tags",
    params(("organization" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete_organization_tags(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    state
        .services
        .delete_organization_tags(&caller, &org, &body.ids())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a tag on workspaces of its organization.
#[utoipa::path(post, path = "/tags/{tag_id}/relationships/workspaces", tag = "tags",
    params(("tag_id" = String, Path)),
    request_body(content = LinkageList, content_type = "application/vnd.api+json"),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn tag_workspaces(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(tag_id): Path<String>,
    JsonBody(body): JsonBody<LinkageList>,
) -> ApiResult<StatusCode> {
    state
        .services
        .tag_workspaces(&caller, &tag_id, &body.ids())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
