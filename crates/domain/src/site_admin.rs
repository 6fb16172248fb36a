//! Site administration (TFE's admin API and `terrace admin user`): who may create
//! organizations, suspending users, granting and revoking site administrator access, deleting
//! users, and every organization and workspace at once. The admin API does not exist for anyone but site
//! administrators: everyone else gets "not found", as from TFE.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use terrace_storage::clock;
use terrace_storage::model::{
    Organization, Page, PageRequest, Run, RunOperation, RunStatus, User, Workspace,
};
use terrace_storage::store::{
    AdminWorkspaceFilter, RunFilter, UserDeletion, UserFilter, WorkspaceOrder,
};

use crate::access::WorkspaceRef;
use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// A workspace as the admin API shows it: with its organization.
#[derive(Debug, Clone)]
pub struct AdminWorkspaceView {
    pub workspace: Workspace,
    pub organization: Organization,
}

/// A run as the admin API shows it: with its workspace and organization.
#[derive(Debug, Clone)]
pub struct AdminRunView {
    pub run: Run,
    pub workspace: AdminWorkspaceView,
}

/// Which runs a site administrator lists: `filter[status]` (comma-separated run statuses),
/// `filter[from]` and `filter[to]` (creation times, inclusive), `q` (a run ID or part of a
/// workspace name).
#[derive(Debug, Clone, Default)]
pub struct AdminRunQuery {
    pub statuses: Vec<RunStatus>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub query: Option<String>,
}

/// The admin workspace list's `sort`: `name` or `current-run.created-at`, `-` first for
/// descending; most recently active first without.
pub fn workspace_order(sort: Option<&str>) -> DomainResult<WorkspaceOrder> {
    let Some(sort) = sort.filter(|s| !s.is_empty()) else {
        return Ok(WorkspaceOrder::default());
    };
    let (field, descending) = match sort.strip_prefix('-') {
        Some(field) => (field, true),
        None => (sort, false),
    };
    match field {
        "name" => Ok(WorkspaceOrder::Name { descending }),
        "current-run.created-at" => Ok(WorkspaceOrder::CurrentRunCreatedAt { descending }),
        _ => Err(DomainError::invalid(
            "sort",
            "must be name or current-run.created-at, optionally after -",
        )),
    }
}

/// The site setting that holds [`OrganizationCreation`] once an administrator changed it.
const ORGANIZATION_CREATION: &str = "organization_creation";

/// Who may create organizations on this server (`--organization-creation`, or the admin
/// API's `limit-user-organization-creation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrganizationCreation {
    /// Every user (HCP Terraform's behaviour).
    #[default]
    Anyone,
    /// Site administrators only (TFE's `limit-user-organization-creation`).
    SiteAdmins,
}

impl FromStr for OrganizationCreation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "anyone" => Ok(OrganizationCreation::Anyone),
            "site-admins" => Ok(OrganizationCreation::SiteAdmins),
            _ => Err(format!("expected anyone or site-admins, got {text:?}")),
        }
    }
}

impl fmt::Display for OrganizationCreation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrganizationCreation::Anyone => "anyone",
            OrganizationCreation::SiteAdmins => "site-admins",
        })
    }
}

/// What a site administrator (or the admin CLI) changes about a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    Suspend,
    Unsuspend,
    GrantAdmin,
    RevokeAdmin,
}

/// A user as the admin API shows them: with the organizations they are a member of.
#[derive(Debug, Clone)]
pub struct AdminUserView {
    pub user: User,
    pub organizations: Vec<Organization>,
}

/// TFE's admin settings of an organization. This server has none of them: only the values
/// that describe it as it is (not disabled, no beta tools) are accepted.
#[derive(Debug, Clone, Default)]
pub struct AdminOrganizationChanges {
    pub is_disabled: Option<bool>,
    pub access_beta_tools: Option<bool>,
    /// Whether the site identity provider's groups fill the organization's teams.
    pub follows_site_sso_groups: Option<bool>,
}

/// An organization as the admin API shows it: with its owners.
#[derive(Debug, Clone)]
pub struct AdminOrganizationView {
    pub organization: Organization,
    pub owners: Vec<User>,
}

impl Services {
    /// Whether `user` may create organizations here (shown to clients as the user's
    /// `can-create-organizations` permission).
    pub async fn may_create_organizations(&self, user: &User) -> DomainResult<bool> {
        Ok(user.is_site_admin
            || self.organization_creation().await? == OrganizationCreation::Anyone)
    }

