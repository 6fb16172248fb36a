//! `/admin/terraform-versions` and `/admin/opentofu-versions`: the site's catalogue of tool
//! versions in TFE's shape, one list per engine, for site administrators (everyone else gets
//! 404). Each entry says where the binary of each platform comes from and with which SHA-256;
//! the runner fetches and verifies it (docs/engines.md).

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_domain::engines::{self, ToolVersionInput, ToolVersionView};
use terrace_domain::Caller;
use terrace_storage::model::{Engine, ToolArch};
use terrace_storage::store::ToolVersionFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::error::ApiResult;
use crate::jsonapi::body::parse_json;
use crate::jsonapi::{time, Body, Document, JsonApi, ListDocument, Params, Resource};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(terraform::router())
        .merge(opentofu::router())
}

/// One platform's binary (TFE's `ToolVersionArchitecture`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArchAttributes {
    /// http(s)://, file:/// or an absolute path: a release zip or a bare binary.
    #[serde(alias = "URL")]
    url: String,
    /// The SHA-256 of what the URL serves, in hexadecimal.
    #[serde(alias = "Sha")]
    sha: String,
    /// `linux`.
    #[serde(alias = "OS")]
    os: String,
    /// `amd64`, `arm64` or `s390x`.
    #[serde(alias = "Arch")]
    arch: String,
}

impl From<ArchAttributes> for ToolArch {
    fn from(a: ArchAttributes) -> ToolArch {
        ToolArch {
            url: a.url,
            sha: a.sha,
            os: a.os,
            arch: a.arch,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ToolVersionAttributes {
    version: String,
    /// The linux/amd64 binary's URL (empty without one).
    url: String,
    /// The linux/amd64 binary's SHA-256 (empty without one).
    sha: String,
    official: bool,
    enabled: bool,
    beta: bool,
    deprecated: bool,
    deprecated_reason: Option<String>,
    /// Workspaces asking for exactly this version.
    usage: u64,
    #[serde(serialize_with = "time::serialize")]
    created_at: DateTime<Utc>,
    archs: Vec<ArchAttributes>,
}

fn resource(
    kind: &'static str,
    view: &ToolVersionView,
    urls: &Urls,
) -> Resource<ToolVersionAttributes> {
    let v = &view.version;
    let (url, sha) = engines::amd64(v);
    Resource::new(
        kind,
        &v.id,
        ToolVersionAttributes {
            version: v.version.clone(),
            url,
            sha,
            official: v.official,
            enabled: v.enabled,
            beta: v.beta,
            deprecated: v.deprecated,
            deprecated_reason: v.deprecated_reason.clone(),
            usage: view.usage,
            created_at: v.created_at,
            archs: v
                .archs
                .0
                .iter()
                .map(|a| ArchAttributes {
                    url: a.url.clone(),
                    sha: a.sha.clone(),
                    os: a.os.clone(),
                    arch: a.arch.clone(),
                })
                .collect(),
        },
    )
    .link("self", urls.api(&format!("/admin/{kind}/{}", v.id)))
}

/// A create or an update (absent attributes stay as they are).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ToolVersionInputAttributes {
    version: Option<String>,
    url: Option<String>,
    sha: Option<String>,
    official: Option<bool>,
    enabled: Option<bool>,
    beta: Option<bool>,
    deprecated: Option<bool>,
    deprecated_reason: Option<String>,
    archs: Option<Vec<ArchAttributes>>,
}

impl From<ToolVersionInputAttributes> for ToolVersionInput {
    fn from(a: ToolVersionInputAttributes) -> ToolVersionInput {
        ToolVersionInput {
            version: a.version,
            url: a.url,
            sha: a.sha,
            official: a.official,
            enabled: a.enabled,
            beta: a.beta,
            deprecated: a.deprecated,
            deprecated_reason: a.deprecated_reason,
            archs: a
                .archs
                .map(|archs| archs.into_iter().map(Into::into).collect()),
        }
    }
}

/// The query the list understands (besides pages).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // a description, never constructed
struct ToolVersionQuery {
    /// Exactly this version.
    #[param(rename = "filter[version]")]
    filter_version: Option<String>,
    /// Versions containing this text.
    #[param(rename = "search[version]")]
    search_version: Option<String>,
}

/// The handlers, shared by both engines' routes.
async fn list(
    state: &AppState,
    caller: &Caller,
    engine: Engine,
    kind: &'static str,
    params: &Params,
    uri: &axum::http::Uri,
) -> ApiResult<JsonApi<ListDocument<ToolVersionAttributes>>> {
    let page = params.page()?;
    let nonempty = |key| {
        params
            .get(key)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = ToolVersionFilter {
        version: nonempty("filter[version]"),
        search: nonempty("search[version]"),
    };
    let found = state
        .services
        .admin_list_tool_versions(caller, engine, &filter, page)
        .await?;
    let data = found
        .items
        .iter()
        .map(|view| resource(kind, view, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate(
        data,
        page,
        found.total,
        &state.urls.request(uri),
    )))
}

async fn show(
    state: &AppState,
    caller: &Caller,
    engine: Engine,
    kind: &'static str,
    id: &str,
) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
    let view = state
        .services
        .admin_tool_version(caller, engine, id)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(
        kind,
        &view,
        &state.urls,
    ))))
}

/// The body is read after the caller is known to be a site administrator, so everyone else
/// gets 404 whatever they send.
async fn create(
    state: &AppState,
    caller: &Caller,
    engine: Engine,
    kind: &'static str,
    body: &[u8],
) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
    state.services.admin_catalogue(caller)?;
    let (input, _) = parse_json::<Body<ToolVersionInputAttributes>>(body)?.into_parts(kind)?;
    let view = state
        .services
        .admin_create_tool_version(caller, engine, input.into())
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        kind,
        &view,
        &state.urls,
    ))))
}

