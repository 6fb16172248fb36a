//! The storage traits. The domain layer holds an `Arc<dyn Store>` and knows nothing of SQL.
//! Each method is one atomic operation: where a rule needs several rows to change together
//! (an organization and its owners team, a state version and the workspace's current pointer),
//! the method does it in one transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::*;
use crate::StorageResult;

#[async_trait]
pub trait OrganizationStore {
    /// Creates the organization with its owners team and default project; `owner` joins the
    /// owners team.
    async fn create_organization(
        &self,
        org: &Organization,
        owners: &Team,
        default_project: &Project,
        owner: Option<&str>,
    ) -> StorageResult<()>;
    async fn organization_by_name(&self, name: &str) -> StorageResult<Option<Organization>>;
    async fn organization_by_id(&self, id: &str) -> StorageResult<Option<Organization>>;
    /// Organizations `member` belongs to, or all of them when `member` is `None`.
    async fn list_organizations(
        &self,
        member: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<Organization>>;
    async fn update_organization(&self, org: &Organization) -> StorageResult<()>;
    /// Deletes the organization and everything in it.
    async fn delete_organization(&self, id: &str) -> StorageResult<()>;
    /// The teams of the user's active membership of the organization (possibly none);
    /// `None` when the user is not an active member.
    async fn member_teams(&self, org_id: &str, user_id: &str) -> StorageResult<Option<Vec<Team>>>;
}

#[async_trait]
pub trait UserStore {
    async fn create_user(&self, user: &User) -> StorageResult<()>;
    async fn user_by_id(&self, id: &str) -> StorageResult<Option<User>>;
    async fn user_by_username(&self, username: &str) -> StorageResult<Option<User>>;
    async fn count_users(&self) -> StorageResult<u64>;
    async fn set_password_hash(&self, user_id: &str, hash: &str) -> StorageResult<()>;
    /// Writes username and email.
    async fn update_user(&self, user: &User) -> StorageResult<()>;
}

#[async_trait]
pub trait TokenStore {
    async fn create_token(&self, token: &Token) -> StorageResult<()>;
    async fn token_by_hash(&self, secret_hash: &str) -> StorageResult<Option<Token>>;
    async fn token_by_id(&self, id: &str) -> StorageResult<Option<Token>>;
    async fn list_tokens(
        &self,
        kind: TokenKind,
        owner_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Token>>;
    async fn delete_token(&self, id: &str) -> StorageResult<bool>;
    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StorageResult<()>;
    /// Stores the token in place of every other token of its kind and owner, in one
    /// transaction (team and organization tokens: one each, regenerating revokes). A team's
    /// tokens with a description are tokens of their own: they are neither replaced nor
    /// deleted with its one undescribed token (here and in `delete_tokens_of`).
    async fn replace_token(&self, token: &Token) -> StorageResult<()>;
    /// Deletes every token of `kind` owned by `owner_id` (but a team's described tokens);
    /// returns how many.
    async fn delete_tokens_of(&self, kind: TokenKind, owner_id: &str) -> StorageResult<u64>;
    /// The tokens of every team of the organization, newest first.
    async fn list_organization_team_tokens(&self, org_id: &str) -> StorageResult<Vec<Token>>;
    /// How many times what a token stands for has changed (tokens revoked, users, teams,
    /// memberships, organizations, single sign-on; migration 0043's triggers count them, as
    /// the changes commit): what was read of credentials at one value still holds at it.
    async fn credential_epoch(&self) -> StorageResult<i64>;
}

#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Exact names (the CLI's `filter[names]`).
    pub names: Vec<String>,
    /// Case-insensitive substring of the name.
    pub query: Option<String>,
    /// Only projects these teams were given access to, or that hold a workspace they were
    /// given access to (`None`: every project).
    pub visible_to_teams: Option<Vec<String>>,
    /// Only projects carrying every one of these bindings (an empty value: the key with any
    /// value).
    pub tagged: Vec<TagBinding>,
}

#[async_trait]
pub trait ProjectStore {
    /// Creates the project with its tag bindings, together.
    async fn create_project(&self, project: &Project, tags: &[TagBinding]) -> StorageResult<()>;
    async fn project_by_id(&self, id: &str) -> StorageResult<Option<Project>>;
    async fn default_project(&self, org_id: &str) -> StorageResult<Option<Project>>;
    async fn list_projects(
        &self,
        org_id: &str,
        filter: &ProjectFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Project>>;
    /// Saves the project's settings and, when given, replaces its tag bindings, together.
    async fn update_project(
        &self,
        project: &Project,
        tags: Option<&[TagBinding]>,
    ) -> StorageResult<()>;
    async fn count_project_workspaces(&self, project_id: &str) -> StorageResult<u64>;
    async fn delete_project(&self, id: &str) -> StorageResult<()>;
    /// The project's tag bindings, in the order their keys were first bound.
    async fn project_tag_bindings(&self, project_id: &str) -> StorageResult<Vec<TagBinding>>;
    /// Adds bindings or replaces the value of keys the project has; other keys stay.
    async fn merge_project_tag_bindings(
        &self,
        project_id: &str,
        tags: &[TagBinding],
    ) -> StorageResult<()>;
}

#[derive(Debug, Clone, Default)]
pub struct WorkspaceFilter {
    /// Case-insensitive substring of the name (`search[name]`).
    pub name_contains: Option<String>,
    /// Name pattern with `*` wildcards (`search[wildcard-name]`).
    pub name_wildcard: Option<String>,
    /// Tag keys that must all be present (`search[tags]`).
    pub tags: Vec<String>,
    /// Tag keys that must all be absent (`search[exclude-tags]`).
    pub exclude_tags: Vec<String>,
    /// Tags that must all be present, by key and optionally value (`filter[tagged]`).
    pub tagged: Vec<(String, Option<String>)>,
    pub project_id: Option<String>,
    /// Only workspaces these teams were given access to, directly or through their project
    /// (`None`: every workspace; callers with organization-wide access).
    pub visible_to_teams: Option<Vec<String>>,
    /// Only workspaces whose current run has this status (`filter[current-run][status]`).
    pub current_run_status: Option<String>,
    /// `sort`; oldest first without (TFE: "arbitrary but stable").
    pub order: Option<WorkspaceOrder>,
}

/// What a read of one workspace names beside it (`WorkspaceStore::workspace_related`):
/// asked for as two flags, answered as the IDs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelatedIds<C, V = C> {
    pub configuration_version: C,
    pub variables: V,
}

impl WorkspaceFilter {
    /// Whether it keeps every workspace of the organization (its order aside).
    pub fn selects_all(&self) -> bool {
        self.project_id.is_none()
            && self.tags.is_empty()
            && self.tagged.is_empty()
            && !self.narrows_beyond_tags_and_project()
    }

    /// The one tag it asks for, by key and optionally value, when that is all it asks for
    /// (`search[tags]=k` or one `filter[tagged]`): such a list's workspaces are the tag's.
    pub fn only_tag(&self) -> Option<(&str, Option<&str>)> {
        if self.project_id.is_some() || self.narrows_beyond_tags_and_project() {
            return None;
        }
        match (self.tags.as_slice(), self.tagged.as_slice()) {
            ([key], []) => Some((key, None)),
            ([], [(key, value)]) => Some((key, value.as_deref())),
            _ => None,
        }
    }

    /// The project it asks for, when that is all it asks for (`filter[project][id]`): such a
    /// list's workspaces are the project's, if the project is the organization's.
    pub fn only_project(&self) -> Option<&str> {
        let no_tags = self.tags.is_empty() && self.tagged.is_empty();
        let alone = no_tags && !self.narrows_beyond_tags_and_project();
        self.project_id.as_deref().filter(|_| alone)
    }