    /// Who may create organizations: what a site administrator set through the admin API,
    /// else what the server was started with (`--organization-creation`).
    async fn organization_creation(&self) -> DomainResult<OrganizationCreation> {
        let stored = self.store.site_setting(ORGANIZATION_CREATION).await?;
        Ok(match stored.as_deref().map(str::parse) {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                // Only this code writes the setting; an unreadable value keeps the default.
                tracing::warn!(error = %e, "unreadable stored organization-creation setting");
                self.settings.organization_creation
            }
            None => self.settings.organization_creation,
        })
    }

    pub(crate) async fn check_organization_creation(&self, user: &User) -> DomainResult<()> {
        if self.may_create_organizations(user).await? {
            Ok(())
        } else {
            Err(DomainError::Forbidden(
                "only site administrators may create organizations on this server".into(),
            ))
        }
    }

    /// The caller, if a site administrator; "not found" for everyone else, so the admin API
    /// does not reveal itself.
    pub(crate) fn site_admin<'c>(&self, caller: &'c Caller) -> DomainResult<&'c User> {
        match &caller.principal {
            Principal::User(user) if user.is_site_admin && !user.is_suspended() => Ok(user),
            _ => Err(DomainError::NotFound("resource")),
        }
    }

    /// Nothing but the check that the caller is a site administrator ("not found"
    /// otherwise), for admin endpoints that read no data (HCP's feature sets).
    pub fn admin_check(&self, caller: &Caller) -> DomainResult<()> {
        self.site_admin(caller).map(|_| ())
    }

    /// Who may create organizations, for the admin general settings.
    pub async fn admin_organization_creation(
        &self,
        caller: &Caller,
    ) -> DomainResult<OrganizationCreation> {
        self.site_admin(caller)?;
        self.organization_creation().await
    }

    /// Sets who may create organizations, for every replica and across restarts (it then
    /// outweighs `--organization-creation`).
    pub async fn admin_set_organization_creation(
        &self,
        caller: &Caller,
        value: OrganizationCreation,
    ) -> DomainResult<OrganizationCreation> {
        self.site_admin(caller)?;
        self.store
            .set_site_setting(ORGANIZATION_CREATION, &value.to_string(), clock::now())
            .await?;
        Ok(value)
    }

    /// Every user matching `filter`, with their organizations.
    pub async fn admin_list_users(
        &self,
        caller: &Caller,
        filter: &UserFilter,
        page: PageRequest,
    ) -> DomainResult<Page<AdminUserView>> {
        self.site_admin(caller)?;
        let users = self.store.list_users(filter, page).await?;
        let ids: Vec<String> = users.items.iter().map(|u| u.id.clone()).collect();
        let mut organizations = self.store.organizations_of_users(&ids).await?;
        let items = users
            .items
            .into_iter()
            .map(|user| AdminUserView {
                organizations: organizations.remove(&user.id).unwrap_or_default(),
                user,
            })
            .collect();
        Ok(Page {
            items,
            total: users.total,
        })
    }

    /// One user, for a site administrator.
    pub async fn admin_user(&self, caller: &Caller, id: &str) -> DomainResult<AdminUserView> {
        self.site_admin(caller)?;
        let user = self.existing_user(id).await?;
        self.admin_user_view(user).await
    }

    /// Applies `action` to the user with ID `id` on behalf of a site administrator.
    pub async fn admin_user_action(
        &self,
        caller: &Caller,
        id: &str,
        action: UserAction,
    ) -> DomainResult<AdminUserView> {
        let admin = self.site_admin(caller)?;
        let user = self.existing_user(id).await?;
        let user = self.apply_user_action(Some(admin), user, action).await?;
        self.admin_user_view(user).await
    }

    /// Applies `action` to `username` for the operator (`terrace admin user ...`).
    pub async fn user_action_by_username(
        &self,
        username: &str,
        action: UserAction,
    ) -> DomainResult<User> {
        let user = self.user_by_username(username).await?;
        self.apply_user_action(None, user, action).await
    }

    /// The rules of each action, for the API (`by` the acting administrator) and the CLI
    /// alike. A site administrator cannot be suspended (revoke first), nobody revokes their
    /// own admin access, and the server always keeps one site administrator.
    async fn apply_user_action(
        &self,
        by: Option<&User>,
        mut user: User,
        action: UserAction,
    ) -> DomainResult<User> {
        let name = &user.username;
        match action {
            UserAction::Suspend => {
                if user.is_site_admin {
                    return Err(DomainError::bad_request(format!(
                        "{name} is a site administrator: revoke their admin access before \
                         suspending them"
                    )));
                }
                if !user.is_suspended() {
                    let at = clock::now();
                    self.store.set_suspended(&user.id, Some(at)).await?;
                    user.suspended_at = Some(at);
                }
                // Their tokens answer 401 from now on; their browser sessions end at once.
                self.store.delete_user_sessions(&user.id).await?;
            }
            UserAction::Unsuspend => {
                self.store.set_suspended(&user.id, None).await?;
                user.suspended_at = None;
            }
            UserAction::GrantAdmin => {
                self.store.set_site_admin(&user.id, true).await?;
                user.is_site_admin = true;
            }
            UserAction::RevokeAdmin => {
                if by.is_some_and(|admin| admin.id == user.id) {
                    return Err(DomainError::bad_request(
                        "you cannot revoke your own site administrator access; another site \
                         administrator can",
                    ));
                }
                if !self.store.set_site_admin(&user.id, false).await? {
                    return Err(DomainError::bad_request(format!(
                        "{name} is the only site administrator: grant another user admin access \
                         first"
                    )));
                }
                user.is_site_admin = false;
            }
        }
        Ok(user)
    }

    /// Deletes a user with their memberships and tokens; refused for the caller themselves
    /// and for the only owner of an organization.
    pub async fn admin_delete_user(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let admin = self.site_admin(caller)?;
        let user = self.existing_user(id).await?;
        if admin.id == user.id {
            return Err(DomainError::bad_request(
                "you cannot delete your own account; another site administrator can",
            ));
        }
        match self.store.delete_user(&user.id).await? {
            UserDeletion::Deleted => Ok(()),
            UserDeletion::NotFound => Err(DomainError::NotFound("user")),
            UserDeletion::SoleOwner(organizations) => Err(DomainError::bad_request(format!(
                "{} is the only owner of {}: add another owner or delete {} first",
                user.username,
                describe_organizations(&organizations),
                if organizations.len() == 1 {
                    "it"
                } else {
                    "them"
                },
            ))),
        }
    }

    /// Impersonation (`actions/impersonate`, `actions/unimpersonate`) is not offered: an
    /// administrator acting as someone else would be indistinguishable from them. `id`, when
    /// given, must still name a user.
    pub async fn admin_impersonate(&self, caller: &Caller, id: Option<&str>) -> DomainResult<()> {
        self.site_admin(caller)?;
        if let Some(id) = id {
            self.existing_user(id).await?;
        }
        Err(DomainError::Forbidden(
            "impersonation is disabled on this server: site administrators act as themselves"
                .into(),
        ))
    }

    /// Every organization whose name or email contains `query`, with its owners.
    pub async fn admin_list_organizations(
        &self,
        caller: &Caller,
        query: Option<&str>,
        page: PageRequest,
    ) -> DomainResult<Page<AdminOrganizationView>> {
        self.site_admin(caller)?;
        let orgs = self.store.search_organizations(query, page).await?;
        let items = self.with_owners(orgs.items).await?;
        Ok(Page {
            items,
            total: orgs.total,
        })
    }

    pub async fn admin_organization(
        &self,
        caller: &Caller,
        name: &str,
    ) -> DomainResult<AdminOrganizationView> {
        self.site_admin(caller)?;
        let org = self
            .store
            .organization_by_name(name)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        let mut views = self.with_owners(vec![org]).await?;
        Ok(views.remove(0))
    }

    /// "Changes" TFE's admin settings of an organization: refuses what this server cannot do.
    pub async fn admin_update_organization(
        &self,
        caller: &Caller,
        name: &str,
        changes: AdminOrganizationChanges,
    ) -> DomainResult<AdminOrganizationView> {
        let view = self.admin_organization(caller, name).await?;
        if changes.is_disabled == Some(true) {
            return Err(DomainError::invalid(
                "is-disabled",
                "organizations cannot be disabled on this server: suspend its members or delete it",
            ));
        }
        if changes.access_beta_tools == Some(true) {
            return Err(DomainError::invalid(
                "access-beta-tools",
                "there are no beta tools on this server",
            ));
        }
        let mut view = view;
        if let Some(follows) = changes.follows_site_sso_groups {
            if follows != view.organization.follows_site_sso_groups {
                view.organization.follows_site_sso_groups = follows;
                view.organization.updated_at = clock::now();
                self.store.update_organization(&view.organization).await?;
                tracing::info!(organization = %view.organization.id, follows,
                    "the site identity provider's groups and the organization's teams");
            }
        }
        Ok(view)
    }

    /// Deletes any organization, as its owners could.
    pub async fn admin_delete_organization(&self, caller: &Caller, name: &str) -> DomainResult<()> {
        self.site_admin(caller)?;
        self.delete_organization(caller, name).await
    }

    /// Workspaces of every organization: `query` in the name, `current_run_status` the
    /// status of their current run.
    pub async fn admin_list_workspaces(
        &self,
        caller: &Caller,
        query: Option<&str>,
        current_run_status: Option<&str>,
        sort: Option<&str>,
        page: PageRequest,
    ) -> DomainResult<Page<AdminWorkspaceView>> {
        self.site_admin(caller)?;
        let current_run_status = current_run_status
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<RunStatus>()
                    .map(|status| status.as_str().to_string())
                    .map_err(|_| {
                        DomainError::invalid(
                            "filter[current_run][status]",
                            format!("{s:?} is not a run status"),
                        )
                    })
            })
            .transpose()?;
        let filter = AdminWorkspaceFilter {
            query: query.filter(|q| !q.is_empty()).map(str::to_string),
            current_run_status,
            order: workspace_order(sort)?,
        };
        let found = self.store.search_workspaces(&filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for workspace in found.items {
            items.push(self.admin_workspace_view(workspace).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn admin_workspace(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<AdminWorkspaceView> {
        self.site_admin(caller)?;
        let workspace = self
            .store
            .workspace_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("workspace"))?;
        self.admin_workspace_view(workspace).await
    }

    /// Deletes any workspace, as its organization's owners could (even with resources).
    pub async fn admin_delete_workspace(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        self.site_admin(caller)?;
        self.delete_workspace(caller, &WorkspaceRef::Id(id.to_string()))
            .await
    }

    /// Runs of every workspace, newest first, speculative plans included.
    pub async fn admin_list_runs(
        &self,
        caller: &Caller,
        query: AdminRunQuery,
        page: PageRequest,
    ) -> DomainResult<Page<AdminRunView>> {
        self.site_admin(caller)?;
        let filter = RunFilter {
            statuses: query.statuses,
            operations: vec![
                RunOperation::PlanOnly,
                RunOperation::SavePlan,
                RunOperation::RefreshOnly,
                RunOperation::Destroy,
                RunOperation::EmptyApply,
                RunOperation::PlanAndApply,
            ],
            created_after: query.created_after,
            created_before: query.created_before,
            query: query.query.filter(|q| !q.is_empty()),
            ..Default::default()
        };
        let found = self.store.list_runs(&filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for run in found.items {
            let workspace = self
                .store
                .workspace_by_id(&run.workspace_id)
                .await?
                .ok_or(DomainError::NotFound("workspace"))?;
            items.push(AdminRunView {
                run,
                workspace: self.admin_workspace_view(workspace).await?,
            });
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    async fn admin_workspace_view(&self, workspace: Workspace) -> DomainResult<AdminWorkspaceView> {
        let organization = self
            .store
            .organization_by_id(&workspace.organization_id)
            .await?
            .ok_or(DomainError::NotFound("workspace"))?;
        Ok(AdminWorkspaceView {
            workspace,
            organization,
        })
    }

    async fn existing_user(&self, id: &str) -> DomainResult<User> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    async fn admin_user_view(&self, user: User) -> DomainResult<AdminUserView> {
        let mut organizations = self
            .store
            .organizations_of_users(std::slice::from_ref(&user.id))
            .await?;
        Ok(AdminUserView {
            organizations: organizations.remove(&user.id).unwrap_or_default(),
            user,
        })
    }

    async fn with_owners(
        &self,
        orgs: Vec<Organization>,
    ) -> DomainResult<Vec<AdminOrganizationView>> {
        let ids: Vec<String> = orgs.iter().map(|o| o.id.clone()).collect();
        let mut owners = self.store.owners_of_organizations(&ids).await?;
        Ok(orgs
            .into_iter()
            .map(|organization| AdminOrganizationView {
                owners: owners.remove(&organization.id).unwrap_or_default(),
                organization,
            })
            .collect())
    }
}

fn describe_organizations(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.as_slice() {
        [one] => format!("organization {one}"),
        many => format!("organizations {}", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_workspaces_sort_by_name_or_current_run() {
        assert_eq!(
            workspace_order(None).unwrap(),
            WorkspaceOrder::CurrentRunCreatedAt { descending: true }
        );
        assert_eq!(
            workspace_order(Some("-name")).unwrap(),
            WorkspaceOrder::Name { descending: true }
        );
        assert_eq!(
            workspace_order(Some("current-run.created-at")).unwrap(),
            WorkspaceOrder::CurrentRunCreatedAt { descending: false }
        );
        assert!(workspace_order(Some("owner")).is_err());
    }

    #[test]
    fn organization_creation_reads_and_prints_its_flag_values() {
        for value in ["anyone", "site-admins"] {
            let parsed: OrganizationCreation = value.parse().unwrap();
            assert_eq!(parsed.to_string(), value);
        }
        assert_eq!(
            OrganizationCreation::default(),
            OrganizationCreation::Anyone
        );
        assert!("admins".parse::<OrganizationCreation>().is_err());
    }

    #[test]
    fn sole_owned_organizations_are_named() {
        assert_eq!(
            describe_organizations(&["acme".into()]),
            "organization \"acme\""
        );
        assert_eq!(
            describe_organizations(&["a".into(), "b".into()]),
            "organizations \"a\", \"b\""
        );
    }
}
