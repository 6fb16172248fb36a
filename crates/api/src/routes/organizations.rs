//! `/organizations`: create, show, list, update, delete, and the entitlement set.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terrace_auth::policy::{organization_permissions, OrganizationPermissions};
use terrace_domain::organizations::{Entitlements, OrganizationChanges, OrganizationView};
use terrace_storage::model::{ExecutionMode, Organization};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorDocument};
use crate::extract::Auth;
use crate::jsonapi::body::nullable;
use crate::jsonapi::query::PageParams;
use crate::jsonapi::{
    time, Body, Document, JsonApi, JsonBody, ListDocument, Params, Relationship, RelationshipOne,
    Resource,
};
use crate::urls::Urls;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(entitlement_set))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct OrganizationAttributes {
    pub external_id: String,
    pub name: String,
    pub email: String,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    pub session_timeout: Option<i64>,
    pub session_remember: Option<i64>,
    pub collaborator_auth_policy: String,
    pub cost_estimation_enabled: bool,
    pub send_passing_statuses_for_untriggered_speculative_plans: bool,
    pub aggregated_commit_status_enabled: bool,
    pub speculative_plan_management_enabled: bool,
    pub allow_force_delete_workspaces: bool,
    pub assessments_enforced: bool,
    /// Whether users' API tokens reach the organization (browser sessions always do).
    pub user_tokens_enabled: bool,
    #[schema(value_type = String)]
    pub default_execution_mode: ExecutionMode,
    pub fair_run_queuing_enabled: bool,
    pub saml_enabled: bool,
    pub owners_team_saml_role_id: Option<String>,
    pub two_factor_conformant: bool,
    pub plan_identifier: &'static str,
    pub plan_expired: bool,
    pub plan_is_trial: bool,
    pub plan_is_enterprise: bool,
    #[schema(value_type = Option<String>)]
    pub trial_expires_at: Option<()>,
    #[schema(value_type = Object)]
    pub permissions: OrganizationPermissions,
}

pub fn resource(view: &OrganizationView, urls: &Urls) -> Resource<OrganizationAttributes> {
    let org = &view.organization;
    let name = org.name.clone();
    Resource::new(
        "organizations",
        &org.name,
        OrganizationAttributes {
            external_id: org.id.clone(),
            name: org.name.clone(),
            email: org.email.clone(),
            created_at: org.created_at,
            session_timeout: org.session_timeout,
            session_remember: org.session_remember,
            collaborator_auth_policy: org.collaborator_auth_policy.clone(),
            cost_estimation_enabled: org.cost_estimation_enabled,
            send_passing_statuses_for_untriggered_speculative_plans: false,
            aggregated_commit_status_enabled: true,
            speculative_plan_management_enabled: true,
            allow_force_delete_workspaces: org.allow_force_delete_workspaces,
            assessments_enforced: org.assessments_enforced,
            user_tokens_enabled: org.user_tokens_enabled,
            default_execution_mode: org.default_execution_mode,
            fair_run_queuing_enabled: true,
            saml_enabled: false,
            owners_team_saml_role_id: None,
            two_factor_conformant: false,
            plan_identifier: "free",
            plan_expired: false,
            plan_is_trial: false,
            plan_is_enterprise: false,
            trial_expires_at: None,
            permissions: organization_permissions(view.access),
        },
    )
    .relationship(
        "default-agent-pool",
        Relationship::optional("agent-pools", org.default_agent_pool_id.as_deref()),
    )
    .relationship(
        "default-project",
        Relationship::optional("projects", org.default_project_id.as_deref()),
    )
    .relationship(
        "entitlement-set",
        Relationship::one("entitlement-sets", &org.id)
            .with_related(urls.api(&format!("/organizations/{name}/entitlement-set"))),
    )
    .relationship(
        "oauth-tokens",
        Relationship::related(urls.api(&format!("/organizations/{name}/oauth-tokens"))),
    )
    .relationship_if(
        "data-retention-policy",
        super::data_retention_policies::relationship(&view.data_retention_policy),
    )
    .link("self", urls.api(&format!("/organizations/{name}")))
}

