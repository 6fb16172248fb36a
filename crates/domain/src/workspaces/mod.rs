//! Workspaces: settings with HCP Terraform's defaults, the execution mode inherited from the
//! organization unless overridden, locking, and deletion (forced or safe). The rules of a
//! workspace's state are pure functions in [`rules`].

pub mod auto_destroy;
pub mod rules;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use terrace_auth::policy::{workspace_permissions, Access, Action, WorkspacePermissions};
use terrace_storage::model::{
    DataRetentionPolicy, Engine, ExecutionMode, JsonText, LockHolder, LockHolderKind, Organization,
    Page, PageRequest, TagBinding, Workspace,
};
use terrace_storage::store::{RelatedIds, WorkspaceFilter};
use terrace_storage::{clock, ids};

use crate::access::Standing;
pub use crate::access::WorkspaceRef;
use crate::organizations::name_taken;
use crate::projects::rules::new_workspace_defaults;
use crate::retention::PolicyLookup;
use crate::{validate, Caller, DomainError, DomainResult, Services};

/// A workspace with what its API representation needs.
#[derive(Debug, Clone)]
pub struct WorkspaceView {
    pub workspace: Workspace,
    pub organization: Organization,
    pub tags: Vec<TagBinding>,
    pub access: Access,
    /// Its own data retention policy, if it set one (else its organization's applies;
    /// `None`: not looked up).
    pub data_retention_policy: PolicyLookup,
}

impl WorkspaceView {
    /// The execution mode in effect: the workspace's own or the organization's default.
    pub fn execution_mode(&self) -> ExecutionMode {
        self.workspace
            .execution_mode
            .unwrap_or(self.organization.default_execution_mode)
    }

    /// The agent pool its runs go to, if they go to one.
    pub fn agent_pool_id(&self) -> Option<&str> {
        agent_pool_in_effect(&self.workspace, &self.organization)
    }

    /// The `permissions` object: what the policy lets the caller do, narrowed by the rules of
    /// the workspace's settings that the same requests enforce (no runs under local
    /// execution, no destroy plans without `allow-destroy-plan`).
    pub fn permissions(&self) -> WorkspacePermissions {
        let mut p = workspace_permissions(self.access);
        let runs = rules::accepts_runs(&self.workspace, &self.organization).is_ok();
        p.can_queue_run &= runs;
        p.can_queue_apply &= runs;
        p.can_queue_destroy &= runs && rules::accepts_destroy_plans(&self.workspace).is_ok();
        p
    }

    /// `actions.is-destroyable`: a safe-delete would succeed now.
    pub fn is_destroyable(&self) -> bool {
        self.permissions().can_destroy && rules::safe_delete(&self.workspace).is_ok()
    }
}

/// The agent pool a workspace's runs go to: its own, or, when it inherits the organization's
/// `agent` default execution mode, the organization's default pool. `None`: the server's own
/// listeners.
pub fn agent_pool_in_effect<'a>(ws: &'a Workspace, org: &'a Organization) -> Option<&'a str> {
    match ws.execution_mode {
        Some(_) => ws.agent_pool_id.as_deref(),
        None if org.default_execution_mode == ExecutionMode::Agent => {
            org.default_agent_pool_id.as_deref()
        }
        None => None,
    }
}

/// Settings a create or update request may carry; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` returns to the organization's default.
    pub execution_mode: Option<Option<ExecutionMode>>,
    /// Deprecated alias: true is remote execution, false local.
    pub operations: Option<bool>,
    pub agent_pool_id: Option<Option<String>>,
    pub auto_apply: Option<bool>,
    pub allow_destroy_plan: Option<bool>,
    pub file_triggers_enabled: Option<bool>,
    pub global_remote_state: Option<bool>,
    pub project_remote_state: Option<bool>,
    pub queue_all_runs: Option<bool>,
    pub speculative_enabled: Option<bool>,
    pub structured_run_output_enabled: Option<bool>,
    pub assessments_enabled: Option<bool>,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
    pub terraform_version: Option<String>,
    /// terraform or tofu.
    pub engine: Option<Engine>,
    pub trigger_prefixes: Option<Vec<String>>,
    pub trigger_patterns: Option<Vec<String>>,
    pub working_directory: Option<String>,
    pub auto_destroy_at: Option<Option<DateTime<Utc>>>,
    /// Its own inactivity duration; setting it stops inheriting the project's.
    pub auto_destroy_activity_duration: Option<Option<String>>,
    pub inherits_project_auto_destroy: Option<bool>,
    pub auto_apply_run_trigger: Option<bool>,
    pub project_id: Option<String>,
    /// Replaces the workspace's tags (create: sets them).
    pub tags: Option<Vec<TagBinding>>,
}

