//! Organizations: any user (or only site administrators, as the server is set) may create
//! one and owns it; owners change and delete it; every
//! member reads it. Organizations are fully isolated from each other.

use chrono::{DateTime, Utc};
use terrace_auth::policy::{Access, Action, OrganizationAccess};
use terrace_storage::model::{
    ExecutionMode, JsonText, Organization, Page, PageRequest, Project, Team,
};
use terrace_storage::{clock, ids, StorageError};

use crate::retention::PolicyLookup;
use crate::{validate, Caller, DomainError, DomainResult, Services};

pub const OWNERS_TEAM: &str = "owners";
pub const DEFAULT_PROJECT: &str = "Default Project";

#[derive(Debug, Clone)]
pub struct OrganizationView {
    pub organization: Organization,
    pub access: Access,
    /// Its own data retention policy, if it set one (`None`: not looked up).
    pub data_retention_policy: PolicyLookup,
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub session_timeout: Option<Option<i64>>,
    pub session_remember: Option<Option<i64>>,
    pub collaborator_auth_policy: Option<String>,
    pub cost_estimation_enabled: Option<bool>,
    pub default_execution_mode: Option<ExecutionMode>,
    /// `Some(None)` clears it.
    pub default_agent_pool_id: Option<Option<String>>,
    pub assessments_enforced: Option<bool>,
    pub allow_force_delete_workspaces: Option<bool>,
    /// Whether users' API tokens reach the organization.
    pub user_tokens_enabled: Option<bool>,
}

/// What an organization is entitled to: the features this server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    pub operations: bool,
    pub state_storage: bool,
    pub teams: bool,
    pub agents: bool,
    pub private_module_registry: bool,
    pub sso: bool,
    pub vcs_integrations: bool,
    pub run_tasks: bool,
    pub sentinel: bool,
    pub cost_estimation: bool,
    pub audit_logging: bool,
}