/// Organization settings as create and update accept them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct OrganizationInput {
    name: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    session_timeout: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    session_remember: Option<Option<i64>>,
    collaborator_auth_policy: Option<String>,
    cost_estimation_enabled: Option<bool>,
    default_execution_mode: Option<String>,
    assessments_enforced: Option<bool>,
    allow_force_delete_workspaces: Option<bool>,
    user_tokens_enabled: Option<bool>,
}

/// Relationships create and update accept.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct OrganizationRelationships {
    /// The pool of workspaces inheriting `agent` execution (`data: null` clears it).
    default_agent_pool: Option<RelationshipOne>,
}

impl OrganizationInput {
    fn into_changes(
        self,
        relationships: OrganizationRelationships,
    ) -> ApiResult<OrganizationChanges> {
        let default_agent_pool_id = match relationships.default_agent_pool {
            Some(RelationshipOne {
                data: Some(linkage),
            }) => Some(Some(linkage.id.ok_or_else(|| {
                ApiError::invalid(
                    "/data/relationships/default-agent-pool/data/id",
                    "the agent pool needs an id",
                )
            })?)),
            Some(RelationshipOne { data: None }) => Some(None),
            None => None,
        };
        let default_execution_mode = self
            .default_execution_mode
            .map(|mode| {
                mode.parse::<ExecutionMode>()
                    .map_err(|e| ApiError::invalid("/data/attributes/default-execution-mode", e))
            })
            .transpose()?;
        Ok(OrganizationChanges {
            name: self.name,
            email: self.email,
            session_timeout: self.session_timeout,
            session_remember: self.session_remember,
            collaborator_auth_policy: self.collaborator_auth_policy,
            cost_estimation_enabled: self.cost_estimation_enabled,
            default_execution_mode,
            default_agent_pool_id,
            assessments_enforced: self.assessments_enforced,
            allow_force_delete_workspaces: self.allow_force_delete_workspaces,
            user_tokens_enabled: self.user_tokens_enabled,
        })
    }
}

type OrganizationBody = Body<OrganizationInput, OrganizationRelationships>;

/// Organizations the caller belongs to. Without page parameters the whole list is returned.
#[utoipa::path(get, path = "/organizations", tag = "organizations",
    params(PageParams),
    responses((status = 200, body = ListDocument<OrganizationAttributes>)))]
async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    params: Params,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<JsonApi<ListDocument<OrganizationAttributes>>> {
    let explicit = params.explicit_page()?;
    let page = explicit.unwrap_or_else(terrace_storage::model::PageRequest::all);
    let found = state.services.list_organizations(&caller, page).await?;
    let data = found
        .items
        .iter()
        .map(|view| resource(view, &state.urls))
        .collect();
    Ok(JsonApi::ok(ListDocument::paginate_if(
        data,
        explicit,
        found.total,
        &state.urls.request(&uri),
    )))
}

/// Creates an organization owned by the caller.
#[utoipa::path(post, path = "/organizations", tag = "organizations",
    request_body(content = Body<OrganizationInput, OrganizationRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 201, body = Document<OrganizationAttributes>), (status = 422, body = ErrorDocument)))]
async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<OrganizationBody>,
) -> ApiResult<JsonApi<Document<OrganizationAttributes>>> {
    let (input, relationships) = body.into_parts("organizations")?;
    let name = input
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid("/data/attributes/name", "name is required"))?;
    let email = input
        .email
        .clone()
        .ok_or_else(|| ApiError::invalid("/data/attributes/email", "email is required"))?;
    let changes = OrganizationChanges {
        name: None,
        email: None,
        ..input.into_changes(relationships)?
    };
    let view = state
        .services
        .create_organization(&caller, &name, &email, changes)
        .await?;
    Ok(JsonApi::created(Document::new(resource(
        &view,
        &state.urls,
    ))))
}