    /// Whether it asks for anything but tags that must be present and a project. Every field
    /// is named, so that a new one is considered here.
    fn narrows_beyond_tags_and_project(&self) -> bool {
        let WorkspaceFilter {
            name_contains,
            name_wildcard,
            tags: _,
            exclude_tags,
            tagged: _,
            project_id: _,
            visible_to_teams,
            current_run_status,
            order: _,
        } = self;
        name_contains.is_some()
            || name_wildcard.is_some()
            || !exclude_tags.is_empty()
            || visible_to_teams.is_some()
            || current_run_status.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_tag_is_only_a_tag() {
        let tag = |key: &str| WorkspaceFilter {
            tags: vec![key.to_string()],
            ..WorkspaceFilter::default()
        };
        assert_eq!(tag("prod").only_tag(), Some(("prod", None)));
        let tagged = WorkspaceFilter {
            tagged: vec![("env".to_string(), Some("prod".to_string()))],
            order: Some(WorkspaceOrder::Name { descending: false }),
            ..WorkspaceFilter::default()
        };
        assert_eq!(tagged.only_tag(), Some(("env", Some("prod"))));

        assert_eq!(WorkspaceFilter::default().only_tag(), None);
        let two = WorkspaceFilter {
            tags: vec!["a".to_string(), "b".to_string()],
            ..WorkspaceFilter::default()
        };
        assert_eq!(two.only_tag(), None);
        let both = WorkspaceFilter {
            tagged: vec![("b".to_string(), None)],
            ..tag("a")
        };
        assert_eq!(both.only_tag(), None);
        let narrowed = [
            WorkspaceFilter {
                name_contains: Some("x".to_string()),
                ..tag("a")
            },
            WorkspaceFilter {
                exclude_tags: vec!["b".to_string()],
                ..tag("a")
            },
            WorkspaceFilter {
                project_id: Some("prj-1".to_string()),
                ..tag("a")
            },
            WorkspaceFilter {
                visible_to_teams: Some(Vec::new()),
                ..tag("a")
            },
            WorkspaceFilter {
                current_run_status: Some("applied".to_string()),
                ..tag("a")
            },
            WorkspaceFilter {
                name_wildcard: Some("x*".to_string()),
                ..tag("a")
            },
        ];
        for filter in narrowed {
            assert_eq!(filter.only_tag(), None, "{filter:?}");
        }
    }

    #[test]
    fn only_a_lone_project_is_only_a_project() {
        let project = WorkspaceFilter {
            project_id: Some("prj-1".to_string()),
            order: Some(WorkspaceOrder::Name { descending: true }),
            ..WorkspaceFilter::default()
        };
        assert_eq!(project.only_project(), Some("prj-1"));
        assert!(!project.selects_all());
        assert_eq!(project.only_tag(), None);
        assert_eq!(WorkspaceFilter::default().only_project(), None);
        let narrowed = [
            WorkspaceFilter {
                tags: vec!["a".to_string()],
                ..project.clone()
            },
            WorkspaceFilter {
                tagged: vec![("a".to_string(), None)],
                ..project.clone()
            },
            WorkspaceFilter {
                name_contains: Some("x".to_string()),
                ..project.clone()
            },
            WorkspaceFilter {
                name_wildcard: Some("x*".to_string()),
                ..project.clone()
            },
            WorkspaceFilter {
                exclude_tags: vec!["b".to_string()],
                ..project.clone()
            },
            WorkspaceFilter {
                visible_to_teams: Some(Vec::new()),
                ..project.clone()
            },
            WorkspaceFilter {
                current_run_status: Some("applied".to_string()),
                ..project.clone()
            },
        ];
        for filter in narrowed {
            assert_eq!(filter.only_project(), None, "{filter:?}");
        }
    }
}

#[async_trait]
pub trait WorkspaceStore {
    /// Creates the workspace and its tags (creating organization tags as needed).
    async fn create_workspace(&self, ws: &Workspace, tags: &[TagBinding]) -> StorageResult<()>;
    async fn workspace_by_id(&self, id: &str) -> StorageResult<Option<Workspace>>;
    async fn workspace_by_name(&self, org_id: &str, name: &str)
        -> StorageResult<Option<Workspace>>;
    async fn list_workspaces(
        &self,
        org_id: &str,
        filter: &WorkspaceFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>>;
    /// What a read of one workspace shows beside its row, in one statement: its tags (as
    /// `workspace_tags` orders them), the ID of its current configuration version (its newest
    /// not provisional) and those of its own variables (by key), these two only when asked for.
    async fn workspace_related(
        &self,
        workspace_id: &str,
        wanted: RelatedIds<bool>,
    ) -> StorageResult<(Vec<TagBinding>, RelatedIds<Option<String>, Vec<String>>)>;
    /// Writes the workspace's settings (not its lock or current state, which have their own
    /// operations).
    async fn update_workspace(&self, ws: &Workspace) -> StorageResult<()>;
    async fn delete_workspace(&self, id: &str) -> StorageResult<bool>;
    /// Takes the lock if the workspace is unlocked; false if someone holds it.
    async fn lock_workspace(
        &self,
        id: &str,
        holder: &LockHolder,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Releases the lock if `holder` holds it (or whoever holds it, for `None`); false if it was
    /// not held that way.
    async fn unlock_workspace(&self, id: &str, holder: Option<&LockHolder>) -> StorageResult<bool>;
    /// Workspaces auto-destroy may concern at `now`: a schedule that has come, or an
    /// inactivity duration of their own or their project's (the caller decides).
    async fn auto_destroy_candidates(&self, now: DateTime<Utc>) -> StorageResult<Vec<Workspace>>;
    /// Records that a destroy run is being queued for the workspace at `now`, and clears a
    /// schedule that has come, unless a sweep did since `seen` (the `auto_destroy_queued_at`
    /// it read): false then.
    async fn claim_auto_destroy(
        &self,
        id: &str,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
}

#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    /// Case-insensitive substring of the name (`q`).
    pub query: Option<String>,
    /// Leave out tags already on this workspace (`filter[exclude][taggable][id]`).
    pub exclude_workspace: Option<String>,
    /// Only the key-only tags of this workspace (its flat tag list).
    pub on_workspace: Option<String>,
}

#[async_trait]
pub trait TagStore {
    /// Tags of each of the given workspaces, in the order they were added.
    async fn workspace_tags(
        &self,
        workspace_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<TagBinding>>>;
    /// Adds tags to a workspace, replacing the value of keys it already has.
    async fn add_workspace_tags(
        &self,
        org_id: &str,
        workspace_id: &str,
        tags: &[TagBinding],
    ) -> StorageResult<()>;
    async fn remove_workspace_tags(&self, workspace_id: &str, keys: &[String])
        -> StorageResult<()>;
    async fn list_tags(
        &self,
        org_id: &str,
        filter: &TagFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Tag>>;
    async fn tags_by_ids(&self, org_id: &str, ids: &[String]) -> StorageResult<Vec<Tag>>;
    async fn tag_by_id(&self, id: &str) -> StorageResult<Option<Tag>>;
    /// Deletes organization tags, removing them from every workspace.
    async fn delete_tags(&self, org_id: &str, ids: &[String]) -> StorageResult<()>;
    /// Adds the (key-only) tag to each workspace.
    async fn tag_workspaces(&self, tag_id: &str, workspace_ids: &[String]) -> StorageResult<()>;
    /// The organization's reserved tag keys, oldest first.
    async fn list_reserved_tag_keys(
        &self,
        org_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ReservedTagKey>>;
    /// The organization's reserved keys whose project values workspaces may not override.
    async fn override_locked_tag_keys(&self, org_id: &str) -> StorageResult<Vec<String>>;
    async fn reserved_tag_key_by_id(&self, id: &str) -> StorageResult<Option<ReservedTagKey>>;
    /// Inserts a reserved key; a key the organization already reserves is a `Conflict`.
    async fn create_reserved_tag_key(&self, key: &ReservedTagKey) -> StorageResult<()>;
    /// Saves key, `disable_overrides` and `updated_at`; a taken key is a `Conflict`.
    async fn update_reserved_tag_key(&self, key: &ReservedTagKey) -> StorageResult<()>;
    async fn delete_reserved_tag_key(&self, id: &str) -> StorageResult<()>;
}

#[async_trait]
pub trait StateVersionStore {
    /// Inserts a pending state version with the outputs known at creation, discarding any
    /// other pending version of the workspace.
    async fn create_state_version(
        &self,
        sv: &StateVersion,
        outputs: &[StateVersionOutput],
    ) -> StorageResult<()>;
    async fn state_version_by_id(&self, id: &str) -> StorageResult<Option<StateVersion>>;
    /// The resource summaries recorded as each of versions `ids` was finalized, by version
    /// (none before, or for a version that does not exist): a page of versions in one read.
    async fn resources_of_state_versions(
        &self,
        ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<ResourceSummary>>>;
    /// [`Self::resources_of_state_versions`] of one version.
    async fn state_version_resources(&self, id: &str) -> StorageResult<Vec<ResourceSummary>> {
        let ids = [id.to_string()];
        let mut found = self.resources_of_state_versions(&ids).await?;
        Ok(found.remove(id).unwrap_or_default())
    }
    /// The resource summaries of the current state of each of the organization's workspaces
    /// that has one (only those `visible_to_teams` sees, if given), in no particular order.
    async fn current_resources(
        &self,
        org_id: &str,
        visible_to_teams: Option<&[String]>,
    ) -> StorageResult<Vec<CurrentResources>>;
    /// Finalized versions of a workspace, newest first.
    async fn list_state_versions(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<StateVersion>>;
    /// Marks a pending version finalized with what its upload revealed (replacing its outputs
    /// when the summary carries some) and makes it the workspace's current state, in one
    /// transaction. False if it was not pending.
    async fn finalize_state_version(&self, id: &str, summary: &StateSummary)
        -> StorageResult<bool>;
    async fn mark_json_state_uploaded(&self, id: &str) -> StorageResult<()>;
    /// The outputs of each of versions `ids`, by version, each version's by name: a page of
    /// versions in one read.
    async fn outputs_of_state_versions(
        &self,
        ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<StateVersionOutput>>>;
    /// [`Self::outputs_of_state_versions`] of one version.
    async fn state_version_outputs(
        &self,
        state_version_id: &str,
    ) -> StorageResult<Vec<StateVersionOutput>> {
        let ids = [state_version_id.to_string()];
        let mut found = self.outputs_of_state_versions(&ids).await?;
        Ok(found.remove(state_version_id).unwrap_or_default())
    }
    async fn state_version_output_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<StateVersionOutput>>;
    /// IDs of all state versions of a workspace, for deleting their blobs.
    async fn state_version_ids(&self, workspace_id: &str) -> StorageResult<Vec<String>>;
    /// Moves a version's backing data from `from` to `to` (soft-delete, restore, permanent
    /// deletion). False if the version was not in `from`, or is its workspace's current state.
    async fn transition_state_version(
        &self,
        id: &str,
        from: StateVersionStatus,
        to: StateVersionStatus,
    ) -> StorageResult<bool>;
    /// Soft-deletes the backing data of the workspace's finalized versions created before
    /// `cutoff`, except its current state; returns how many.
    async fn soft_delete_state_versions_before(
        &self,
        workspace_id: &str,
        cutoff: DateTime<Utc>,
    ) -> StorageResult<u64>;
}

#[async_trait]
pub trait LoginStore {
    async fn create_oauth_code(&self, code: &OAuthCode) -> StorageResult<()>;
    /// Removes and returns the code: a code can be exchanged once.
    async fn take_oauth_code(&self, code_hash: &str) -> StorageResult<Option<OAuthCode>>;
    async fn create_session(&self, session: &Session) -> StorageResult<()>;
    async fn session_by_hash(&self, id_hash: &str) -> StorageResult<Option<Session>>;
    async fn delete_session(&self, id_hash: &str) -> StorageResult<()>;
    /// Records a sign-in form's CSRF token (its hash), valid until `expires_at`.
    async fn create_login_form(
        &self,
        csrf_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Removes the form and returns its expiry: a form can be submitted once.
    async fn take_login_form(&self, csrf_hash: &str) -> StorageResult<Option<DateTime<Utc>>>;
    /// Records that the session was used at `at`.
    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StorageResult<()>;
    /// Ends every session of the user; returns how many there were.
    async fn delete_user_sessions(&self, user_id: &str) -> StorageResult<u64>;
    /// Drops expired codes, sessions and sign-in forms.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StorageResult<()>;
}

#[async_trait]
pub trait ConfigurationStore {
    async fn create_configuration_version(&self, cv: &ConfigurationVersion) -> StorageResult<()>;
    async fn configuration_version_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<ConfigurationVersion>>;
    /// A workspace's configuration versions, newest first.
    async fn list_configuration_versions(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ConfigurationVersion>>;
    /// A workspace's current configuration version: its newest one that is not provisional.
    async fn current_configuration_version(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Option<ConfigurationVersion>>;
    /// Ends the upload of a pending version: `Uploaded` with its size and the key of its
    /// tarball, or `Errored` with a reason. False if the version was not pending (another
    /// upload won).
    async fn finish_configuration_upload(
        &self,
        id: &str,
        outcome: UploadOutcome<'_>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Marks an uploaded version archived (its tarball deleted). False if it was not uploaded.
    async fn archive_configuration_version(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Records a new upload of an uploaded version (its tarball at `tarball_key`), if its
    /// tarball is still `old_key` and no run uses it. False otherwise.
    async fn replace_configuration_tarball(
        &self,
        id: &str,
        old_key: Option<&str>,
        outcome: UploadOutcome<'_>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Moves a version's backing data from `from` to `to` (soft-delete, restore, permanent
    /// deletion). False if the version was not in `from`, is its workspace's current
    /// configuration, or an unfinished run uses it.
    async fn transition_configuration_version(
        &self,
        id: &str,
        from: ConfigurationStatus,
        to: ConfigurationStatus,
    ) -> StorageResult<bool>;
    /// Soft-deletes the backing data of the workspace's uploaded versions created before
    /// `cutoff`, except its current one and those unfinished runs use; returns how many.
    async fn soft_delete_configurations_before(
        &self,
        workspace_id: &str,
        cutoff: DateTime<Utc>,
    ) -> StorageResult<u64>;
}

/// The data retention policies a workspace is subject to, for the sweep.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RetentionSubject {
    pub workspace_id: String,
    pub organization_kind: Option<DataRetentionKind>,
    pub organization_days: Option<i64>,
    pub workspace_kind: Option<DataRetentionKind>,
    pub workspace_days: Option<i64>,
}

#[async_trait]
pub trait DataRetentionStore {
    /// The policies of these owners (organization or workspace IDs) that have one.
    async fn data_retention_policies(
        &self,
        owner_ids: &[String],
    ) -> StorageResult<Vec<DataRetentionPolicy>>;
    /// Sets the owner's policy (the workspace's when `workspace_id` is set, else the
    /// organization's). An existing policy of the same kind keeps its ID; returns the stored
    /// policy.
    async fn set_data_retention_policy(
        &self,
        policy: &DataRetentionPolicy,
    ) -> StorageResult<DataRetentionPolicy>;
    /// Removes the owner's policy; false if it had none.
    async fn delete_data_retention_policy(&self, owner_id: &str) -> StorageResult<bool>;
    /// Every workspace under a policy of its own or of its organization.
    async fn retention_subjects(&self) -> StorageResult<Vec<RetentionSubject>>;
}

/// Who owns a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableOwner {
    Workspace(String),
    VariableSet(String),
}

#[async_trait]
pub trait VariableStore {
    /// Fails with a conflict when the owner has a variable of that key and category.
    async fn create_variable(&self, variable: &Variable) -> StorageResult<()>;
    async fn variable_by_id(&self, id: &str) -> StorageResult<Option<Variable>>;
    /// The owner's variables, by key.
    async fn list_variables(&self, owner: &VariableOwner) -> StorageResult<Vec<Variable>>;
    /// Variables of several sets at once.
    async fn variables_of_sets(&self, set_ids: &[String]) -> StorageResult<Vec<Variable>>;
    async fn update_variable(&self, variable: &Variable) -> StorageResult<()>;
    async fn delete_variable(&self, id: &str) -> StorageResult<bool>;

    async fn create_variable_set(&self, set: &VariableSet) -> StorageResult<()>;
    async fn variable_set_by_id(&self, id: &str) -> StorageResult<Option<VariableSet>>;
    async fn list_variable_sets(
        &self,
        org_id: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<VariableSet>>;
    async fn update_variable_set(&self, set: &VariableSet) -> StorageResult<()>;
    async fn delete_variable_set(&self, id: &str) -> StorageResult<bool>;
    /// Attaches the set to workspaces and projects (already attached ones stay).
    async fn attach_variable_set(
        &self,
        id: &str,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> StorageResult<()>;
    async fn detach_variable_set(
        &self,
        id: &str,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> StorageResult<()>;
    /// The workspaces and projects the set is attached to.
    async fn variable_set_targets(&self, id: &str) -> StorageResult<(Vec<String>, Vec<String>)>;
    /// The sets that apply to a workspace: global ones of its organization, those attached to
    /// it, and those attached to its project; a project's own set only while the workspace is
    /// in that project.
    async fn variable_sets_for_workspace(
        &self,
        org_id: &str,
        workspace_id: &str,
        project_id: &str,
    ) -> StorageResult<Vec<VariableSet>>;
    /// The sets that apply to a project: global ones of its organization, those attached
    /// to it, and those it owns.
    async fn variable_sets_for_project(
        &self,
        org_id: &str,
        project_id: &str,
    ) -> StorageResult<Vec<VariableSet>>;
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workspace_id: Option<String>,
    pub organization_id: Option<String>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<RunStatus>,
    /// Only runs doing one of these; when empty, every operation but plan-only (lists hide
    /// speculative runs unless asked, as HCP Terraform does).
    pub operations: Vec<RunOperation>,
    /// Only runs of workspaces these teams were given access to (`None`: all).
    pub visible_to_teams: Option<Vec<String>>,
    /// Created at or after / before (`filter[from]`, `filter[to]` of the admin list).
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// The run's ID, or a case-insensitive substring of its workspace's name (admin `q`).
    pub query: Option<String>,
    /// Only runs from these sources (`tfe-api`, `terraform+cloud`, ...; all when empty).
    pub sources: Vec<String>,
    /// Only runs created by the user of this username (`search[user]`, any case).
    pub user: Option<String>,
    /// Only runs of this commit (`search[commit]`): runs here come from no VCS and have no
    /// commit, so a commit matches none.
    pub commit: Option<String>,
    /// Runs whose ID is this, or whose message or creator's username contains it (any case;
    /// `search[basic]`).
    pub basic: Option<String>,
}

#[async_trait]
pub trait RunStore {
    /// Inserts a run with its plan, its apply and its first event.
    async fn create_run(
        &self,
        run: &Run,
        plan: &RunPhase,
        apply: &RunPhase,
        event: &RunEvent,
    ) -> StorageResult<()>;
    async fn run_by_id(&self, id: &str) -> StorageResult<Option<Run>>;
    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter, page: PageRequest) -> StorageResult<Page<Run>>;
    /// How many runs of the whole installation are in each status (those with any).
    async fn run_counts_by_status(&self) -> StorageResult<Vec<(String, i64)>>;
    /// Writes the run's mutable fields if its status is still `expected` (compare and set);
    /// false if someone changed it first.
    async fn update_run_if(&self, run: &Run, expected: RunStatus) -> StorageResult<bool>;
    /// Runs of a workspace that wait for their turn: pending or confirmed ones that are not
    /// the current run, oldest first.
    async fn waiting_runs(&self, workspace_id: &str) -> StorageResult<Vec<Run>>;
    /// Non-final runs of a workspace (for deletion and saved-plan housekeeping).
    async fn active_runs(&self, workspace_id: &str) -> StorageResult<Vec<Run>>;

    async fn phase_by_id(&self, id: &str) -> StorageResult<Option<RunPhase>>;
    /// The phases of the runs `run_ids` (a page of runs reads them at once).
    async fn phases_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<RunPhase>>;
    async fn phases_of_run(&self, run_id: &str) -> StorageResult<Vec<RunPhase>> {
        self.phases_of_runs(&[run_id.to_string()]).await
    }
    /// Compare and set on the phase's status, as for runs.
    async fn update_phase_if(&self, phase: &RunPhase, expected: PhaseStatus)
        -> StorageResult<bool>;

    async fn add_run_event(&self, event: &RunEvent) -> StorageResult<()>;
    async fn run_events(&self, run_id: &str) -> StorageResult<Vec<RunEvent>>;
    async fn run_event_by_id(&self, id: &str) -> StorageResult<Option<RunEvent>>;
    /// Adds a comment with the event that records it.
    async fn add_run_comment(&self, comment: &RunComment, event: &RunEvent) -> StorageResult<()>;
    async fn run_comment_by_id(&self, id: &str) -> StorageResult<Option<RunComment>>;
    /// The comments of the runs `run_ids`, oldest first.
    async fn comments_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<RunComment>>;
    /// A run's comments, oldest first.
    async fn run_comments(&self, run_id: &str) -> StorageResult<Vec<RunComment>> {
        self.comments_of_runs(&[run_id.to_string()]).await
    }

    /// Makes `run_id` the run holding the workspace (or clears it); a run that takes the
    /// workspace also becomes its latest run, which clearing keeps.
    async fn set_current_run(&self, workspace_id: &str, run_id: Option<&str>) -> StorageResult<()>;
}

#[async_trait]
pub trait JobStore {
    /// Claims the oldest queued job of the pool for the listener, atomically: two listeners
    /// never get the same job.
    async fn claim_job(
        &self,
        pool_id: Option<&str>,
        listener_id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<Option<RunPhase>>;
    /// Records that the listener's runners are alive.
    async fn heartbeat_jobs(
        &self,
        listener_id: &str,
        job_ids: &[String],
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Records that a running job's runner is alive (it polled without log to send).
    async fn touch_job(&self, job_id: &str, at: DateTime<Utc>) -> StorageResult<()>;
    /// Running jobs whose last sign of life is older than `before`.
    async fn stale_jobs(&self, before: DateTime<Utc>) -> StorageResult<Vec<RunPhase>>;
    /// Jobs of the listener that must stop.
    async fn canceled_jobs(&self, listener_id: &str) -> StorageResult<Vec<RunPhase>>;
    /// Jobs no listener has claimed, queued before `before`, oldest first (at most `limit`).
    async fn waiting_jobs(&self, before: DateTime<Utc>, limit: i64)
        -> StorageResult<Vec<RunPhase>>;
    /// Appends to the log of a job that is still queued (why it waits); false, appending
    /// nothing, once it was claimed: from then on only its runner writes there.
    async fn append_waiting_log(
        &self,
        phase_id: &str,
        len: i64,
        ciphertext: &str,
    ) -> StorageResult<bool>;
    /// Appends to a job's log if `offset` is where the log ends; true when appended, false
    /// when that part was appended before (a retry). Fails with a conflict on a gap.
    async fn append_log(
        &self,
        phase_id: &str,
        offset: i64,
        len: i64,
        ciphertext: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// The log's chunks from `offset` on: (offset, encrypted data).
    async fn log_chunks(&self, phase_id: &str, from: i64) -> StorageResult<Vec<(i64, String)>>;
    /// Drops the chunks once the log is in the blob store.
    async fn mark_log_archived(&self, phase_id: &str) -> StorageResult<()>;

    async fn upsert_listener(&self, listener: &Listener) -> StorageResult<()>;
    async fn listener_by_id(&self, id: &str) -> StorageResult<Option<Listener>>;
    async fn list_listeners(&self, pool_id: Option<&str>) -> StorageResult<Vec<Listener>>;
    async fn delete_listener(&self, id: &str) -> StorageResult<()>;
    /// Forgets listeners silent since `before`; returns how many.
    async fn delete_stale_listeners(&self, before: DateTime<Utc>) -> StorageResult<u64>;
}

#[async_trait]
pub trait AgentPoolStore {
    /// Creates the pool with its scope. Fails with a conflict when the organization has a pool
    /// of that name.
    async fn create_agent_pool(
        &self,
        pool: &AgentPool,
        scope: &AgentPoolScope,
    ) -> StorageResult<()>;
    async fn agent_pool_by_id(&self, id: &str) -> StorageResult<Option<AgentPool>>;
    /// An organization's pools in `sort` order; `query` is a case-insensitive substring of
    /// the name.
    async fn list_agent_pools(
        &self,
        org_id: &str,
        query: Option<&str>,
        sort: AgentPoolSort,
        page: PageRequest,
    ) -> StorageResult<Page<AgentPool>>;
    /// Writes name and organization scope, and replaces the rest of the scope when given.
    async fn update_agent_pool(
        &self,
        pool: &AgentPool,
        scope: Option<&AgentPoolScope>,
    ) -> StorageResult<()>;
    /// Deletes the pool with its agent tokens and forgets its listeners, unless a workspace,
    /// a project's or its organization's default uses it, or a job is queued for (or running
    /// on) it; false (nothing deleted) then.
    async fn delete_agent_pool(&self, id: &str) -> StorageResult<bool>;
    /// The pool's allowed workspaces and projects and its excluded workspaces, by ID.
    async fn agent_pool_scope(&self, pool_id: &str) -> StorageResult<AgentPoolScope>;
    /// IDs of the workspaces that run on the pool.
    async fn agent_pool_workspaces(&self, pool_id: &str) -> StorageResult<Vec<String>>;
    /// The projects whose default agent pool it is.
    async fn agent_pool_projects(&self, pool_id: &str) -> StorageResult<Vec<Project>>;
    /// How many jobs each of the listeners runs now.
    async fn running_jobs_by_listener(
        &self,
        listener_ids: &[String],
    ) -> StorageResult<HashMap<String, u64>>;
}

#[async_trait]
pub trait AccessStore {
    /// Fails with a conflict when the team already has access to the workspace.
    async fn create_team_workspace(&self, tw: &TeamWorkspace) -> StorageResult<()>;
    async fn team_workspace_by_id(&self, id: &str) -> StorageResult<Option<TeamWorkspace>>;
    async fn list_team_workspaces(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<TeamWorkspace>>;
    /// Writes access and grants.
    async fn update_team_workspace(&self, tw: &TeamWorkspace) -> StorageResult<()>;
    async fn delete_team_workspace(&self, id: &str) -> StorageResult<bool>;

    /// Fails with a conflict when the team already has access to the project.
    async fn create_team_project(&self, tp: &TeamProject) -> StorageResult<()>;
    async fn team_project_by_id(&self, id: &str) -> StorageResult<Option<TeamProject>>;
    async fn list_team_projects(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<TeamProject>>;
    async fn update_team_project(&self, tp: &TeamProject) -> StorageResult<()>;
    async fn delete_team_project(&self, id: &str) -> StorageResult<bool>;

    /// What the teams hold on each of the workspaces, given as (workspace ID, its project ID):
    /// by workspace ID, their own grants on it and those on its project (every workspace
    /// asked about has an entry). Two statements for any number of workspaces.
    async fn workspace_grants(
        &self,
        team_ids: &[String],
        workspaces: &[(String, String)],
    ) -> StorageResult<HashMap<String, (Vec<WorkspaceGrant>, Vec<ProjectAccess>)>>;
    /// What the teams hold on a project.
    async fn project_grants(
        &self,
        team_ids: &[String],
        project_id: &str,
    ) -> StorageResult<Vec<ProjectAccess>>;
}

/// The most audit events appended in one statement: 15 values each, well under the 32,766
/// parameters SQLite and the 65,535 PostgreSQL take.
pub const MAX_AUDIT_BATCH: usize = 256;

/// The audit trail: appended, listed oldest first, and purged past its retention.
#[async_trait]
pub trait AuditStore {
    /// Appends the events in one statement (at most [`MAX_AUDIT_BATCH`] of them).
    async fn append_audit_events(&self, events: &[AuditEvent]) -> StorageResult<()>;
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StorageResult<Page<AuditEvent>>;
    /// Deletes events that occurred before `cutoff`; returns how many.
    async fn purge_audit_events(&self, cutoff: DateTime<Utc>) -> StorageResult<u64>;
}

#[derive(Debug, Clone, Default)]
pub struct TeamFilter {
    /// Exact names (`filter[names]`).
    pub names: Vec<String>,
    /// Case-insensitive substring of the name (`q`).
    pub query: Option<String>,
    /// `None`: every team; otherwise only teams of `organization` visibility and these
    /// (the caller's own, which it sees even when secret).
    pub secret_visible: Option<Vec<String>>,
}

#[async_trait]
pub trait TeamStore {
    /// Fails with a conflict when the organization has a team of that name.
    async fn create_team(&self, team: &Team) -> StorageResult<()>;
    async fn team_by_id(&self, id: &str) -> StorageResult<Option<Team>>;
    /// An organization's teams by name.
    async fn list_teams(
        &self,
        org_id: &str,
        filter: &TeamFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Team>>;
    /// Writes name, visibility, organization access, SSO team and token management.
    async fn update_team(&self, team: &Team) -> StorageResult<()>;
    /// Deletes a team that is not the owners team, with its team token; false if nothing
    /// was deleted.
    async fn delete_team(&self, id: &str) -> StorageResult<bool>;
    /// Puts memberships of the team's organization on the team (others are ignored).
    async fn add_team_memberships(
        &self,
        team_id: &str,
        membership_ids: &[String],
    ) -> StorageResult<()>;
    /// Takes memberships off the team; with `keep_one`, does nothing and answers false when
    /// that would leave the team without an active member (the owners team).
    async fn remove_team_memberships(
        &self,
        team_id: &str,
        membership_ids: &[String],
        keep_one: bool,
    ) -> StorageResult<bool>;
    /// The team's memberships, by email.
    async fn team_memberships(&self, team_id: &str) -> StorageResult<Vec<OrganizationMembership>>;
    /// The users of the team's active memberships, by username.
    async fn team_users(&self, team_id: &str) -> StorageResult<Vec<User>>;
}

#[derive(Debug, Clone, Default)]
pub struct MembershipFilter {
    /// Case-insensitive substring of the email or the username (`q`).
    pub query: Option<String>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<MembershipStatus>,
    /// Only these emails, any case (all when empty; `filter[email]`).
    pub emails: Vec<String>,
}

#[async_trait]
pub trait MembershipStore {
    /// Creates the membership on the given teams of its organization. Fails with a conflict
    /// when the user is already a member.
    async fn create_membership(
        &self,
        membership: &OrganizationMembership,
        team_ids: &[String],
    ) -> StorageResult<()>;
    async fn membership_by_id(&self, id: &str) -> StorageResult<Option<OrganizationMembership>>;
    /// The organization's membership of the user, or its invitation of the email
    /// (case-insensitive).
    async fn membership_for(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        email: &str,
    ) -> StorageResult<Option<OrganizationMembership>>;
    /// An organization's memberships, by email.
    async fn list_memberships(
        &self,
        org_id: &str,
        filter: &MembershipFilter,
        page: PageRequest,
    ) -> StorageResult<Page<OrganizationMembership>>;
    /// The user's memberships in every organization.
    async fn user_memberships(&self, user_id: &str) -> StorageResult<Vec<OrganizationMembership>>;
    /// Deletes the membership (taking it off its teams), unless it is the last active one on
    /// its organization's owners team: false then, nothing deleted.
    async fn delete_membership(&self, id: &str) -> StorageResult<bool>;
    /// The teams the membership is on, by name.
    async fn membership_teams(&self, membership_id: &str) -> StorageResult<Vec<Team>>;
    /// Users whose email is `email` (case-insensitive).
    async fn users_with_email(&self, email: &str) -> StorageResult<Vec<User>>;
    /// Whether some organization invited `email` (case-insensitive) and waits for it.
    async fn email_invited(&self, email: &str) -> StorageResult<bool>;
    /// Makes the invitations of `email` (one per organization) the user's active
    /// memberships; returns how many.
    async fn accept_invitations(&self, user_id: &str, email: &str) -> StorageResult<u64>;
}

#[async_trait]
pub trait SsoStore {
    async fn create_sso_request(&self, request: &SsoRequest) -> StorageResult<()>;
    /// Takes (deletes) the sign-in in progress: of two callbacks with one state, one finds it.
    async fn take_sso_request(&self, state_hash: &str) -> StorageResult<Option<SsoRequest>>;
    /// The user an identity provider's subject was linked to.
    async fn identity_user(&self, issuer: &str, subject: &str) -> StorageResult<Option<User>>;
    /// Links (issuer, subject) to a user; a conflict when it is linked already.
    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// Every team, in every organization, mapped to an identity provider's group.
    async fn sso_teams(&self) -> StorageResult<Vec<Team>>;
    /// Records that an identity provider's assertion was used (kept until `expires_at`):
    /// false when it was used already (a replay), on any replica.
    async fn use_saml_assertion(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// The organization's own single sign-on, if it has one.
    async fn sso_configuration(
        &self,
        organization_id: &str,
    ) -> StorageResult<Option<SsoConfiguration>>;
    /// Creates or replaces the organization's single sign-on.
    async fn put_sso_configuration(&self, config: &SsoConfiguration) -> StorageResult<()>;
    /// Deletes it; false when there was none.
    async fn delete_sso_configuration(&self, organization_id: &str) -> StorageResult<bool>;
    /// The organizations whose teams follow the site provider's groups: vouched for by a site
    /// administrator (`follows_site_sso_groups`) and without an enabled provider of their own.
    async fn site_sso_organizations(&self) -> StorageResult<Vec<String>>;
}

/// Which users a site administrator lists (`GET /admin/users`).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the username or the email (`q`).
    pub query: Option<String>,
    /// Only site administrators, or only the others (`filter[admin]`).
    pub admin: Option<bool>,
    /// Only suspended users, or only the others (`filter[suspended]`).
    pub suspended: Option<bool>,
}

/// What [`SiteAdminStore::delete_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserDeletion {
    Deleted,
    NotFound,
    /// Nothing deleted: the user is the only owner of these organizations (names, sorted).
    SoleOwner(Vec<String>),
}

/// What site administrators do across organizations: users' standing on the server, and
/// every organization at once.
#[async_trait]
pub trait SiteAdminStore {
    /// Users by username.
    async fn list_users(&self, filter: &UserFilter, page: PageRequest)
        -> StorageResult<Page<User>>;
    /// Makes the user a site administrator or not. Revoking never takes the last site
    /// administrator: false (nothing changed) then, and when there is no such user.
    async fn set_site_admin(&self, user_id: &str, admin: bool) -> StorageResult<bool>;
    /// Suspends the user since `at`, or lifts the suspension (`None`); false when there is no
    /// such user.
    async fn set_suspended(&self, user_id: &str, at: Option<DateTime<Utc>>) -> StorageResult<bool>;
    /// Organizations (names, sorted) whose owners team has no other active member than the
    /// user.
    async fn sole_owned_organizations(&self, user_id: &str) -> StorageResult<Vec<String>>;
    /// Deletes the user with their memberships, sessions and user tokens, in one transaction,
    /// unless they are the sole owner of an organization.
    async fn delete_user(&self, user_id: &str) -> StorageResult<UserDeletion>;
    /// Organizations by name; `query` is a case-insensitive substring of the name or email.
    async fn search_organizations(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<Organization>>;
    /// The organizations each user is an active member of, by name (users without any are
    /// left out).
    async fn organizations_of_users(
        &self,
        user_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<Organization>>>;
    /// The active members of each organization's owners team, by username.
    async fn owners_of_organizations(
        &self,
        org_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<User>>>;
    /// Workspaces of every organization (`GET /admin/workspaces`).
    async fn search_workspaces(
        &self,
        filter: &AdminWorkspaceFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>>;
    /// A site setting's stored value; `None` when an administrator never set it.
    async fn site_setting(&self, name: &str) -> StorageResult<Option<String>>;
    /// Stores a site setting, replacing any earlier value.
    async fn set_site_setting(
        &self,
        name: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
    /// The SMTP settings (a JSON record) and the sealed password; `None` when never set.
    async fn smtp_settings(&self) -> StorageResult<Option<(String, Option<String>)>>;
    /// Stores the SMTP settings and sealed password, replacing any earlier ones.
    async fn set_smtp_settings(
        &self,
        settings: &str,
        password_ciphertext: Option<&str>,
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
}

/// Which workspaces a site administrator lists, in what order.
#[derive(Debug, Clone, Default)]
pub struct AdminWorkspaceFilter {
    /// Case-insensitive substring of the name (`q`).
    pub query: Option<String>,
    /// Only workspaces whose current run has this status (`filter[current_run][status]`).
    pub current_run_status: Option<String>,
    pub order: WorkspaceOrder,
}

/// `sort` of workspace lists; `descending` with a `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceOrder {
    Name {
        descending: bool,
    },
    /// When the current run was created; workspaces without a run come last either way.
    CurrentRunCreatedAt {
        descending: bool,
    },
}

impl Default for WorkspaceOrder {
    /// The most recently active first: what a site administrator looks for.
    fn default() -> Self {
        WorkspaceOrder::CurrentRunCreatedAt { descending: true }
    }
}

/// Which catalogue entries an admin lists.
#[derive(Debug, Clone, Default)]
pub struct ToolVersionFilter {
    /// Exactly this version (`filter[version]`).
    pub version: Option<String>,
    /// Versions containing this text (`search[version]`).
    pub search: Option<String>,
}

/// The site's catalogue of tool versions, one list per engine.
#[async_trait]
pub trait ToolVersionStore {
    /// Creates the entry; a conflict when its engine has that version already.
    async fn create_tool_version(&self, version: &ToolVersion) -> StorageResult<()>;
    async fn tool_version_by_id(&self, id: &str) -> StorageResult<Option<ToolVersion>>;
    /// The engine's entries matching `filter`, newest first.
    async fn list_tool_versions(
        &self,
        engine: Engine,
        filter: &ToolVersionFilter,
        page: PageRequest,
    ) -> StorageResult<Page<ToolVersion>>;
    /// Every entry of the engine (for resolving a workspace's version).
    async fn all_tool_versions(&self, engine: Engine) -> StorageResult<Vec<ToolVersion>>;
    /// Replaces the entry's attributes; a conflict when the new version exists already.
    async fn update_tool_version(&self, version: &ToolVersion) -> StorageResult<()>;
    async fn delete_tool_version(&self, id: &str) -> StorageResult<bool>;
    /// How many workspaces of the engine ask for exactly `version`.
    async fn tool_version_usage(&self, engine: Engine, version: &str) -> StorageResult<u64>;
}

/// The binary cache: verified release archives, one per engine, version and platform.
#[async_trait]
pub trait ToolArchiveStore {
    /// Records an archive; a `Conflict` when that engine, version and platform has one.
    async fn create_tool_archive(&self, archive: &ToolArchive) -> StorageResult<()>;
    async fn tool_archive(
        &self,
        engine: Engine,
        version: &str,
        os: &str,
        arch: &str,
    ) -> StorageResult<Option<ToolArchive>>;
    async fn tool_archive_by_id(&self, id: &str) -> StorageResult<Option<ToolArchive>>;
    /// Every archive, by engine, then version and platform.
    async fn list_tool_archives(&self, page: PageRequest) -> StorageResult<Page<ToolArchive>>;
    async fn delete_tool_archive(&self, id: &str) -> StorageResult<bool>;
}

/// The private provider registry: GPG keys, providers, versions and platforms.
#[async_trait]
pub trait ProviderRegistryStore {
    /// Inserts a key; one the organization already has (same key ID) is a `Conflict`.
    async fn create_gpg_key(&self, key: &GpgKey) -> StorageResult<()>;
    async fn gpg_key(&self, org_id: &str, key_id: &str) -> StorageResult<Option<GpgKey>>;
    async fn gpg_key_by_id(&self, id: &str) -> StorageResult<Option<GpgKey>>;
    /// The keys of the given organizations, oldest first.
    async fn list_gpg_keys(
        &self,
        org_ids: &[String],
        page: PageRequest,
    ) -> StorageResult<Page<GpgKey>>;
    /// Moves a key to another organization; a `Conflict` when that one has it already.
    async fn move_gpg_key(&self, id: &str, org_id: &str, now: DateTime<Utc>) -> StorageResult<()>;
    async fn delete_gpg_key(&self, id: &str) -> StorageResult<()>;

    /// Inserts a provider; a name the organization already has is a `Conflict`.
    async fn create_registry_provider(&self, provider: &RegistryProvider) -> StorageResult<()>;
    async fn registry_provider(
        &self,
        org_id: &str,
        name: &str,
    ) -> StorageResult<Option<RegistryProvider>>;
    async fn registry_provider_by_id(&self, id: &str) -> StorageResult<Option<RegistryProvider>>;
    /// The organization's providers by name, those whose name contains `query` (any case).
    async fn list_registry_providers(
        &self,
        org_id: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<RegistryProvider>>;
    /// Deletes the provider with its versions and platforms.
    async fn delete_registry_provider(&self, id: &str) -> StorageResult<()>;

    /// Inserts a version; a version number the provider has already is a `Conflict`.
    async fn create_provider_version(&self, version: &ProviderVersion) -> StorageResult<()>;
    async fn provider_version(
        &self,
        provider_id: &str,
        version: &str,
    ) -> StorageResult<Option<ProviderVersion>>;
    async fn provider_version_by_id(&self, id: &str) -> StorageResult<Option<ProviderVersion>>;
    /// The provider's versions, oldest first.
    async fn list_provider_versions(
        &self,
        provider_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ProviderVersion>>;
    async fn delete_provider_version(&self, id: &str) -> StorageResult<()>;
    /// Records SHA256SUMS, only while no signature is recorded (false otherwise).
    async fn set_provider_shasums(
        &self,
        version_id: &str,
        shasums: &str,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Records the verified signature of exactly `shasums`, only while none is recorded and
    /// SHA256SUMS is still `shasums` (false otherwise).
    async fn set_provider_shasums_signature(
        &self,
        version_id: &str,
        shasums: &str,
        signature: &[u8],
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;

    /// Inserts a platform; an (os, arch) the version has already is a `Conflict`.
    async fn create_provider_platform(&self, platform: &ProviderPlatform) -> StorageResult<()>;
    async fn provider_platform(
        &self,
        version_id: &str,
        os: &str,
        arch: &str,
    ) -> StorageResult<Option<ProviderPlatform>>;
    async fn provider_platform_by_id(&self, id: &str) -> StorageResult<Option<ProviderPlatform>>;
    /// The version's platforms by os and arch.
    async fn list_provider_platforms(
        &self,
        version_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ProviderPlatform>>;
    async fn delete_provider_platform(&self, id: &str) -> StorageResult<()>;
    /// Records the blob of a verified binary, only while none is (false otherwise).
    async fn finish_provider_binary(
        &self,
        platform_id: &str,
        binary_key: &str,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
}

/// The provider mirror's cache of other registries' archives.
#[async_trait]
pub trait ProviderMirrorStore {
    /// Records archives the upstream's signed SHA256SUMS named; ones recorded already (same
    /// provider, version and platform) are left as they are.
    async fn record_mirror_archives(&self, archives: &[MirrorArchive]) -> StorageResult<()>;
    /// A version's recorded archives, by os and arch.
    async fn mirror_archives(
        &self,
        hostname: &str,
        namespace: &str,
        kind: &str,
        version: &str,
    ) -> StorageResult<Vec<MirrorArchive>>;
    async fn mirror_archive_by_id(&self, id: &str) -> StorageResult<Option<MirrorArchive>>;
    /// The versions of a provider with at least one archive in the cache.
    async fn mirror_cached_versions(
        &self,
        hostname: &str,
        namespace: &str,
        kind: &str,
    ) -> StorageResult<Vec<String>>;
    /// Records the blob of a fetched, verified archive, only while none is (false otherwise).
    async fn finish_mirror_archive(
        &self,
        id: &str,
        blob_key: &str,
        size: i64,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
}

/// Which modules a registry list shows.
#[derive(Debug, Clone, Default)]
pub struct RegistryModuleFilter {
    /// Case-insensitive substring of the name (`q`).
    pub query: Option<String>,
    pub provider: Option<String>,
}

#[async_trait]
pub trait RegistryModuleStore {
    async fn create_registry_module(&self, module: &RegistryModule) -> StorageResult<()>;
    async fn registry_module_by_id(&self, id: &str) -> StorageResult<Option<RegistryModule>>;
    async fn registry_module(
        &self,
        org_id: &str,
        name: &str,
        provider: &str,
    ) -> StorageResult<Option<RegistryModule>>;
    /// By name, then provider.
    async fn list_registry_modules(
        &self,
        org_id: &str,
        filter: &RegistryModuleFilter,
        page: PageRequest,
    ) -> StorageResult<Page<RegistryModule>>;
    /// Deletes the modules of that name (of one provider, or of all) with their versions;
    /// returns the blobs of their tarballs, or `None` when there was no such module.
    async fn delete_registry_modules(
        &self,
        org_id: &str,
        name: &str,
        provider: Option<&str>,
    ) -> StorageResult<Option<Vec<String>>>;
    /// A conflict when the module has that version already.
    async fn create_module_version(&self, version: &RegistryModuleVersion) -> StorageResult<()>;
    async fn module_version_by_id(&self, id: &str) -> StorageResult<Option<RegistryModuleVersion>>;
    /// The versions of each module, oldest first (one query for a whole page of modules).
    async fn module_versions(
        &self,
        module_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<RegistryModuleVersion>>>;
    /// Records the uploaded tarball of a pending version: false if it is no longer pending
    /// (another upload won).
    async fn finish_module_version_upload(
        &self,
        id: &str,
        tarball_key: &str,
        size: i64,
        at: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Deletes one version; returns its tarball's blob (`Some(None)`: it had none), or
    /// `None` when there was no such version.
    async fn delete_module_version(
        &self,
        module_id: &str,
        version: &str,
    ) -> StorageResult<Option<Option<String>>>;
}

/// Which run triggers of a workspace: those it is the target of, or the source of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTriggerDirection {
    /// The workspace is the target (`workspace`): its sources.
    Inbound,
    /// The workspace is the source (`sourceable`): its targets.
    Outbound,
}

#[async_trait]
pub trait RunTriggerStore {
    /// Stores the trigger unless its target already has `max_sources` triggers (false then),
    /// in one transaction that holds the target's row, so concurrent creations cannot pass
    /// the limit together. The same pair twice is a `Conflict`.
    async fn create_run_trigger(
        &self,
        trigger: &RunTrigger,
        max_sources: u64,
    ) -> StorageResult<bool>;
    async fn run_trigger_by_id(&self, id: &str) -> StorageResult<Option<RunTrigger>>;
    /// A workspace's triggers in one direction, oldest first.
    async fn list_run_triggers(
        &self,
        workspace_id: &str,
        direction: RunTriggerDirection,
    ) -> StorageResult<Vec<RunTrigger>>;
    async fn delete_run_trigger(&self, id: &str) -> StorageResult<bool>;
}

/// Remote state sharing: the workspaces whose runs may read a workspace's state (HCP
/// Terraform's `remote-state-consumers`), both of one organization.
#[async_trait]
pub trait RemoteStateConsumerStore {
    /// A workspace's consumers, oldest first.
    async fn list_remote_state_consumers(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>>;
    /// The other workspaces of a workspace's project, by name: its consumers while it shares
    /// its state with its project (`project-remote-state`).
    async fn list_project_neighbours(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>>;
    /// Adds the consumers (those already there stay), or with `replace` makes them the only
    /// ones, in one transaction.
    async fn add_remote_state_consumers(
        &self,
        workspace_id: &str,
        consumer_ids: &[String],
        replace: bool,
        at: DateTime<Utc>,
    ) -> StorageResult<()>;
    async fn remove_remote_state_consumers(
        &self,
        workspace_id: &str,
        consumer_ids: &[String],
    ) -> StorageResult<()>;
    async fn is_remote_state_consumer(
        &self,
        workspace_id: &str,
        consumer_id: &str,
    ) -> StorageResult<bool>;
}

#[async_trait]
pub trait RunTaskStore {
    /// Stores the task; a second task of the same name in its organization is a `Conflict`.
    async fn create_run_task(&self, task: &RunTask) -> StorageResult<()>;
    async fn run_task_by_id(&self, id: &str) -> StorageResult<Option<RunTask>>;
    /// An organization's tasks, oldest first.
    async fn list_run_tasks(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<RunTask>>;
    /// Writes every attribute but the organization (false: no such task).
    async fn update_run_task(&self, task: &RunTask) -> StorageResult<bool>;
    /// Deletes the task and its attachments to workspaces (false: no such task).
    async fn delete_run_task(&self, id: &str) -> StorageResult<bool>;
    /// Attaches a task to a workspace; the same task twice is a `Conflict`.
    async fn create_workspace_run_task(&self, attachment: &WorkspaceRunTask) -> StorageResult<()>;
    async fn workspace_run_task_by_id(&self, id: &str) -> StorageResult<Option<WorkspaceRunTask>>;
    /// A workspace's attached tasks, oldest first.
    async fn list_workspace_run_tasks(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<WorkspaceRunTask>>;
    /// Where a task is attached, oldest first.
    async fn run_task_attachments(&self, task_id: &str) -> StorageResult<Vec<WorkspaceRunTask>>;
    /// Writes enforcement level and stages (false: no such attachment).
    async fn update_workspace_run_task(&self, attachment: &WorkspaceRunTask)
        -> StorageResult<bool>;
    async fn delete_workspace_run_task(&self, id: &str) -> StorageResult<bool>;
    /// Every task attached to the workspace (enabled or not) with its attachment, oldest
    /// attachment first: what a run of the workspace calls.
    async fn attached_run_tasks(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Vec<(WorkspaceRunTask, RunTask)>>;
}

/// A run's task stages and results (see sql/task_stages.rs).
#[async_trait]
pub trait TaskStageStore {
    /// Stores a run's stages and their results in one transaction.
    async fn create_task_stages(
        &self,
        stages: &[TaskStage],
        results: &[TaskResult],
    ) -> StorageResult<()>;
    /// The stages of the runs `run_ids`, each run's in the order of the run.
    async fn task_stages_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<TaskStage>>;
    /// A run's stages, in the order of the run.
    async fn task_stages_of_run(&self, run_id: &str) -> StorageResult<Vec<TaskStage>> {
        self.task_stages_of_runs(&[run_id.to_string()]).await
    }
    async fn task_stage_by_id(&self, id: &str) -> StorageResult<Option<TaskStage>>;
    async fn task_results_of_stage(&self, stage_id: &str) -> StorageResult<Vec<TaskResult>>;
    async fn task_result_by_id(&self, id: &str) -> StorageResult<Option<TaskResult>>;
    /// Writes status and timestamps if the stage is still `expected`.
    async fn update_task_stage_if(
        &self,
        stage: &TaskStage,
        expected: TaskStageStatus,
    ) -> StorageResult<bool>;
    /// Writes everything but the request counter if the result is still `expected`.
    async fn update_task_result_if(
        &self,
        result: &TaskResult,
        expected: TaskResultStatus,
    ) -> StorageResult<bool>;
    /// Takes a pending result whose request is due, leasing it to `owner`.
    async fn claim_task_result_request(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StorageResult<Option<TaskResult>>;
    /// Ends a claimed request: sent (`retry_at` None) or due again. False: the lease was lost.
    async fn settle_task_result_request(
        &self,
        id: &str,
        owner: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
    /// Results neither passed nor failed by their deadline.
    async fn overdue_task_results(&self, now: DateTime<Utc>) -> StorageResult<Vec<TaskResult>>;
}

#[async_trait]
pub trait SshKeyStore {
    async fn create_ssh_key(&self, key: &SshKey) -> StorageResult<()>;
    async fn ssh_key_by_id(&self, id: &str) -> StorageResult<Option<SshKey>>;
    /// An organization's keys, oldest first.
    async fn list_ssh_keys(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<SshKey>>;
    /// Writes name and value (false: no such key).
    async fn update_ssh_key(&self, key: &SshKey) -> StorageResult<bool>;
    /// Deletes the key, unassigning it from its workspaces (false: no such key).
    async fn delete_ssh_key(&self, id: &str) -> StorageResult<bool>;
    /// Assigns `ssh_key_id` to the workspace, or unassigns with `None`.
    async fn set_workspace_ssh_key(
        &self,
        workspace_id: &str,
        ssh_key_id: Option<&str>,
    ) -> StorageResult<()>;
}

#[async_trait]
pub trait NotificationConfigurationStore {
    /// Stores the configuration unless its workspace has `max` already (false then).
    async fn create_notification_configuration(
        &self,
        config: &NotificationConfiguration,
        max: u64,
    ) -> StorageResult<bool>;
    async fn notification_configuration_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<NotificationConfiguration>>;
    /// A workspace's configurations, oldest first.
    async fn list_notification_configurations(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Vec<NotificationConfiguration>>;
    /// Writes every attribute but the delivery responses.
    async fn update_notification_configuration(
        &self,
        config: &NotificationConfiguration,
    ) -> StorageResult<bool>;
    async fn delete_notification_configuration(&self, id: &str) -> StorageResult<bool>;
    /// Appends a delivery response, keeping the last `keep`.
    async fn record_delivery_response(
        &self,
        id: &str,
        response: &serde_json::Value,
        keep: usize,
    ) -> StorageResult<()>;
    /// Takes the oldest due notification whose configuration has no older one undelivered
    /// (so each receiver gets them in order), leasing it to `owner` until `lease_until`.
    async fn claim_notification(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StorageResult<Option<OutboxNotification>>;
    /// Ends a claimed notification: delivered or given up (`outcome`), or (`retry_at`)
    /// due again later with one more attempt counted. False: the lease was lost.
    async fn settle_notification(
        &self,
        seq: i64,
        owner: &str,
        outcome: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool>;
}

/// Everything the server persists, behind one object.
pub trait Store:
    OrganizationStore
    + UserStore
    + TokenStore
    + ProjectStore
    + WorkspaceStore
    + TagStore
    + StateVersionStore
    + LoginStore
    + ConfigurationStore
    + VariableStore
    + RunStore
    + JobStore
    + AgentPoolStore
    + AccessStore
    + AuditStore
    + TeamStore
    + MembershipStore
    + SsoStore
    + SiteAdminStore
    + ToolVersionStore
    + ToolArchiveStore
    + DataRetentionStore
    + RegistryModuleStore
    + ProviderRegistryStore
    + ProviderMirrorStore
    + RunTriggerStore
    + NotificationConfigurationStore
    + SshKeyStore
    + RunTaskStore
    + TaskStageStore
    + RemoteStateConsumerStore
    + Send
    + Sync
{
    /// Cheap liveness check of the database (for `/readyz`).
    fn ping(&self) -> futures::future::BoxFuture<'_, StorageResult<()>>;
}
