//! HCP Terraform's plans, as its admin API exposes them: `GET /admin/feature-sets` and
//! `POST /admin/organizations/:org/subscription`. Terrace has no plans: every organization
//! is entitled to everything the server implements. These are compatibility endpoints for
//! clients (go-tfe's suite among them) that move an organization to a plan before using a
//! feature: there is one feature set, whatever plan is asked for (`q` is accepted and does not
//! narrow it), and a subscription is accepted and changes nothing. Site administrators only;
//! everyone else gets 404, as from the rest of the admin API.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use terrace_domain::site_admin::AdminOrganizationView;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::parse_json;
use crate::jsonapi::{
    Body, Document, JsonApi, ListDocument, RawBody, Relationship, RelationshipOne, Resource,
};
use crate::urls::Urls;

/// The id of the one feature set.
const FEATURE_SET_ID: &str = "fs-terrace";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(feature_sets))
        .routes(routes!(subscribe))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct FeatureSetAttributes {
    name: &'static str,
    /// Everything this server implements, for every organization.
    description: &'static str,
    /// No limits on users, runs or agents.
    #[schema(value_type = Option<u64>)]
    user_limit: Option<()>,
}

fn feature_set() -> Resource<FeatureSetAttributes> {
    Resource::new(
        "feature-sets",
        FEATURE_SET_ID,
        FeatureSetAttributes {
            name: "Terrace",
            description: "Every feature of this server, without limits",
            user_limit: None,
        },
    )
}

/// The feature sets (plans): one, whatever plan `q` names.
#[utoipa::path(get, path = "/admin/feature-sets", tag = "admin",
    params(("q" = Option<String>, Query, description = "A plan's name; accepted, every plan is the one feature set")),
    responses((status = 200, body = ListDocument<FeatureSetAttributes>),
        (status = 404, description = "The caller is not a site administrator", body = ErrorDocument)))]
async fn feature_sets(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<JsonApi<ListDocument<FeatureSetAttributes>>> {
    state.services.admin_check(&caller)?;
    Ok(JsonApi::ok(ListDocument::all(vec![feature_set()])))
}

/// HCP's subscription settings (ceilings, contract dates): accepted for compatibility and
/// ignored, there being no limits here.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // read so that wrong types are 422, then ignored
pub struct SubscriptionInput {
    runs_ceiling: Option<i32>,
    agents_ceiling: Option<i32>,
    contract_start_at: Option<String>,
    end_at: Option<String>,
    contract_user_limit: Option<i32>,
    contract_apply_limit: Option<i32>,
    contract_managed_resources_limit: Option<i32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SubscriptionRelationships {
    /// Must be the one feature set when given.
    feature_set: Option<RelationshipOne>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SubscriptionAttributes {
    is_active: bool,
    is_public_free_tier: bool,
}

fn subscription(view: &AdminOrganizationView, urls: &Urls) -> Resource<SubscriptionAttributes> {
    let org = &view.organization;
    Resource::new(
        "subscription",
        format!("sub-{}", org.id),
        SubscriptionAttributes {
            is_active: true,
            is_public_free_tier: false,
        },
    )
    .relationship(
        "organization",
        Relationship::one("organizations", &org.name),
    )
    .relationship(
        "feature-set",
        Relationship::one("feature-sets", FEATURE_SET_ID),
    )
    .link(
        "self",
        urls.api(&format!("/admin/organizations/{}/subscription", org.name)),
    )
}

/// Puts an organization on a plan: accepted, and nothing changes, the organization being
/// entitled to everything already. A feature set other than the one is 422.
#[utoipa::path(post, path = "/admin/organizations/{organization}/subscription", tag = "admin",
    params(("organization" = String, Path)),
    request_body(content = Body<SubscriptionInput, SubscriptionRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<SubscriptionAttributes>),
        (status = 404, description = "No such organization, or the caller is not a site administrator", body = ErrorDocument),
        (status = 422, description = "An unknown feature set", body = ErrorDocument)))]
async fn subscribe(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    RawBody(body): RawBody,
) -> ApiResult<JsonApi<Document<SubscriptionAttributes>>> {
    // Known to be a site administrator before the body is read: 404 to everyone else.
    let view = state.services.admin_organization(&caller, &name).await?;
    let (_, relationships) =
        parse_json::<Body<SubscriptionInput, SubscriptionRelationships>>(&body)?
            .into_parts("subscription")?;
    if let Some(id) = relationships
        .feature_set
        .as_ref()
        .and_then(|r| r.data.as_ref())
        .and_then(|d| d.id.as_deref())
    {
        if id != FEATURE_SET_ID {
            return Err(ApiError::invalid(
                "/data/relationships/feature-set/data/id",
                format!("no feature set {id:?}: the only one is {FEATURE_SET_ID:?}"),
            ));
        }
    }
    Ok(JsonApi::ok(Document::new(subscription(&view, &state.urls))))
}
