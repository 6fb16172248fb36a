//! Variables of workspaces and of variable sets. Every value is encrypted at rest; sensitive
//! ones are write-only (no API response carries them; only the runner of a run receives them),
//! and a sensitive variable cannot be made non-sensitive again.

use terrace_auth::policy::Action;
use terrace_storage::model::{
    Organization, Page, PageRequest, Variable, VariableCategory, VariableSet, Workspace,
};
use terrace_storage::store::VariableOwner;
use terrace_storage::{clock, ids, StorageError};

use crate::{Caller, DomainError, DomainResult, Services};

/// Fields a create or update request may carry; `None` leaves them unchanged.
#[derive(Debug, Clone, Default)]
pub struct VariableInput {
    pub key: Option<String>,
    pub value: Option<String>,
    pub description: Option<String>,
    pub category: Option<VariableCategory>,
    pub hcl: Option<bool>,
    pub sensitive: Option<bool>,
}

/// A variable as the API shows it: the value only when it is not sensitive.
#[derive(Debug, Clone)]
pub struct VariableView {
    pub variable: Variable,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VariableSetInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub global: Option<bool>,
    pub priority: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct VariableSetView {
    pub set: VariableSet,
    pub organization_name: String,
    pub workspace_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub variables: Vec<VariableView>,
}

/// The variables that reach a workspace's runs, lowest precedence first: a later variable of
/// the same category and key overrides an earlier one.
#[derive(Debug, Clone, Default)]
pub struct VariableLayers {
    /// Variable sets (global, then project, then workspace scope), then the workspace's own.
    pub normal: Vec<Variable>,
    /// Priority variable sets, which override even run variables.
    pub priority: Vec<Variable>,
}

const MAX_VALUE: usize = 256 * 1024;

/// A variable that reaches a workspace's runs, where it comes from, and whether one of
/// higher precedence (same category and key) hides it.
#[derive(Debug, Clone)]
pub struct RankedVariable {
    pub view: VariableView,
    /// The variable set that gives it; `None`: the workspace's own.
    pub set: Option<VariableSet>,
    pub overridden: bool,
}

/// For each of `layers` (lowest precedence first), whether a later one has the same category
/// and key, and so wins over it.
pub fn overridden(layers: &[Variable]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    let mut flags: Vec<bool> = layers
        .iter()
        .rev()
        .map(|v| !seen.insert((v.category, v.key.as_str())))
        .collect();
    flags.reverse();
    flags
}

impl Services {
    pub async fn list_workspace_variables(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> DomainResult<Vec<VariableView>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadVariables)
            .await?;
        self.variable_views(&VariableOwner::Workspace(ws.id)).await
    }