impl WorkspaceChanges {
    /// Whether the request only names a project: a move, which the `move` part of a custom
    /// project grant allows without the right to change the workspace's settings.
    pub fn only_moves(&self) -> bool {
        self.project_id.is_some()
            && *self
                == WorkspaceChanges {
                    project_id: self.project_id.clone(),
                    ..WorkspaceChanges::default()
                }
    }
}

/// A workspace as it is created, with the defaults HCP Terraform gives a new one.
pub(crate) fn workspace_with_defaults(
    id: String,
    organization_id: &str,
    project_id: String,
    name: String,
    now: DateTime<Utc>,
) -> Workspace {
    Workspace {
        id,
        organization_id: organization_id.to_string(),
        project_id,
        name,
        description: String::new(),
        execution_mode: None,
        agent_pool_id: None,
        auto_apply: false,
        allow_destroy_plan: true,
        file_triggers_enabled: true,
        global_remote_state: false,
        project_remote_state: false,
        queue_all_runs: false,
        speculative_enabled: true,
        structured_run_output_enabled: true,
        assessments_enabled: false,
        source_name: None,
        source_url: None,
        terraform_version: "latest".into(),
        engine: Engine::Terraform,
        trigger_prefixes: JsonText(Vec::new()),
        trigger_patterns: JsonText(Vec::new()),
        working_directory: String::new(),
        auto_destroy_at: None,
        auto_destroy_activity_duration: None,
        inherits_project_auto_destroy: true,
        auto_destroy_queued_at: None,
        project_auto_destroy_activity_duration: None,
        state_updated_at: None,
        auto_apply_run_trigger: false,
        lock_kind: None,
        lock_holder_id: None,
        lock_reason: None,
        locked_at: None,
        current_state_version_id: None,
        current_run_id: None,
        latest_run_id: None,
        resource_count: 0,
        runs_count: 0,
        ssh_key_id: None,
        has_retention_policy: false,
        created_at: now,
        updated_at: now,
    }
}

/// A workspace's project relationship names no project of its organization.
fn project_not_found(id: &str) -> DomainError {
    DomainError::Invalid {
        pointer: Some("/data/relationships/project".into()),
        detail: format!("project {id} not found"),
    }
}