async fn update(
    state: &AppState,
    caller: &Caller,
    engine: Engine,
    kind: &'static str,
    id: &str,
    body: &[u8],
) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
    state
        .services
        .admin_tool_version(caller, engine, id)
        .await?;
    let (input, _) = parse_json::<Body<ToolVersionInputAttributes>>(body)?.into_parts(kind)?;
    let view = state
        .services
        .admin_update_tool_version(caller, engine, id, input.into())
        .await?;
    Ok(JsonApi::ok(Document::new(resource(
        kind,
        &view,
        &state.urls,
    ))))
}

async fn delete(
    state: &AppState,
    caller: &Caller,
    engine: Engine,
    id: &str,
) -> ApiResult<StatusCode> {
    state
        .services
        .admin_delete_tool_version(caller, engine, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The annotated routes of one engine's catalogue (utoipa needs one function per path).
macro_rules! catalogue_routes {
    ($module:ident, $engine:expr, $kind:literal, $list:literal, $one:literal) => {
        mod $module {
            use super::*;
            use crate::error::ErrorDocument;
            use crate::extract::Auth;
            use crate::jsonapi::query::PageParams;
            use crate::jsonapi::RawBody;
            use utoipa_axum::routes;

            const ENGINE: Engine = $engine;

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(show, update, delete))
            }

            /// The catalogue's entries, newest first.
            #[utoipa::path(get, path = $list, tag = "admin", params(ToolVersionQuery, PageParams),
                responses((status = 200, body = ListDocument<ToolVersionAttributes>),
                    (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
            async fn list(
                State(state): State<AppState>,
                Auth(caller): Auth,
                params: Params,
                OriginalUri(uri): OriginalUri,
            ) -> ApiResult<JsonApi<ListDocument<ToolVersionAttributes>>> {
                super::list(&state, &caller, ENGINE, $kind, &params, &uri).await
            }

            /// Adds a version: `version` and either `url` and `sha` (linux/amd64) or `archs`.
            /// With the engine's upstream configured, platforms without a URL (or no binary
            /// at all) are filled from its release files and SHA256SUMS.
            #[utoipa::path(post, path = $list, tag = "admin",
                request_body(content = Body<ToolVersionInputAttributes>, content_type = "application/vnd.api+json"),
                responses((status = 201, body = Document<ToolVersionAttributes>),
                    (status = 404, description = "The caller is not a site administrator", body = ErrorDocument),
                    (status = 422, description = "A missing or wrong attribute, or a version listed already", body = ErrorDocument),
                    (status = 502, description = "The engine's configured upstream (`--tool-archive-upstream`), asked for the SHA256SUMS of platforms given without a URL, failed", body = ErrorDocument)))]
            async fn create(
                State(state): State<AppState>,
                Auth(caller): Auth,
                RawBody(body): RawBody,
            ) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
                super::create(&state, &caller, ENGINE, $kind, &body).await
            }

            #[utoipa::path(get, path = $one, tag = "admin", params(("id" = String, Path)),
                responses((status = 200, body = Document<ToolVersionAttributes>),
                    (status = 404, description = "No such version, or the caller is not a site administrator", body = ErrorDocument)))]
            async fn show(
                State(state): State<AppState>,
                Auth(caller): Auth,
                Path(id): Path<String>,
            ) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
                super::show(&state, &caller, ENGINE, $kind, &id).await
            }

            /// Changes the attributes given; `url` and `sha` alone replace the platforms
            /// with that linux/amd64 binary, `archs` replace them all.
            #[utoipa::path(patch, path = $one, tag = "admin", params(("id" = String, Path)),
                request_body(content = Body<ToolVersionInputAttributes>, content_type = "application/vnd.api+json"),
                responses((status = 200, body = Document<ToolVersionAttributes>),
                    (status = 404, description = "No such version, or the caller is not a site administrator", body = ErrorDocument),
                    (status = 422, description = "A wrong attribute", body = ErrorDocument),
                    (status = 502, description = "The engine's configured upstream (`--tool-archive-upstream`), asked for the SHA256SUMS of platforms given without a URL, failed", body = ErrorDocument)))]
            async fn update(
                State(state): State<AppState>,
                Auth(caller): Auth,
                Path(id): Path<String>,
                RawBody(body): RawBody,
            ) -> ApiResult<JsonApi<Document<ToolVersionAttributes>>> {
                super::update(&state, &caller, ENGINE, $kind, &id, &body).await
            }

            /// Deletes a version, unless it is official or workspaces use it (422).
            #[utoipa::path(delete, path = $one, tag = "admin", params(("id" = String, Path)),
                responses((status = 204),
                    (status = 404, description = "No such version, or the caller is not a site administrator", body = ErrorDocument),
                    (status = 422, description = "The version is official or in use", body = ErrorDocument)))]
            async fn delete(
                State(state): State<AppState>,
                Auth(caller): Auth,
                Path(id): Path<String>,
            ) -> ApiResult<StatusCode> {
                super::delete(&state, &caller, ENGINE, &id).await
            }
        }
    };
}

catalogue_routes!(
    terraform,
    Engine::Terraform,
    "terraform-versions",
    "/admin/terraform-versions",
    "/admin/terraform-versions/{id}"
);
catalogue_routes!(
    opentofu,
    Engine::Tofu,
    "opentofu-versions",
    "/admin/opentofu-versions",
    "/admin/opentofu-versions/{id}"
);