/// An organization as it is created, with the defaults HCP Terraform gives a new one.
pub(crate) fn organization_with_defaults(
    id: String,
    name: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Organization {
    Organization {
        id,
        name: name.to_string(),
        email: email.to_string(),
        default_execution_mode: ExecutionMode::Remote,
        session_timeout: None,
        session_remember: None,
        collaborator_auth_policy: "password".into(),
        cost_estimation_enabled: false,
        assessments_enforced: false,
        allow_force_delete_workspaces: false,
        default_agent_pool_id: None,
        follows_site_sso_groups: false,
        user_tokens_enabled: true,
        created_at: now,
        updated_at: now,
        default_project_id: None,
    }
}

impl Services {
    pub async fn create_organization(
        &self,
        caller: &Caller,
        name: &str,
        email: &str,
        changes: OrganizationChanges,
    ) -> DomainResult<OrganizationView> {
        let user = self.current_user(caller)?;
        self.check_organization_creation(user).await?;
        let mut org = self.new_organization(name, email, changes)?;
        // A site administrator vouches for the organizations they create.
        org.follows_site_sso_groups = user.is_site_admin;
        let owners = owners_team(&org);
        let project = default_project(&org);
        org.default_project_id = Some(project.id.clone());
        self.store
            .create_organization(&org, &owners, &project, Some(&user.id))
            .await
            .map_err(name_taken)?;
        Ok(OrganizationView {
            organization: org,
            access: Access::owner(),
            data_retention_policy: Some(None),
        })
    }

    /// Creates an organization owned by `owner` without a caller (first start, admin CLI).
    pub async fn create_organization_for(
        &self,
        owner_id: &str,
        name: &str,
        email: &str,
    ) -> DomainResult<Organization> {
        let mut org = self.new_organization(name, email, OrganizationChanges::default())?;
        // Made by whoever runs the server: vouched for.
        org.follows_site_sso_groups = true;
        let project = default_project(&org);
        org.default_project_id = Some(project.id.clone());
        self.store
            .create_organization(&org, &owners_team(&org), &project, Some(owner_id))
            .await
            .map_err(name_taken)?;
        Ok(org)
    }

    fn new_organization(
        &self,
        name: &str,
        email: &str,
        changes: OrganizationChanges,
    ) -> DomainResult<Organization> {
        validate::organization_name(name)?;
        validate::email(email)?;
        let mut org =
            organization_with_defaults(ids::new_id(ids::ORGANIZATION), name, email, clock::now());
        apply_changes(&mut org, changes)?;
        if let Some(pool_id) = &org.default_agent_pool_id {
            // A new organization has no pools yet.
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/default-agent-pool".into()),
                detail: format!("agent pool {pool_id} not found"),
            });
        }
        Ok(org)
    }

    pub async fn organization(
        &self,
        caller: &Caller,
        name: &str,
    ) -> DomainResult<OrganizationView> {
        let (organization, access) = self
            .organization_for(caller, name, Action::ReadOrganization)
            .await?;
        Ok(OrganizationView {
            data_retention_policy: Some(self.policy_of(&organization.id).await?),
            organization,
            access,
        })
    }

    /// The organizations the caller belongs to (all of them for site admins).
    pub async fn list_organizations(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> DomainResult<Page<OrganizationView>> {
        let user = self.current_user(caller)?;
        let member = (!user.is_site_admin).then_some(user.id.as_str());
        let orgs = self.store.list_organizations(member, page).await?;
        let mut items = Vec::with_capacity(orgs.items.len());
        for organization in orgs.items {
            let access = match self.access(caller, &organization).await {
                // An organization that wants single sign-on is listed, with no permissions.
                Err(DomainError::Forbidden(_)) => Access::NONE,
                other => other?,
            };
            items.push(OrganizationView {
                data_retention_policy: Some(self.policy_of(&organization.id).await?),
                organization,
                access,
            });
        }
        Ok(Page {
            items,
            total: orgs.total,
        })
    }

    /// The first `limit` organizations the caller is a member of (a site admin's too, not
    /// every one), by name only (for a switcher), and how many there are.
    pub async fn organization_names(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> DomainResult<Page<String>> {
        let user = self.current_user(caller)?;
        let orgs = self
            .store
            .list_organizations(
                Some(user.id.as_str()),
                PageRequest {
                    number: 1,
                    size: limit,
                },
            )
            .await?;
        Ok(Page {
            items: orgs.items.into_iter().map(|o| o.name).collect(),
            total: orgs.total,
        })
    }

    /// The name of the server's only organization, if it has exactly one (whom runs that
    /// cannot be confined may still serve: nobody else is on the server).
    pub async fn sole_organization(&self) -> DomainResult<Option<String>> {
        let orgs = self
            .store
            .list_organizations(None, PageRequest { number: 1, size: 2 })
            .await?;
        Ok(match (orgs.total, orgs.items.into_iter().next()) {
            (1, Some(org)) => Some(org.name),
            _ => None,
        })
    }

    pub async fn update_organization(
        &self,
        caller: &Caller,
        name: &str,
        changes: OrganizationChanges,
    ) -> DomainResult<OrganizationView> {
        let (mut org, access) = self
            .organization_for(caller, name, Action::UpdateOrganization)
            .await?;
        let pool_named = matches!(changes.default_agent_pool_id, Some(Some(_)));
        apply_changes(&mut org, changes)?;
        if let (true, Some(pool_id)) = (pool_named, &org.default_agent_pool_id) {
            self.check_default_agent_pool(&org, pool_id).await?;
        }
        org.updated_at = clock::now();
        self.store
            .update_organization(&org)
            .await
            .map_err(name_taken)?;
        Ok(OrganizationView {
            data_retention_policy: Some(self.policy_of(&org.id).await?),
            organization: org,
            access,
        })
    }

    pub async fn delete_organization(&self, caller: &Caller, name: &str) -> DomainResult<()> {
        let (org, _) = self
            .organization_for(caller, name, Action::DeleteOrganization)
            .await?;
        let workspaces = self
            .store
            .list_workspaces(&org.id, &Default::default(), PageRequest::all())
            .await?;
        self.store.delete_organization(&org.id).await?;
        for ws in workspaces.items {
            self.delete_workspace_blobs(&ws.id).await;
        }
        let own = crate::state::organization_prefix(&org.id);
        if let Err(err) = self.blobs.delete_prefix(&own).await {
            tracing::warn!(organization = %org.id, error = %err, "could not delete the blobs of a deleted organization");
        }
        Ok(())
    }

    pub async fn entitlements(
        &self,
        caller: &Caller,
        name: &str,
    ) -> DomainResult<(Organization, Entitlements)> {
        if let crate::Principal::Job(job) = &caller.principal {
            // `terraform_remote_state` checks its organization first: a run sees its own.
            let org = self
                .store
                .organization_by_name(name)
                .await?
                .ok_or(DomainError::NotFound("organization"))?;
            let own = self.store.workspace_by_id(&job.workspace_id).await?;
            if own.is_some_and(|ws| ws.organization_id == org.id) {
                return Ok((org, self.server_entitlements()));
            }
            return Err(DomainError::NotFound("organization"));
        }
        let (org, _) = self
            .organization_for(caller, name, Action::ReadOrganization)
            .await?;
        Ok((org, self.server_entitlements()))
    }

    /// The features this server provides, the same for every organization.
    pub fn server_entitlements(&self) -> Entitlements {
        Entitlements {
            operations: self.settings.operations,
            state_storage: true,
            teams: true,
            agents: true,
            private_module_registry: false,
            // Single sign-on per organization (OpenID Connect, SAML) and the audit trail
            // are here for every organization.
            sso: true,
            vcs_integrations: false,
            run_tasks: true,
            sentinel: false,
            cost_estimation: false,
            audit_logging: true,
        }
    }
}

fn apply_changes(org: &mut Organization, changes: OrganizationChanges) -> DomainResult<()> {
    if let Some(name) = changes.name {
        validate::organization_name(&name)?;
        org.name = name;
    }
    if let Some(email) = changes.email {
        validate::email(&email)?;
        org.email = email;
    }
    for (attribute, minutes) in [
        ("session-timeout", changes.session_timeout.flatten()),
        ("session-remember", changes.session_remember.flatten()),
    ] {
        if minutes.is_some_and(|m| m <= 0) {
            return Err(DomainError::invalid(
                attribute,
                "must be a positive number of minutes",
            ));
        }
    }
    if let Some(minutes) = changes.session_timeout {
        org.session_timeout = minutes;
    }
    if let Some(minutes) = changes.session_remember {
        org.session_remember = minutes;
    }
    if let Some(policy) = changes.collaborator_auth_policy {
        if !matches!(policy.as_str(), "password" | "two_factor_mandatory") {
            return Err(DomainError::invalid(
                "collaborator-auth-policy",
                "must be password or two_factor_mandatory",
            ));
        }
        org.collaborator_auth_policy = policy;
    }
    let pool_named = matches!(changes.default_agent_pool_id, Some(Some(_)));
    if let Some(pool) = changes.default_agent_pool_id {
        org.default_agent_pool_id = pool;
    }
    if let Some(mode) = changes.default_execution_mode {
        if mode != ExecutionMode::Agent && !pool_named {
            // Leaving agent execution releases the pool, as for workspaces.
            org.default_agent_pool_id = None;
        }
        org.default_execution_mode = mode;
    }
    match (org.default_execution_mode, &org.default_agent_pool_id) {
        (ExecutionMode::Agent, None) => {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/default-agent-pool".into()),
                detail: "agent as the default execution mode needs a default agent pool: set the default-agent-pool relationship".into(),
            })
        }
        (mode, Some(_)) if mode != ExecutionMode::Agent => {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/default-agent-pool".into()),
                // TFE's wording, which clients match on.
                detail: "default agent pool must not be specified unless using 'agent' execution \
                         mode (set default-execution-mode to agent)"
                    .into(),
            })
        }
        _ => {}
    }
    if let Some(enabled) = changes.cost_estimation_enabled {
        org.cost_estimation_enabled = enabled;
    }
    if let Some(enforced) = changes.assessments_enforced {
        org.assessments_enforced = enforced;
    }
    if let Some(allowed) = changes.allow_force_delete_workspaces {
        org.allow_force_delete_workspaces = allowed;
    }
    if let Some(enabled) = changes.user_tokens_enabled {
        org.user_tokens_enabled = enabled;
    }
    Ok(())
}

fn owners_team(org: &Organization) -> Team {
    Team {
        id: ids::new_id(ids::TEAM),
        organization_id: org.id.clone(),
        name: OWNERS_TEAM.into(),
        is_owners: true,
        visibility: "secret".into(),
        organization_access: JsonText(OrganizationAccess::ALL),
        sso_team_id: None,
        allow_member_token_management: true,
        created_at: org.created_at,
    }
}

fn default_project(org: &Organization) -> Project {
    Project {
        id: ids::new_id(ids::PROJECT),
        organization_id: org.id.clone(),
        name: DEFAULT_PROJECT.into(),
        description: String::new(),
        is_default: true,
        created_at: org.created_at,
        default_execution_mode: None,
        default_agent_pool_id: None,
        auto_destroy_activity_duration: None,
    }
}

/// A uniqueness conflict on a name, as HCP Terraform words it.
pub(crate) fn name_taken(err: StorageError) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::invalid("name", "Name has already been taken"),
        other => other.into(),
    }
}