impl Services {
    pub async fn create_workspace(
        &self,
        caller: &Caller,
        org_name: &str,
        changes: WorkspaceChanges,
    ) -> DomainResult<WorkspaceView> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let name = changes
            .name
            .clone()
            .ok_or_else(|| DomainError::invalid("name", "a workspace needs a name"))?;
        // The project it is created in, read once: the one named, or the default one.
        let mut changes = changes;
        let project = match changes.project_id.take() {
            Some(id) => self
                .store
                .project_by_id(&id)
                .await?
                .filter(|p| p.organization_id == org.id)
                .ok_or_else(|| project_not_found(&id))?,
            None => self.store.default_project(&org.id).await?.ok_or_else(|| {
                DomainError::Conflict(format!("organization {} has no default project", org.name))
            })?,
        };
        if changes.execution_mode.is_none()
            && changes.operations.is_none()
            && changes.agent_pool_id.is_none()
        {
            // Without its own execution mode, a new workspace takes its project's defaults.
            if let Some((mode, pool)) = new_workspace_defaults(&project) {
                changes.execution_mode = Some(mode);
                changes.agent_pool_id = Some(pool);
            }
        }
        let mut ws = workspace_with_defaults(
            ids::new_id(ids::WORKSPACE),
            &org.id,
            project.id.clone(),
            name,
            clock::now(),
        );
        ws.project_auto_destroy_activity_duration = project.auto_destroy_activity_duration.clone();
        let version_given = changes.terraform_version.is_some();
        let tags = self
            .apply_workspace_changes(&org, &mut ws, changes)
            .await?
            .unwrap_or_default();
        if !version_given {
            // The newest allowed version of its engine (`latest` with an empty catalogue).
            ws.terraform_version = self.default_tool_version(ws.engine).await?;
        }
        // Created in its project: by those who may create workspaces anywhere, or there.
        self.authorize_project(caller, &org, &project, Action::CreateWorkspace, "project")
            .await?;
        self.check_locked_overrides(&org.id, &ws.project_id, &tags, TAG_BINDINGS)
            .await?;
        self.store
            .create_workspace(&ws, &tags)
            .await
            .map_err(name_taken)?;
        let standing = self.standing(caller, &org).await?;
        let access = self.workspace_access(&standing, &ws).await?;
        Ok(WorkspaceView {
            workspace: ws,
            organization: org,
            tags,
            access,
            data_retention_policy: Some(None),
        })
    }

    pub async fn workspace(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<WorkspaceView> {
        let (ws, org, access) = self
            .workspace_for(caller, workspace, Action::ReadWorkspace)
            .await?;
        self.workspace_view(ws, org, access).await
    }

    /// One workspace as its read shows it: its view, and what it names beside it, each only
    /// if the caller may read it: its current configuration version (`None` when hidden or
    /// absent) and its own variables (`None` when hidden). Its tags come in the same
    /// statement as those.
    pub async fn workspace_read(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<(
        WorkspaceView,
        RelatedIds<Option<String>, Option<Vec<String>>>,
    )> {
        let (ws, org, access) = self
            .workspace_for(caller, workspace, Action::ReadWorkspace)
            .await?;
        let mut view = self.view_with_tags(ws, org, access, Vec::new()).await?;
        let wanted = RelatedIds {
            configuration_version: self.may_in_view(caller, &view, Action::ReadRuns).await?,
            variables: self
                .may_in_view(caller, &view, Action::ReadVariables)
                .await?,
        };
        let (tags, found) = self
            .store
            .workspace_related(&view.workspace.id, wanted)
            .await?;
        view.tags = tags;
        let related = RelatedIds {
            configuration_version: found.configuration_version,
            variables: wanted.variables.then_some(found.variables),
        };
        Ok((view, related))
    }

    pub async fn list_workspaces(
        &self,
        caller: &Caller,
        org_name: &str,
        filter: &WorkspaceFilter,
        page: PageRequest,
    ) -> DomainResult<Page<WorkspaceView>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let standing = self.standing(caller, &org).await?;
        let filter = WorkspaceFilter {
            visible_to_teams: standing.visible_to_teams(),
            ..filter.clone()
        };
        let found = self.store.list_workspaces(&org.id, &filter, page).await?;
        Ok(Page {
            items: self.workspace_views(&standing, &org, found.items).await?,
            total: found.total,
        })
    }

    /// Views of workspaces of `org` with the caller's access to each, as lists show them: one
    /// read each of their tags, their retention policies and the caller's grants.
    pub(crate) async fn workspace_views(
        &self,
        standing: &Standing,
        org: &Organization,
        workspaces: Vec<Workspace>,
    ) -> DomainResult<Vec<WorkspaceView>> {
        let ids: Vec<String> = workspaces.iter().map(|ws| ws.id.clone()).collect();
        let mut tags = self.store.workspace_tags(&ids).await?;
        let with_policies: Vec<String> = workspaces
            .iter()
            .filter(|ws| ws.has_retention_policy)
            .map(|ws| ws.id.clone())
            .collect();
        let mut policies: HashMap<String, DataRetentionPolicy> = HashMap::new();
        if !with_policies.is_empty() {
            policies = self
                .store
                .data_retention_policies(&with_policies)
                .await?
                .into_iter()
                .filter_map(|p| Some((p.workspace_id.clone()?, p)))
                .collect();
        }
        let placed: Vec<(String, String)> = workspaces
            .iter()
            .map(|ws| (ws.id.clone(), ws.project_id.clone()))
            .collect();
        let mut access = self.workspaces_access(standing, &placed).await?;
        Ok(workspaces
            .into_iter()
            .map(|ws| WorkspaceView {
                data_retention_policy: Some(policies.remove(&ws.id)),
                tags: tags.remove(&ws.id).unwrap_or_default(),
                access: access.remove(&ws.id).unwrap_or(Access::NONE),
                workspace: ws,
                organization: org.clone(),
            })
            .collect())
    }

    pub async fn update_workspace(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
        changes: WorkspaceChanges,
    ) -> DomainResult<WorkspaceView> {
        let action = if changes.only_moves() {
            Action::MoveWorkspace
        } else {
            Action::UpdateWorkspace
        };
        let (mut ws, org, access) = self.workspace_for(caller, workspace, action).await?;
        let from_project = ws.project_id.clone();
        let tags = self.apply_workspace_changes(&org, &mut ws, changes).await?;
        if ws.project_id != from_project {
            // Moving a workspace takes it out of its project (`move` there) and creates it
            // in its new one.
            crate::access::check(access, Action::MoveWorkspace, &org, "workspace")?;
            self.authorize_in_project(caller, &org, &ws.project_id)
                .await?;
        }
        let current = self
            .store
            .workspace_tags(std::slice::from_ref(&ws.id))
            .await?;
        // What the workspace will bind itself, checked against the project it will be in.
        let own = match &tags {
            Some(tags) => Some(tags.as_slice()),
            None if ws.project_id != from_project => current.get(&ws.id).map(Vec::as_slice),
            None => None,
        };
        if let Some(own) = own {
            self.check_locked_overrides(&org.id, &ws.project_id, own, TAG_BINDINGS)
                .await?;
        }
        ws.updated_at = clock::now();
        self.store.update_workspace(&ws).await.map_err(name_taken)?;
        if let Some(tags) = tags {
            let stale: Vec<String> = current
                .get(&ws.id)
                .into_iter()
                .flatten()
                .filter(|old| !tags.iter().any(|new| new.key == old.key))
                .map(|old| old.key.clone())
                .collect();
            self.store.remove_workspace_tags(&ws.id, &stale).await?;
            self.store
                .add_workspace_tags(&org.id, &ws.id, &tags)
                .await?;
        }
        self.workspace_view(ws, org, access).await
    }

    /// Deletes a workspace and its state, whatever it manages (owners, and administrators
    /// where the organization allows it).
    pub async fn delete_workspace(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<()> {
        let (ws, _, _) = self
            .workspace_for(caller, workspace, Action::ForceDeleteWorkspace)
            .await?;
        self.remove_workspace(&ws).await
    }

    /// Deletes a workspace only if it is unlocked and manages no resources.
    pub async fn safe_delete_workspace(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<()> {
        let (ws, _, _) = self
            .workspace_for(caller, workspace, Action::DeleteWorkspace)
            .await?;
        rules::safe_delete(&ws)?;
        self.remove_workspace(&ws).await
    }

    async fn remove_workspace(&self, ws: &Workspace) -> DomainResult<()> {
        self.store.delete_workspace(&ws.id).await?;
        self.delete_workspace_blobs(&ws.id).await;
        Ok(())
    }

    /// Removes a deleted workspace's blobs. The rows are gone already, so a failure here
    /// leaves unreachable (encrypted) blobs behind, never a broken workspace: log and go on.
    pub(crate) async fn delete_workspace_blobs(&self, workspace_id: &str) {
        if let Err(err) = self
            .blobs
            .delete_prefix(&crate::state::workspace_prefix(workspace_id))
            .await
        {
            tracing::warn!(workspace = workspace_id, error = %err, "could not delete the blobs of a deleted workspace");
        }
    }

    pub async fn lock_workspace(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> DomainResult<WorkspaceView> {
        let (ws, org, access) = self
            .workspace_id_for(caller, id, Action::LockWorkspace)
            .await?;
        if let Err(conflict) = rules::lock(&ws) {
            return Err(self.lock_conflict("lock", conflict).await);
        }
        let locked = self
            .store
            .lock_workspace(
                &ws.id,
                &caller.lock_holder().ok_or_else(|| {
                    DomainError::Forbidden("only users and runs hold locks".into())
                })?,
                reason.as_deref(),
                clock::now(),
            )
            .await?;
        if !locked {
            // Someone took it meanwhile.
            let ws = self.store.workspace_by_id(&ws.id).await?;
            let conflict = match ws.as_ref().and_then(Workspace::lock_holder) {
                Some(holder) => rules::LockConflict::HeldBy(holder),
                None => rules::LockConflict::NotLocked,
            };
            return Err(self.lock_conflict("lock", conflict).await);
        }
        self.reload_view(&ws.id, org, access).await
    }

    /// Releases the caller's own lock.
    pub async fn unlock_workspace(&self, caller: &Caller, id: &str) -> DomainResult<WorkspaceView> {
        let (ws, org, access) = self
            .workspace_id_for(caller, id, Action::UnlockWorkspace)
            .await?;
        let mine = caller.lock_holder();
        if let Err(conflict) = rules::unlock(&ws, mine.as_ref()) {
            return Err(self.lock_conflict("unlock", conflict).await);
        }
        if !self.store.unlock_workspace(&ws.id, mine.as_ref()).await? {
            return Err(not_locked("unlock"));
        }
        // Runs waiting for the lock go now.
        self.schedule(&ws.id).await?;
        self.reload_view(&ws.id, org, access).await
    }

    /// Releases whoever's lock (workspace administrators).
    pub async fn force_unlock_workspace(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<WorkspaceView> {
        let (ws, org, access) = self
            .workspace_id_for(caller, id, Action::ForceUnlockWorkspace)
            .await?;
        if let Err(conflict) = rules::force_unlock(&ws) {
            return Err(self.lock_conflict("force-unlock", conflict).await);
        }
        if !self.store.unlock_workspace(&ws.id, None).await? {
            return Err(not_locked("force-unlock"));
        }
        self.schedule(&ws.id).await?;
        self.reload_view(&ws.id, org, access).await
    }

    /// The 409 for a lock operation the workspace's lock does not allow.
    async fn lock_conflict(&self, operation: &str, conflict: rules::LockConflict) -> DomainError {
        let holder = match conflict {
            // Taken and released again while this lock was attempted.
            rules::LockConflict::NotLocked if operation == "lock" => {
                return DomainError::Conflict(
                    "Unable to lock workspace. Its lock changed hands meanwhile; try again.".into(),
                )
            }
            rules::LockConflict::NotLocked => return not_locked(operation),
            rules::LockConflict::HeldBy(holder) => holder,
        };
        let name = match self.describe_holder(Some(&holder)).await {
            Ok(name) => name,
            Err(err) => return err,
        };
        DomainError::Conflict(match (operation, holder.kind) {
            ("lock", _) => {
                format!("Unable to lock workspace. The workspace is already locked by {name}.")
            }
            (_, LockHolderKind::Run) if operation == "force-unlock" => format!(
                "Unable to force-unlock workspace. The workspace is locked by {name}: cancel or discard the run instead."
            ),
            _ => format!("Unable to {operation} workspace. The workspace is locked by {name}."),
        })
    }

    /// "User alice", "Run run-..." — how a lock holder is named in messages.
    pub(crate) async fn describe_holder(
        &self,
        holder: Option<&LockHolder>,
    ) -> DomainResult<String> {
        Ok(match holder {
            None => "nobody".into(),
            Some(LockHolder {
                kind: LockHolderKind::User,
                id,
            }) => match self.store.user_by_id(id).await? {
                Some(user) => format!("User {}", user.username),
                None => format!("User {id}"),
            },
            Some(LockHolder {
                kind: LockHolderKind::Run,
                id,
            }) => format!("Run {id}"),
            Some(LockHolder {
                kind: LockHolderKind::Team,
                id,
            }) => format!("Team {id}"),
        })
    }

    async fn reload_view(
        &self,
        id: &str,
        org: Organization,
        access: Access,
    ) -> DomainResult<WorkspaceView> {
        let ws = self
            .store
            .workspace_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("workspace"))?;
        self.workspace_view(ws, org, access).await
    }

    pub(crate) async fn workspace_view(
        &self,
        ws: Workspace,
        org: Organization,
        access: Access,
    ) -> DomainResult<WorkspaceView> {
        let tags = self
            .store
            .workspace_tags(std::slice::from_ref(&ws.id))
            .await?
            .remove(&ws.id)
            .unwrap_or_default();
        self.view_with_tags(ws, org, access, tags).await
    }

    /// A workspace's view with `tags`, its tags read already.
    async fn view_with_tags(
        &self,
        ws: Workspace,
        org: Organization,
        access: Access,
        tags: Vec<TagBinding>,
    ) -> DomainResult<WorkspaceView> {
        Ok(WorkspaceView {
            data_retention_policy: Some(if ws.has_retention_policy {
                self.policy_of(&ws.id).await?
            } else {
                None
            }),
            workspace: ws,
            organization: org,
            tags,
            access,
        })
    }

    /// Validates and applies settings; returns the tags to set, if the request named any.
    async fn apply_workspace_changes(
        &self,
        org: &Organization,
        ws: &mut Workspace,
        c: WorkspaceChanges,
    ) -> DomainResult<Option<Vec<TagBinding>>> {
        if let Some(name) = c.name {
            validate::workspace_name(&name)?;
            ws.name = name;
        }
        if let Some(description) = c.description {
            ws.description = description;
        }
        // First: whether the agent pool serves the workspace depends on its project.
        if let Some(project_id) = c.project_id {
            let project = self.store.project_by_id(&project_id).await?;
            match project {
                Some(p) if p.organization_id == org.id => {
                    ws.project_id = p.id;
                    ws.project_auto_destroy_activity_duration = p.auto_destroy_activity_duration;
                }
                _ => return Err(project_not_found(&project_id)),
            }
        }
        match (c.execution_mode, c.operations) {
            (Some(_), Some(_)) => {
                return Err(DomainError::invalid(
                    "operations",
                    "operations is deprecated and cannot be specified when execution-mode is used",
                ))
            }
            (Some(mode), None) => ws.execution_mode = mode,
            (None, Some(true)) => ws.execution_mode = Some(ExecutionMode::Remote),
            (None, Some(false)) => ws.execution_mode = Some(ExecutionMode::Local),
            (None, None) => {}
        }
        let mode_given = c.execution_mode.is_some() || c.operations.is_some();
        let pool_given = c.agent_pool_id.is_some();
        let pool_named = matches!(c.agent_pool_id, Some(Some(_)));
        if let Some(pool) = c.agent_pool_id {
            ws.agent_pool_id = pool;
        }
        let mode = ws.execution_mode.unwrap_or(org.default_execution_mode);
        if mode == ExecutionMode::Agent {
            match ws.agent_pool_id.clone() {
                Some(pool_id) => {
                    if mode_given || pool_given {
                        self.check_workspace_pool(org, ws, &pool_id).await?;
                    }
                }
                // Inherits the organization's agent mode, and with it its default pool.
                None if ws.execution_mode.is_none() && org.default_agent_pool_id.is_some() => {}
                None => {
                    return Err(DomainError::Invalid {
                        pointer: Some("/data/relationships/agent-pool".into()),
                        detail: "agent execution needs an agent pool: set the agent-pool relationship (or agent-pool-id)".into(),
                    })
                }
            }
        } else if ws.agent_pool_id.is_some() {
            if mode_given && !pool_named {
                // Leaving agent execution releases the pool, as HCP Terraform does.
                ws.agent_pool_id = None;
            } else {
                return Err(DomainError::invalid(
                    "agent-pool-id",
                    "an agent pool can only be set with execution-mode agent",
                ));
            }
        }
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = c.$field { ws.$field = v; })* };
        }
        set!(
            auto_apply,
            allow_destroy_plan,
            file_triggers_enabled,
            global_remote_state,
            project_remote_state,
            queue_all_runs,
            speculative_enabled,
            structured_run_output_enabled,
            assessments_enabled,
            auto_destroy_at,
            auto_apply_run_trigger
        );
        if ws.global_remote_state && ws.project_remote_state {
            // HCP's wording, which go-tfe's ErrInvalidRemoteStateOptions matches.
            return Err(DomainError::invalid(
                "project-remote-state",
                "Project remote state cannot be enabled when global remote state sharing is enabled",
            ));
        }
        apply_auto_destroy(
            ws,
            c.auto_destroy_activity_duration,
            c.inherits_project_auto_destroy,
        )?;
        if let Some(name) = c.source_name {
            ws.source_name = Some(name);
        }
        if let Some(url) = c.source_url {
            ws.source_url = Some(url);
        }
        let engine_changed = c.engine.is_some_and(|engine| engine != ws.engine);
        if let Some(engine) = c.engine {
            ws.engine = engine;
        }
        if let Some(version) = c.terraform_version {
            validate::terraform_version(&version)?;
            ws.terraform_version = version;
            self.check_workspace_version(ws.engine, &ws.terraform_version)
                .await?;
        } else if engine_changed {
            self.check_workspace_version(ws.engine, &ws.terraform_version)
                .await?;
        }
        let current = (
            std::mem::take(&mut ws.trigger_prefixes.0),
            std::mem::take(&mut ws.trigger_patterns.0),
        );
        let (prefixes, patterns) =
            rules::triggers(current, c.trigger_prefixes, c.trigger_patterns)?;
        ws.trigger_prefixes = JsonText(prefixes);
        ws.trigger_patterns = JsonText(patterns);
        if let Some(dir) = c.working_directory {
            if dir.starts_with('/') || dir.split('/').any(|part| part == "..") {
                return Err(DomainError::invalid(
                    "working-directory",
                    "must be a relative path inside the configuration, without '..'",
                ));
            }
            ws.working_directory = dir;
        }
        if let Some(tags) = &c.tags {
            for tag in tags {
                validate::tag_key(&tag.key, "key")?;
                validate::tag_value(&tag.value)?;
            }
        }
        Ok(c.tags)
    }
}