/// `include=default-project` adds the default project, when the caller may read it.
#[utoipa::path(get, path = "/organizations/{organization}", tag = "organizations",
    params(("organization" = String, Path), ("include" = Option<String>, Query, description = "default-project")),
    responses((status = 200, body = Document<OrganizationAttributes>), (status = 400, body = ErrorDocument), (status = 404, body = ErrorDocument)))]
async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<JsonApi<Document<OrganizationAttributes>>> {
    let includes = params.includes_of(&["default-project"])?;
    let view = state.services.organization(&caller, &name).await?;
    let mut document = resource(&view, &state.urls);
    let mut included = Vec::new();
    if includes.has("default_project") {
        if let Some(project) = state
            .services
            .default_project_view(&caller, &view.organization)
            .await?
        {
            document = document.relationship(
                "default-project",
                Relationship::one("projects", &project.project.id),
            );
            included.push(super::projects::resource(&project, &state.urls).into_value());
        }
    }
    Ok(JsonApi::ok(Document::new(document).with_included(included)))
}

/// Updates settings, including the name (the organization's ID changes with it).
#[utoipa::path(patch, path = "/organizations/{organization}", tag = "organizations",
    params(("organization" = String, Path)),
    request_body(content = Body<OrganizationInput, OrganizationRelationships>, content_type = "application/vnd.api+json"),
    responses((status = 200, body = Document<OrganizationAttributes>), (status = 404, body = ErrorDocument), (status = 422, body = ErrorDocument)))]
async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<OrganizationBody>,
) -> ApiResult<JsonApi<Document<OrganizationAttributes>>> {
    let (input, relationships) = body.into_parts("organizations")?;
    let view = state
        .services
        .update_organization(&caller, &name, input.into_changes(relationships)?)
        .await?;
    Ok(JsonApi::ok(Document::new(resource(&view, &state.urls))))
}

/// Deletes the organization with all its workspaces and state.
#[utoipa::path(delete, path = "/organizations/{organization}", tag = "organizations",
    params(("organization" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorDocument)))]
async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.delete_organization(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct EntitlementAttributes {
    operations: bool,
    state_storage: bool,
    teams: bool,
    agents: bool,
    private_module_registry: bool,
    sso: bool,
    vcs_integrations: bool,
    run_tasks: bool,
    sentinel: bool,
    cost_estimation: bool,
    audit_logging: bool,
    configuration_designer: bool,
    private_policy_agents: bool,
    self_serve_billing: bool,
    usage_reporting: bool,
}

/// What the organization may use on this server. `operations: false` tells the CLI to run
/// Terraform locally and keep only state here.
#[utoipa::path(get, path = "/organizations/{organization}/entitlement-set", tag = "organizations",
    params(("organization" = String, Path)),
    responses((status = 200, body = Document<EntitlementAttributes>), (status = 404, body = ErrorDocument)))]
async fn entitlement_set(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(name): Path<String>,
) -> ApiResult<JsonApi<Document<EntitlementAttributes>>> {
    let (org, e) = state.services.entitlements(&caller, &name).await?;
    Ok(JsonApi::ok(Document::new(entitlement_resource(
        &org,
        &e,
        &state.urls,
    ))))
}

fn entitlement_resource(
    org: &Organization,
    e: &Entitlements,
    urls: &Urls,
) -> Resource<EntitlementAttributes> {
    Resource::new(
        "entitlement-sets",
        &org.id,
        EntitlementAttributes {
            operations: e.operations,
            state_storage: e.state_storage,
            teams: e.teams,
            agents: e.agents,
            private_module_registry: e.private_module_registry,
            sso: e.sso,
            vcs_integrations: e.vcs_integrations,
            run_tasks: e.run_tasks,
            sentinel: e.sentinel,
            cost_estimation: e.cost_estimation,
            audit_logging: e.audit_logging,
            configuration_designer: false,
            private_policy_agents: false,
            self_serve_billing: false,
            usage_reporting: false,
        },
    )
    .link("self", urls.api(&format!("/entitlement-sets/{}", org.id)))
}
