//! `/admin/tool-archives`: the binary cache (Terrace's own; TFE has none). Site administrators
//! upload terraform and OpenTofu release zips for the catalogue's versions, list what is
//! cached (uploaded, or pulled through from upstream when a runner first asked) and delete
//! entries; everyone else gets 404. Runners fetch archives through signed URLs
//! (`/_downloads/tool-archive/{token}`, in `capabilities`). See docs/registry.md.

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_storage::model::{Engine, ToolArchive};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{time, Document, JsonApi, ListDocument, Params, Resource};
use crate::urls::Urls;

const KIND: &str = "tool-archives";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(upload))
        .routes(routes!(delete))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ToolArchiveAttributes {
    /// `terraform` or `tofu`.
    engine: String,
    version: String,
    os: String,
    arch: String,
    filename: String,
    /// The archive's SHA-256, in hexadecimal: the catalogue's for that platform.
    sha256: String,
    size: i64,
    /// `uploaded` (by a site administrator) or `pulled` (from upstream, on first use).
    origin: String,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
}

fn resource(archive: &ToolArchive, urls: &Urls) -> Resource<ToolArchiveAttributes> {
    Resource::new(
        KIND,
        &archive.id,
        ToolArchiveAttributes {
            engine: archive.engine.as_str().to_string(),
            version: archive.version.clone(),
            os: archive.os.clone(),
            arch: archive.arch.clone(),
            filename: archive.filename.clone(),
            sha256: archive.sha256.clone(),
            size: archive.size,
            origin: archive.origin.as_str().to_string(),
            created_at: archive.created_at,
        },
    )
    .link(
        "self",
        urls.api(&format!("/admin/tool-archives/{}", archive.id)),
    )
}

/// The cached archives, by engine, version and platform.
#[utoipa::path(get, path = "/admin/tool-archives", tag = "admin", params(PageParams),
    responses((status = 200, body = ListDocument<ToolArchiveAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<ToolArchiveAttributes>>> {
    let page = params.page()?;
    let found = state
        .services
        .admin_list_tool_archives(&caller, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|a| resource(a, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(&uri),
    )))
}

#[derive(Deserialize)]
struct UploadPath {
    engine: String,
    version: String,
    platform: String,
}

/// Uploads a release zip (the body) for a catalogue version's platform (`OS_ARCH`, like
/// `linux_amd64`). It is kept only if it is a zip with the engine's binary (`terraform` or
/// `tofu`) at its top and its SHA-256 is the one the catalogue lists for that platform.
#[utoipa::path(put, path = "/admin/tool-archives/{engine}/{version}/{platform}", tag = "admin",
    params(("engine" = String, Path, description = "`terraform` or `tofu`"),
        ("version" = String, Path, description = "A version in that engine's catalogue"),
        ("platform" = String, Path, description = "`OS_ARCH`, like `linux_amd64`")),
    request_body(content = Vec<u8>, description = "The release zip", content_type = "application/octet-stream"),
    responses((status = 201, body = Document<ToolArchiveAttributes>),
        (status = 404, description = "No such engine or catalogue version, or the caller is not a site administrator", body = ErrorDocument),
        (status = 409, description = "That platform's archive is cached already", body = ErrorDocument),
        (status = 413, description = "Larger than the server's limit", body = ErrorDocument),
        (status = 422, description = "Not a release zip of the engine, a platform the catalogue does not list, or not the catalogue's SHA-256", body = ErrorDocument)))]
async fn upload(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(path): Path<UploadPath>,
    body: Body,
) -> ApiResult<JsonApi<Document<ToolArchiveAttributes>>> {
    state.services.admin_catalogue(&caller)?;
    let engine: Engine = path
        .engine
        .parse()
        .map_err(|_| terrace_domain::DomainError::NotFound("engine"))?;
    let archive = state
        .services
        .admin_upload_tool_archive(
            &caller,
            engine,
            &path.version,
            &path.platform,
            body.into_data_stream(),
        )
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &archive,
        &state.urls,
    ))))
}

/// Deletes a cached archive (runners get it again from upstream, or from a new upload).
#[utoipa::path(delete, path = "/admin/tool-archives/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204),
        (status = 404, description = "No such archive, or the caller is not a site administrator", body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .admin_delete_tool_archive(&caller, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