/// The inactivity settings of a request: a duration of its own (or `null`) means the workspace
/// stops inheriting its project's unless the request says otherwise; inheriting ignores the
/// workspace's own, so asking for both is a contradiction.
fn apply_auto_destroy(
    ws: &mut Workspace,
    duration: Option<Option<String>>,
    inherits: Option<bool>,
) -> DomainResult<()> {
    const ATTRIBUTE: &str = "auto-destroy-activity-duration";
    if let Some(Some(text)) = &duration {
        auto_destroy::parse_duration(text).map_err(|e| DomainError::invalid(ATTRIBUTE, e))?;
    }
    match (duration, inherits) {
        (Some(Some(_)), Some(true)) => {
            return Err(DomainError::invalid(
                ATTRIBUTE,
                "a workspace that inherits its project's auto-destroy settings has no duration of its own: set inherits-project-auto-destroy to false",
            ))
        }
        (Some(own), inherits) => {
            ws.auto_destroy_activity_duration = own;
            ws.inherits_project_auto_destroy = inherits.unwrap_or(false);
        }
        (None, Some(inherits)) => ws.inherits_project_auto_destroy = inherits,
        (None, None) => {}
    }
    Ok(())
}

/// Where a workspace request names its tags.
const TAG_BINDINGS: &str = "/data/relationships/tag-bindings";

fn not_locked(operation: &str) -> DomainError {
    DomainError::Conflict(format!(
        "Unable to {operation} workspace. The workspace is not locked."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_project_is_a_move() {
        let moving = WorkspaceChanges {
            project_id: Some("prj-1".into()),
            ..Default::default()
        };
        assert!(moving.only_moves());
        assert!(!WorkspaceChanges::default().only_moves());
        let renaming_too = WorkspaceChanges {
            name: Some("other".into()),
            ..moving.clone()
        };
        assert!(!renaming_too.only_moves());
        let retagging_too = WorkspaceChanges {
            tags: Some(Vec::new()),
            ..moving
        };
        assert!(!retagging_too.only_moves());
    }
}