    /// Every variable a run of the workspace would receive, each category and key once: the
    /// one that wins by HCP Terraform's precedence (`/workspaces/:id/all-vars`).
    pub async fn effective_workspace_variables(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> DomainResult<Vec<VariableView>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadVariables)
            .await?;
        let layers = self.variable_layers(&ws).await?;
        let all: Vec<Variable> = layers.normal.into_iter().chain(layers.priority).collect();
        let flags = overridden(&all);
        let mut winners: Vec<Variable> = all
            .into_iter()
            .zip(flags)
            .filter_map(|(v, overridden)| (!overridden).then_some(v))
            .collect();
        winners.sort_by(|a, b| (a.category.as_str(), &a.key).cmp(&(b.category.as_str(), &b.key)));
        winners.into_iter().map(|v| self.variable_view(v)).collect()
    }

    /// Every variable of the workspace and of the sets applied to it, highest precedence
    /// first, each marked when another one wins over it (what the variables page explains).
    pub async fn ranked_workspace_variables(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> DomainResult<Vec<RankedVariable>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadVariables)
            .await?;
        let layers = self.variable_layers(&ws).await?;
        let sets = self
            .store
            .variable_sets_for_workspace(&ws.organization_id, &ws.id, &ws.project_id)
            .await?;
        let all: Vec<Variable> = layers.normal.into_iter().chain(layers.priority).collect();
        let flags = overridden(&all);
        let mut ranked = Vec::with_capacity(all.len());
        for (variable, overridden) in all.into_iter().zip(flags).rev() {
            let set = variable
                .varset_id
                .as_deref()
                .and_then(|id| sets.iter().find(|s| s.id == id))
                .cloned();
            ranked.push(RankedVariable {
                view: self.variable_view(variable)?,
                set,
                overridden,
            });
        }
        Ok(ranked)
    }

    /// [`VariableLayers`] of a workspace. Within one level, the set whose name sorts first wins.
    pub(crate) async fn variable_layers(&self, ws: &Workspace) -> DomainResult<VariableLayers> {
        let sets = self
            .store
            .variable_sets_for_workspace(&ws.organization_id, &ws.id, &ws.project_id)
            .await?;
        let mut scopes = std::collections::HashMap::new();
        for set in &sets {
            let (workspaces, projects) = self.store.variable_set_targets(&set.id).await?;
            let scope: u8 = if workspaces.contains(&ws.id) {
                2
            } else if projects.contains(&ws.project_id) {
                1
            } else {
                0
            };
            scopes.insert(set.id.clone(), scope);
        }
        let scope = |set: &VariableSet| scopes.get(&set.id).copied().unwrap_or(0);
        // Lowest precedence first; within a level, names in reverse so the first name wins.
        let mut ordered: Vec<&VariableSet> = sets.iter().collect();
        ordered
            .sort_by(|a, b| (a.priority, scope(a), &b.name).cmp(&(b.priority, scope(b), &a.name)));
        let set_ids: Vec<String> = sets.iter().map(|s| s.id.clone()).collect();
        let set_vars = self.store.variables_of_sets(&set_ids).await?;
        let of_set = |set: &VariableSet| {
            set_vars
                .iter()
                .filter(|v| v.varset_id.as_deref() == Some(set.id.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        };
        let mut layers = VariableLayers::default();
        for set in ordered.iter().filter(|s| !s.priority) {
            layers.normal.extend(of_set(set));
        }
        layers.normal.extend(
            self.store
                .list_variables(&VariableOwner::Workspace(ws.id.clone()))
                .await?,
        );
        for set in ordered.iter().filter(|s| s.priority) {
            layers.priority.extend(of_set(set));
        }
        Ok(layers)
    }

    pub async fn create_workspace_variable(
        &self,
        caller: &Caller,
        workspace_id: &str,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateVariables)
            .await?;
        self.create_variable(VariableOwner::Workspace(ws.id), input)
            .await
    }

    /// A workspace variable by ID (optionally checking it belongs to `workspace_id`).
    pub async fn workspace_variable(
        &self,
        caller: &Caller,
        workspace_id: Option<&str>,
        id: &str,
        action: Action,
    ) -> DomainResult<(Variable, Workspace)> {
        const WHAT: &str = "variable";
        let variable = self
            .store
            .variable_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let Some(owner) = variable.workspace_id.clone() else {
            return Err(DomainError::NotFound(WHAT));
        };
        if workspace_id.is_some_and(|ws| ws != owner) {
            return Err(DomainError::NotFound(WHAT));
        }
        let (ws, _, _) = self
            .workspace_id_for(caller, &owner, action)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound(WHAT),
                other => other,
            })?;
        Ok((variable, ws))
    }

    pub async fn show_workspace_variable(
        &self,
        caller: &Caller,
        workspace_id: Option<&str>,
        id: &str,
    ) -> DomainResult<VariableView> {
        let (variable, _) = self
            .workspace_variable(caller, workspace_id, id, Action::ReadVariables)
            .await?;
        self.variable_view(variable)
    }

    pub async fn update_workspace_variable(
        &self,
        caller: &Caller,
        workspace_id: Option<&str>,
        id: &str,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let (variable, _) = self
            .workspace_variable(caller, workspace_id, id, Action::UpdateVariables)
            .await?;
        self.update_variable(variable, input).await
    }

    pub async fn delete_workspace_variable(
        &self,
        caller: &Caller,
        workspace_id: Option<&str>,
        id: &str,
    ) -> DomainResult<()> {
        let (variable, _) = self
            .workspace_variable(caller, workspace_id, id, Action::UpdateVariables)
            .await?;
        self.store.delete_variable(&variable.id).await?;
        Ok(())
    }

    async fn create_variable(
        &self,
        owner: VariableOwner,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let key = input
            .key
            .clone()
            .ok_or_else(|| DomainError::invalid("key", "key is required"))?;
        let category = input.category.ok_or_else(|| {
            DomainError::invalid("category", "category is required: terraform or env")
        })?;
        let now = clock::now();
        let (workspace_id, varset_id) = match owner {
            VariableOwner::Workspace(id) => (Some(id), None),
            VariableOwner::VariableSet(id) => (None, Some(id)),
        };
        let mut variable = Variable {
            id: ids::new_id(ids::VARIABLE),
            workspace_id,
            varset_id,
            key,
            value_ciphertext: String::new(),
            description: String::new(),
            category,
            hcl: false,
            sensitive: false,
            version_id: String::new(),
            created_at: now,
            updated_at: now,
        };
        let value = input.value.clone().unwrap_or_default();
        self.apply_variable_input(&mut variable, &value, input)?;
        self.store
            .create_variable(&variable)
            .await
            .map_err(key_taken)?;
        self.variable_view(variable)
    }

    async fn update_variable(
        &self,
        mut variable: Variable,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let value = match &input.value {
            Some(value) => value.clone(),
            None => self.variable_value(&variable)?,
        };
        if variable.sensitive && input.sensitive == Some(false) {
            return Err(DomainError::invalid(
                "sensitive",
                "a sensitive variable cannot be made non-sensitive",
            ));
        }
        self.apply_variable_input(&mut variable, &value, input)?;
        variable.updated_at = clock::now();
        self.store
            .update_variable(&variable)
            .await
            .map_err(key_taken)?;
        self.variable_view(variable)
    }

    /// Validates and applies fields, sealing the value and renewing the version ID.
    fn apply_variable_input(
        &self,
        variable: &mut Variable,
        value: &str,
        input: VariableInput,
    ) -> DomainResult<()> {
        if let Some(key) = input.key {
            variable.key = key;
        }
        if let Some(category) = input.category {
            variable.category = category;
        }
        validate_key(&variable.key, variable.category)?;
        if let Some(description) = input.description {
            if description.chars().count() > 512 {
                return Err(DomainError::invalid(
                    "description",
                    "may be at most 512 characters",
                ));
            }
            variable.description = description;
        }
        if let Some(hcl) = input.hcl {
            variable.hcl = hcl;
        }
        if let Some(sensitive) = input.sensitive {
            variable.sensitive = sensitive;
        }
        if value.len() > MAX_VALUE {
            return Err(DomainError::invalid(
                "value",
                format!("may be at most {MAX_VALUE} bytes"),
            ));
        }
        variable.value_ciphertext = self.blobs.keyring().encrypt(value.as_bytes());
        variable.version_id = terrace_auth::secret::random_alphanumeric(20).to_lowercase();
        Ok(())
    }

    /// The decrypted value (for the runner and for updates that keep it).
    pub(crate) fn variable_value(&self, variable: &Variable) -> DomainResult<String> {
        let plaintext = self.blobs.keyring().decrypt(&variable.value_ciphertext)?;
        Ok(String::from_utf8_lossy(&plaintext).into_owned())
    }

    fn variable_view(&self, variable: Variable) -> DomainResult<VariableView> {
        let value = if variable.sensitive {
            None
        } else {
            Some(self.variable_value(&variable)?)
        };
        Ok(VariableView { variable, value })
    }

    async fn variable_views(&self, owner: &VariableOwner) -> DomainResult<Vec<VariableView>> {
        self.store
            .list_variables(owner)
            .await?
            .into_iter()
            .map(|v| self.variable_view(v))
            .collect()
    }

    // Variable sets.

    pub async fn list_variable_sets(
        &self,
        caller: &Caller,
        org_name: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> DomainResult<Page<VariableSetView>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadVariableSets)
            .await?;
        let found = self.store.list_variable_sets(&org.id, query, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for set in found.items {
            items.push(self.variable_set_view(set, &org).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn create_variable_set(
        &self,
        caller: &Caller,
        org_name: &str,
        input: VariableSetInput,
        parent_project_id: Option<String>,
        workspace_ids: Vec<String>,
        project_ids: Vec<String>,
    ) -> DomainResult<VariableSetView> {
        let org = match &parent_project_id {
            // A project's set: those who manage the project's variable sets create it.
            Some(project_id) => {
                let org = self
                    .organization_for(caller, org_name, Action::ReadOrganization)
                    .await?
                    .0;
                let project = self
                    .store
                    .project_by_id(project_id)
                    .await?
                    .filter(|p| p.organization_id == org.id)
                    .ok_or(DomainError::NotFound("project"))?;
                self.authorize_project(
                    caller,
                    &org,
                    &project,
                    Action::ManageProjectVariableSets,
                    "project",
                )
                .await?;
                org
            }
            None => {
                self.organization_for(caller, org_name, Action::ManageVariableSets)
                    .await?
                    .0
            }
        };
        let name = input
            .name
            .clone()
            .ok_or_else(|| DomainError::invalid("name", "name is required"))?;
        let now = clock::now();
        let mut set = VariableSet {
            id: ids::new_id(ids::VARIABLE_SET),
            organization_id: org.id.clone(),
            name,
            description: String::new(),
            global: false,
            priority: false,
            project_id: parent_project_id,
            created_at: now,
            updated_at: now,
        };
        apply_set_input(&mut set, input)?;
        self.check_targets(&org, &set, &workspace_ids, &project_ids)
            .await?;
        self.store
            .create_variable_set(&set)
            .await
            .map_err(crate::organizations::name_taken)?;
        self.store
            .attach_variable_set(&set.id, &workspace_ids, &project_ids)
            .await?;
        self.variable_set_view(set, &org).await
    }

    pub async fn variable_set(&self, caller: &Caller, id: &str) -> DomainResult<VariableSetView> {
        let (set, org) = self.variable_set_for(caller, id, SetAction::Read).await?;
        self.variable_set_view(set, &org).await
    }

    /// Whether the caller may change the set (settings, variables, where it applies): what
    /// pages ask before they show the forms.
    pub async fn may_manage_variable_set(&self, caller: &Caller, id: &str) -> DomainResult<bool> {
        match self.variable_set_for(caller, id, SetAction::Manage).await {
            Ok(_) => Ok(true),
            Err(DomainError::Forbidden(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Changes a set's settings and, for each of `workspace_ids` and `project_ids` given, makes
    /// that the exact list of what it is attached to.
    pub async fn update_variable_set(
        &self,
        caller: &Caller,
        id: &str,
        input: VariableSetInput,
        workspace_ids: Option<Vec<String>>,
        project_ids: Option<Vec<String>>,
    ) -> DomainResult<VariableSetView> {
        let (mut set, org) = self.variable_set_for(caller, id, SetAction::Manage).await?;
        apply_set_input(&mut set, input)?;
        self.check_targets(
            &org,
            &set,
            workspace_ids.as_deref().unwrap_or_default(),
            project_ids.as_deref().unwrap_or_default(),
        )
        .await?;
        set.updated_at = clock::now();
        self.store
            .update_variable_set(&set)
            .await
            .map_err(crate::organizations::name_taken)?;
        if workspace_ids.is_some() || project_ids.is_some() {
            let (old_workspaces, old_projects) = self.store.variable_set_targets(&set.id).await?;
            let dropped = |old: Vec<String>, new: &Option<Vec<String>>| match new {
                Some(new) => old.into_iter().filter(|id| !new.contains(id)).collect(),
                None => Vec::new(),
            };
            self.store
                .detach_variable_set(
                    &set.id,
                    &dropped(old_workspaces, &workspace_ids),
                    &dropped(old_projects, &project_ids),
                )
                .await?;
            self.store
                .attach_variable_set(
                    &set.id,
                    &workspace_ids.unwrap_or_default(),
                    &project_ids.unwrap_or_default(),
                )
                .await?;
        }
        self.variable_set_view(set, &org).await
    }

    pub async fn delete_variable_set(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (set, _) = self.variable_set_for(caller, id, SetAction::Manage).await?;
        self.store.delete_variable_set(&set.id).await?;
        Ok(())
    }

    /// Attaches (`attach` true) or detaches the set to or from workspaces and projects of its
    /// organization.
    pub async fn retarget_variable_set(
        &self,
        caller: &Caller,
        id: &str,
        attach: bool,
        workspace_ids: Vec<String>,
        project_ids: Vec<String>,
    ) -> DomainResult<()> {
        let (set, org) = self.variable_set_for(caller, id, SetAction::Manage).await?;
        if attach {
            self.check_targets(&org, &set, &workspace_ids, &project_ids)
                .await?;
            self.store
                .attach_variable_set(&set.id, &workspace_ids, &project_ids)
                .await?;
        } else {
            self.targets_in(&org, &workspace_ids, &project_ids).await?;
            self.store
                .detach_variable_set(&set.id, &workspace_ids, &project_ids)
                .await?;
        }
        Ok(())
    }

    pub async fn list_variable_set_variables(
        &self,
        caller: &Caller,
        set_id: &str,
    ) -> DomainResult<Vec<VariableView>> {
        let (set, _) = self
            .variable_set_for(caller, set_id, SetAction::Read)
            .await?;
        self.variable_views(&VariableOwner::VariableSet(set.id))
            .await
    }

    pub async fn variable_set_variable(
        &self,
        caller: &Caller,
        set_id: &str,
        id: &str,
    ) -> DomainResult<VariableView> {
        let variable = self
            .set_variable(caller, set_id, id, SetAction::Read)
            .await?;
        self.variable_view(variable)
    }

    pub async fn create_variable_set_variable(
        &self,
        caller: &Caller,
        set_id: &str,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let (set, _) = self
            .variable_set_for(caller, set_id, SetAction::Manage)
            .await?;
        self.create_variable(VariableOwner::VariableSet(set.id), input)
            .await
    }

    pub async fn update_variable_set_variable(
        &self,
        caller: &Caller,
        set_id: &str,
        id: &str,
        input: VariableInput,
    ) -> DomainResult<VariableView> {
        let variable = self
            .set_variable(caller, set_id, id, SetAction::Manage)
            .await?;
        self.update_variable(variable, input).await
    }

    pub async fn delete_variable_set_variable(
        &self,
        caller: &Caller,
        set_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        let variable = self
            .set_variable(caller, set_id, id, SetAction::Manage)
            .await?;
        self.store.delete_variable(&variable.id).await?;
        Ok(())
    }

    /// The variable sets that apply to a workspace.
    pub async fn workspace_variable_sets(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> DomainResult<Vec<VariableSetView>> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadVariables)
            .await?;
        let sets = self
            .store
            .variable_sets_for_workspace(&org.id, &ws.id, &ws.project_id)
            .await?;
        let mut views = Vec::with_capacity(sets.len());
        for set in sets {
            views.push(self.variable_set_view(set, &org).await?);
        }
        Ok(views)
    }

    /// The variable sets attached to a project, and the global ones, which apply to it too.
    pub async fn project_variable_sets(
        &self,
        caller: &Caller,
        project_id: &str,
    ) -> DomainResult<Vec<VariableSetView>> {
        let project = self
            .store
            .project_by_id(project_id)
            .await?
            .ok_or(DomainError::NotFound("project"))?;
        let org = self
            .store
            .organization_by_id(&project.organization_id)
            .await?
            .ok_or(DomainError::NotFound("project"))?;
        let access = self
            .authorize_project(
                caller,
                &org,
                &project,
                Action::ReadProjectVariableSets,
                "project",
            )
            .await?;
        // Readers of the organization's sets see every set that applies; readers of the
        // project's own sets only those.
        let all = crate::access::allows(access, Action::ReadVariableSets);
        let sets = self
            .store
            .variable_sets_for_project(&org.id, &project.id)
            .await?;
        let mut views = Vec::with_capacity(sets.len());
        for set in sets
            .into_iter()
            .filter(|s| all || s.project_id.as_deref() == Some(project.id.as_str()))
        {
            views.push(self.variable_set_view(set, &org).await?);
        }
        Ok(views)
    }

    async fn set_variable(
        &self,
        caller: &Caller,
        set_id: &str,
        id: &str,
        action: SetAction,
    ) -> DomainResult<Variable> {
        let (set, _) = self.variable_set_for(caller, set_id, action).await?;
        match self.store.variable_by_id(id).await? {
            Some(v) if v.varset_id.as_deref() == Some(set.id.as_str()) => Ok(v),
            _ => Err(DomainError::NotFound("variable")),
        }
    }

    async fn variable_set_for(
        &self,
        caller: &Caller,
        id: &str,
        action: SetAction,
    ) -> DomainResult<(VariableSet, Organization)> {
        const WHAT: &str = "variable set";
        let set = self
            .store
            .variable_set_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&set.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let owner = match &set.project_id {
            Some(id) => self.store.project_by_id(id).await?,
            None => None,
        };
        match owner {
            // A project's set: the project's variable-set access (which the organization's
            // includes) decides.
            Some(project) => {
                self.authorize_project(caller, &org, &project, action.on_project(), WHAT)
                    .await?
            }
            None => {
                self.authorize(caller, &org, action.on_organization(), WHAT)
                    .await?
            }
        };
        Ok((set, org))
    }

    async fn variable_set_view(
        &self,
        set: VariableSet,
        org: &Organization,
    ) -> DomainResult<VariableSetView> {
        let (workspace_ids, project_ids) = self.store.variable_set_targets(&set.id).await?;
        let variables = self
            .variable_views(&VariableOwner::VariableSet(set.id.clone()))
            .await?;
        Ok(VariableSetView {
            set,
            organization_name: org.name.clone(),
            workspace_ids,
            project_ids,
            variables,
        })
    }

    /// Workspaces and projects named as targets must be the organization's, and within the
    /// set's project if a project owns it ([`project_set_reach`]).
    async fn check_targets(
        &self,
        org: &Organization,
        set: &VariableSet,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> DomainResult<()> {
        let workspace_projects = self.targets_in(org, workspace_ids, project_ids).await?;
        project_set_reach(set, &workspace_projects, project_ids)
    }

    /// Checks the targets are the organization's; returns the workspaces' projects.
    async fn targets_in(
        &self,
        org: &Organization,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> DomainResult<Vec<String>> {
        let mut workspace_projects = Vec::with_capacity(workspace_ids.len());
        for id in workspace_ids {
            match self.store.workspace_by_id(id).await? {
                Some(ws) if ws.organization_id == org.id => workspace_projects.push(ws.project_id),
                _ => return Err(DomainError::NotFound("workspace")),
            }
        }
        for id in project_ids {
            match self.store.project_by_id(id).await? {
                Some(p) if p.organization_id == org.id => {}
                _ => return Err(DomainError::NotFound("project")),
            }
        }
        Ok(workspace_projects)
    }
}

/// What an operation on a variable set needs: reading or managing it.
#[derive(Debug, Clone, Copy)]
enum SetAction {
    Read,
    Manage,
}

impl SetAction {
    /// The action on an organization's own set.
    fn on_organization(self) -> Action {
        match self {
            SetAction::Read => Action::ReadVariableSets,
            SetAction::Manage => Action::ManageVariableSets,
        }
    }

    /// The action on a set a project owns (the organization's actions include it).
    fn on_project(self) -> Action {
        match self {
            SetAction::Read => Action::ReadProjectVariableSets,
            SetAction::Manage => Action::ManageProjectVariableSets,
        }
    }
}

/// A project's variable set reaches its project and nothing beyond: it is never global, and
/// is applied only to its project and the project's workspaces (`workspace_projects`: the
/// projects of the workspaces it is applied to). An organization's set may go anywhere in
/// the organization.
pub fn project_set_reach(
    set: &VariableSet,
    workspace_projects: &[String],
    project_ids: &[String],
) -> DomainResult<()> {
    let Some(owner) = set.project_id.as_deref() else {
        return Ok(());
    };
    if set.global {
        return Err(DomainError::invalid(
            "global",
            "a project's variable set cannot be global: apply it to the project instead",
        ));
    }
    if project_ids.iter().any(|p| p != owner) {
        return Err(DomainError::invalid(
            "relationships/projects",
            "a project's variable set applies only to its own project",
        ));
    }
    if workspace_projects.iter().any(|p| p != owner) {
        return Err(DomainError::invalid(
            "relationships/workspaces",
            "a project's variable set applies only to workspaces of its own project",
        ));
    }
    Ok(())
}

fn apply_set_input(set: &mut VariableSet, input: VariableSetInput) -> DomainResult<()> {
    if let Some(name) = input.name {
        if name.trim().is_empty() || name.chars().count() > 128 {
            return Err(DomainError::invalid(
                "name",
                "name must be 1-128 characters",
            ));
        }
        set.name = name;
    }
    if let Some(description) = input.description {
        set.description = description;
    }
    if let Some(global) = input.global {
        set.global = global;
    }
    if let Some(priority) = input.priority {
        set.priority = priority;
    }
    Ok(())
}

/// Keys are 1-128 characters. Terraform keys are not restricted further: the API accepts
/// any (clients use UUIDs), and the runner skips those no configuration could declare.
/// Environment keys cannot contain `=` or NUL, which no process environment can hold.
fn validate_key(key: &str, category: VariableCategory) -> DomainResult<()> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(DomainError::invalid("key", "key must be 1-128 characters"));
    }
    if category == VariableCategory::Env && (key.contains('=') || key.contains('\0')) {
        return Err(DomainError::invalid(
            "key",
            format!("\"{key}\" cannot be an environment variable name: it contains '=' or NUL"),
        ));
    }
    Ok(())
}

fn key_taken(err: StorageError) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::invalid("key", "Key has already been taken"),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_layer_hides_an_earlier_one_of_the_same_category_and_key() {
        let var = |key: &str, category: VariableCategory| Variable {
            id: format!("var-{key}"),
            workspace_id: None,
            varset_id: None,
            key: key.to_string(),
            value_ciphertext: String::new(),
            description: String::new(),
            category,
            hcl: false,
            sensitive: false,
            version_id: String::new(),
            created_at: clock::now(),
            updated_at: clock::now(),
        };
        use VariableCategory::{Env, Terraform};
        let layers = [
            var("region", Terraform),
            var("region", Env),
            var("size", Terraform),
            var("region", Terraform),
            var("size", Terraform),
            var("size", Terraform),
        ];
        assert_eq!(overridden(&layers), [true, false, true, false, true, false]);
        assert!(overridden(&[]).is_empty());
    }

    #[test]
    fn keys_follow_their_category() {
        assert!(validate_key("region", VariableCategory::Terraform).is_ok());
        assert!(validate_key("6f1f4c0e-uuid-like", VariableCategory::Terraform).is_ok());
        assert!(validate_key("AWS_REGION", VariableCategory::Env).is_ok());
        for (key, category) in [
            ("", VariableCategory::Terraform),
            ("", VariableCategory::Env),
            ("a=b", VariableCategory::Env),
            ("nul\0", VariableCategory::Env),
        ] {
            assert!(
                validate_key(key, category).is_err(),
                "{key:?} accepted as {category}"
            );
        }
        assert!(validate_key(&"k".repeat(129), VariableCategory::Terraform).is_err());
    }

    #[test]
    fn a_project_set_stays_in_its_project() {
        let now = clock::now();
        let org_set = VariableSet {
            id: "varset-1".into(),
            organization_id: "org-1".into(),
            name: "creds".into(),
            description: String::new(),
            global: false,
            priority: false,
            project_id: None,
            created_at: now,
            updated_at: now,
        };
        let owned = VariableSet {
            project_id: Some("prj-a".into()),
            ..org_set.clone()
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // The organization's sets go anywhere in it.
        assert!(project_set_reach(&org_set, &strings(&["prj-b"]), &strings(&["prj-c"])).is_ok());
        let global = VariableSet {
            global: true,
            ..org_set.clone()
        };
        assert!(project_set_reach(&global, &[], &[]).is_ok());
        // A project's: its project and its workspaces only, never global.
        assert!(project_set_reach(&owned, &strings(&["prj-a"]), &strings(&["prj-a"])).is_ok());
        assert!(project_set_reach(&owned, &[], &strings(&["prj-b"])).is_err());
        assert!(project_set_reach(&owned, &strings(&["prj-a", "prj-b"]), &[]).is_err());
        let owned_global = VariableSet {
            global: true,
            ..owned
        };
        let err = project_set_reach(&owned_global, &[], &[]).unwrap_err();
        assert!(err.to_string().contains("cannot be global"), "{err}");
    }
}
