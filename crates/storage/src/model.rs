//! The records Terrace keeps. Plain data: rules about them live in the domain crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
pub use terrace_auth::policy::{OrganizationAccess, ProjectAccess, WorkspaceGrant};

/// Declares a string-valued enum stored as TEXT, with `as_str`, `FromStr` and the sqlx codecs
/// for every database (so `Option<Enum>` columns work too).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "\"{other}\" is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name where String: sqlx::Type<DB> {
            fn type_info() -> DB::TypeInfo { <String as sqlx::Type<DB>>::type_info() }
            fn compatible(ty: &DB::TypeInfo) -> bool { <String as sqlx::Type<DB>>::compatible(ty) }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name where &'q str: sqlx::Encode<'q, DB> {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name where &'r str: sqlx::Decode<'r, DB> {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum!(
    /// Where a workspace's runs execute.
    ExecutionMode { Remote => "remote", Local => "local", Agent => "agent" }
);

text_enum!(
    /// What an API token stands for.
    TokenKind {
        User => "user",
        Team => "team",
        Organization => "organization",
        /// An organization's audit trail token: reads that audit trail, nothing else.
        AuditTrail => "audit-trail",
        /// A listener's: the owner is the agent pool (or `server` for the built-in listener).
        Agent => "agent",
        /// A runner's, for one job: the owner is the plan or apply.
        Job => "job",
        /// A run task service's, for one task result's callback: the owner is the result.
        TaskResult => "task-result",
    }
);

text_enum!(
    /// What a run does, as `filter[operation]` names it. Each run has one: the first of
    /// plan-only, saved plan, refresh-only, destroy, empty apply that applies to it, else
    /// plan and apply.
    RunOperation {
        PlanOnly => "plan_only",
        SavePlan => "save_plan",
        RefreshOnly => "refresh_only",
        Destroy => "destroy",
        EmptyApply => "empty_apply",
        PlanAndApply => "plan_and_apply",
    }
);

text_enum!(
    /// The tool a workspace's runs execute.
    Engine { Terraform => "terraform", Tofu => "tofu" }
);

text_enum!(
    /// Who holds a workspace lock.
    LockHolderKind { User => "users", Run => "runs", Team => "teams" }
);

text_enum!(
    /// Lifecycle of a state version: created `pending`, `finalized` once its state is uploaded
    /// and verified, `discarded` when superseded before that. A finalized version's state
    /// (its backing data) may then be soft-deleted (kept, but not served; restorable) and
    /// permanently deleted (gone).
    StateVersionStatus {
        Pending => "pending",
        Finalized => "finalized",
        Discarded => "discarded",
        BackingDataSoftDeleted => "backing_data_soft_deleted",
        BackingDataPermanentlyDeleted => "backing_data_permanently_deleted",
    }
);

/// A value kept as JSON in a text column (lists of trigger prefixes, resource summaries, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText<T>(pub T);

impl<T, DB: sqlx::Database> sqlx::Type<DB> for JsonText<T>
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'q, T: Serialize, DB: sqlx::Database> sqlx::Encode<'q, DB> for JsonText<T>
where
    String: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'q, DB>>::encode(serde_json::to_string(&self.0)?, buf)
    }
}

impl<'r, T: serde::de::DeserializeOwned, DB: sqlx::Database> sqlx::Decode<'r, DB> for JsonText<T>
where
    &'r str: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(JsonText(serde_json::from_str(text)?))
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub email: String,
    pub default_execution_mode: ExecutionMode,
    pub session_timeout: Option<i64>,
    pub session_remember: Option<i64>,
    pub collaborator_auth_policy: String,
    pub cost_estimation_enabled: bool,
    pub assessments_enforced: bool,
    pub allow_force_delete_workspaces: bool,
    /// The pool of workspaces that inherit the `agent` default execution mode.
    pub default_agent_pool_id: Option<String>,
    /// The site identity provider's groups fill this organization's teams: only for
    /// organizations a site administrator vouches for (docs/sso.md, "Groups and teams").
    pub follows_site_sso_groups: bool,
    /// Whether users' API tokens reach the organization (browser sessions always do).
    pub user_tokens_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The project new workspaces go to: read with the organization, never written from here
    /// (the project is created with the organization and cannot be deleted).
    #[sqlx(default)]
    pub default_project_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    /// argon2 PHC string; `None` for users who can only sign in through SSO.
    pub password_hash: Option<String>,
    pub is_site_admin: bool,
    pub created_at: DateTime<Utc>,
    /// When a site administrator suspended the user; `None` while they may sign in.
    pub suspended_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
}

text_enum!(
    /// Where a membership stands: `invited` until the user with that email exists and signs
    /// in, then `active`.
    MembershipStatus { Invited => "invited", Active => "active" }
);

/// A user's (or an invited email's) place in an organization.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrganizationMembership {
    pub id: String,
    pub organization_id: String,
    /// `None` while invited.
    pub user_id: Option<String>,
    pub email: String,
    pub status: MembershipStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Team {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    /// The owners team: everything in the organization, never empty, never deleted.
    pub is_owners: bool,
    /// `secret` (seen by its members and team managers) or `organization` (by every member).
    pub visibility: String,
    /// What the team may do across the organization.
    pub organization_access: JsonText<OrganizationAccess>,
    /// The identity provider's group mapped to this team.
    pub sso_team_id: Option<String>,
    pub allow_member_token_management: bool,
    pub created_at: DateTime<Utc>,
}

/// A team's access to one workspace (`team-workspaces`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamWorkspace {
    pub id: String,
    pub team_id: String,
    pub workspace_id: String,
    /// The level's name (`read` ... `admin`, `custom`).
    pub access: String,
    pub grants: JsonText<WorkspaceGrant>,
    pub created_at: DateTime<Utc>,
}

/// A team's access to one project and its workspaces (`team-projects`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamProject {
    pub id: String,
    pub team_id: String,
    pub project_id: String,
    /// The level's name (`read` ... `admin`, `custom`).
    pub access: String,
    pub grants: JsonText<ProjectAccess>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Token {
    pub id: String,
    pub kind: TokenKind,
    /// The user, team or organization the token acts as.
    pub owner_id: String,
    pub description: Option<String>,
    /// SHA-256 of the secret, hex. The secret itself is never stored.
    pub secret_hash: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// How the session this user token was made from signed in (see [`Session`]).
    pub signed_in_with: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Project {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    /// The execution mode of workspaces created in the project; `None` inherits the
    /// organization's default.
    pub default_execution_mode: Option<ExecutionMode>,
    /// Their agent pool, set only with the `agent` mode.
    pub default_agent_pool_id: Option<String>,
    /// How long its workspaces that inherit it may go without a state change before their
    /// resources are destroyed (`14d`, `24h`).
    pub auto_destroy_activity_duration: Option<String>,
}

/// Read by position (`from_row_by_position!` in `sql/`).
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// `None` inherits the organization's default execution mode.
    pub execution_mode: Option<ExecutionMode>,
    pub agent_pool_id: Option<String>,
    pub auto_apply: bool,
    pub allow_destroy_plan: bool,
    pub file_triggers_enabled: bool,
    pub global_remote_state: bool,
    /// Shares the state with the other workspaces of its project.
    pub project_remote_state: bool,
    pub queue_all_runs: bool,
    pub speculative_enabled: bool,
    pub structured_run_output_enabled: bool,
    pub assessments_enabled: bool,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
    pub terraform_version: String,
    /// terraform or tofu: which tool `terraform_version` names a version of.
    pub engine: Engine,
    pub trigger_prefixes: JsonText<Vec<String>>,
    pub trigger_patterns: JsonText<Vec<String>>,
    pub working_directory: String,
    /// A destroy run scheduled at this time (set by a user, cleared once queued).
    pub auto_destroy_at: Option<DateTime<Utc>>,
    /// Its own inactivity duration (`14d`, `24h`); used when it does not inherit its project's.
    pub auto_destroy_activity_duration: Option<String>,
    pub inherits_project_auto_destroy: bool,
    /// When the auto-destroy sweep last queued a destroy run; written only by that sweep.
    pub auto_destroy_queued_at: Option<DateTime<Utc>>,
    /// The project's inactivity duration; read, never written.
    pub project_auto_destroy_activity_duration: Option<String>,
    /// When the current state version was created (the last activity); read, never written.
    pub state_updated_at: Option<DateTime<Utc>>,
    /// Whether runs queued by run triggers apply without confirmation (none are, yet).
    pub auto_apply_run_trigger: bool,
    pub lock_kind: Option<LockHolderKind>,
    pub lock_holder_id: Option<String>,
    pub lock_reason: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    pub current_state_version_id: Option<String>,
    /// The run that holds the workspace (from the start of its plan to its end).
    pub current_run_id: Option<String>,
    /// The run that last took the workspace, kept after it ends: TFE's `current-run`.
    pub latest_run_id: Option<String>,
    /// Managed resources in the current state (0 without state); read from the state version.
    pub resource_count: i64,
    /// Runs the workspace has had (plan-only ones too); read, never written.
    pub runs_count: i64,
    /// The SSH key assigned to it (its runs' `git::ssh://` sources); read, written apart.
    pub ssh_key_id: Option<String>,
    /// Whether it set a data retention policy of its own (read with it, so that the policy
    /// itself is read only when there is one); read, written apart.
    pub has_retention_policy: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Workspace {
    pub fn lock_holder(&self) -> Option<LockHolder> {
        Some(LockHolder {
            kind: self.lock_kind?,
            id: self.lock_holder_id.clone()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub kind: LockHolderKind,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Tag {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// How many workspaces carry the tag (filled by listings).
    #[sqlx(default)]
    pub instance_count: i64,
}

/// A tag on a workspace. Key-only tags (the CLI's `tags = [...]`, the API's legacy tags) have
/// an empty value; key/value tags carry one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::FromRow)]
pub struct TagBinding {
    pub key: String,
    pub value: String,
}

/// A tag key an organization reserves (HCP Terraform's reserved tag keys). With
/// `disable_overrides`, a workspace may not bind the key to another value than its project's.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReservedTagKey {
    pub id: String,
    pub organization_id: String,
    pub key: String,
    pub disable_overrides: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StateVersion {
    pub id: String,
    pub workspace_id: String,
    pub serial: i64,
    pub lineage: Option<String>,
    pub md5: String,
    /// Size of the raw state in bytes, once uploaded.
    pub size: i64,
    pub status: StateVersionStatus,
    pub json_state_uploaded: bool,
    /// The Terraform version that wrote the state, read from it on upload.
    pub terraform_version: Option<String>,
    pub resource_count: i64,
    pub run_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The resource summaries of a workspace's current state (what the resource search reads).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CurrentResources {
    pub workspace_id: String,
    pub workspace_name: String,
    pub project_id: String,
    pub resources: JsonText<Vec<ResourceSummary>>,
}

/// One resource block of a state: what the state-version `resources` attribute lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSummary {
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `root` or the module address.
    pub module: String,
    pub provider: String,
    /// Number of instances.
    pub count: u64,
    /// Each instance's `index_key`, in state order (`None`: a block without `count` or
    /// `for_each`); shorter than `count` when a very large state exceeded what a scan keeps.
    /// `None` in summaries recorded before instance keys were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_keys: Option<Vec<Option<InstanceKey>>>,
}

/// An instance's key: a `count` index or a `for_each` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InstanceKey {
    Index(i64),
    Key(String),
}

/// What a state upload adds to its state version once verified.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSummary {
    pub size: i64,
    pub terraform_version: Option<String>,
    /// Managed resources in the state.
    pub resource_count: i64,
    /// The resource blocks (possibly only the first ones of a very large state).
    pub resources: Vec<ResourceSummary>,
    /// Outputs read from the state, for versions created without `json-state-outputs`.
    pub outputs: Option<Vec<StateVersionOutput>>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StateVersionOutput {
    pub id: String,
    pub state_version_id: String,
    pub name: String,
    pub sensitive: bool,
    /// The output's cty type as JSON (`"string"`, `["list","string"]`, ...).
    pub type_json: String,
    /// The JSON value, encrypted by the domain layer before it reaches the store.
    pub value_ciphertext: String,
}

/// A one-time OAuth authorization code (for `terraform login`), kept by hash.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OAuthCode {
    pub code_hash: String,
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    /// How the session that approved signed in (the token inherits it).
    pub signed_in_with: Option<String>,
}

/// A single sign-on in progress, kept by the hash of its `state` until the callback takes it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SsoRequest {
    pub state_hash: String,
    /// OpenID Connect's nonce, or the ID of SAML's AuthnRequest.
    pub nonce: String,
    /// OpenID Connect's PKCE verifier (empty for SAML).
    pub pkce_verifier: String,
    /// A path on this server to return to once signed in.
    pub return_to: String,
    pub expires_at: DateTime<Utc>,
    /// `oidc` or `saml`.
    pub protocol: String,
    /// The organization whose identity provider this sign-in goes through (`None`: the
    /// site's).
    pub organization_id: Option<String>,
}

/// An organization's own single sign-on (`/organizations/:org/sso-configuration`). The
/// protocol's fields sit side by side (`oidc_*`, `saml_*`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SsoConfiguration {
    pub organization_id: String,
    /// `oidc` or `saml`.
    pub protocol: String,
    pub enabled: bool,
    /// Members reach the organization only with credentials from single sign-on.
    pub enforced: bool,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    /// The client secret, encrypted with the server's keyring.
    pub oidc_client_secret_ciphertext: Option<String>,
    /// Space-separated scopes besides `openid`.
    pub oidc_scopes: String,
    pub oidc_groups_claim: String,
    pub oidc_username_claim: String,
    /// The identity provider's SAML metadata (XML), as its owners pasted it.
    pub saml_idp_metadata: Option<String>,
    pub saml_username_attribute: String,
    pub saml_email_attribute: String,
    pub saml_groups_attribute: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A browser session, kept by the hash of its cookie value.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// The latest a session can last (its lifetime when it started).
    pub expires_at: DateTime<Utc>,
    /// When it last signed its user in (idle timeouts count from here).
    pub last_seen_at: DateTime<Utc>,
    /// How it signed in: `None`/`password`, `sso` (the site's provider) or
    /// `sso:<organization id>`.
    pub signed_in_with: Option<String>,
}

/// One page of a listing: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: u32,
    pub size: u32,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        i64::from(self.number.saturating_sub(1)) * i64::from(self.size)
    }
    pub fn all() -> Self {
        PageRequest {
            number: 1,
            size: u32::MAX / 2,
        }
    }
}

/// A page of results and the total count across all pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

text_enum!(
    /// Lifecycle of a configuration version: `pending` until its tarball is uploaded. An
    /// uploaded version's tarball (its backing data) may then be archived (deleted), or
    /// soft-deleted (kept, but not served; restorable) and permanently deleted.
    ConfigurationStatus {
        Pending => "pending",
        Uploaded => "uploaded",
        Errored => "errored",
        Archived => "archived",
        BackingDataSoftDeleted => "backing_data_soft_deleted",
        BackingDataPermanentlyDeleted => "backing_data_permanently_deleted",
    }
);

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConfigurationVersion {
    pub id: String,
    pub workspace_id: String,
    pub status: ConfigurationStatus,
    /// Who created it: `tfe-api`, `terraform+cloud` (the CLI), ...
    pub source: String,
    pub speculative: bool,
    pub provisional: bool,
    pub auto_queue_runs: bool,
    /// Size of the uploaded tarball in bytes.
    pub size: i64,
    pub error: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// The blob of the upload that won (`None` before an upload, and for versions uploaded
    /// before uploads had keys of their own).
    pub tarball_key: Option<String>,
}

text_enum!(
    /// What a data retention policy does: delete backing data older than some days, or keep
    /// everything (which overrides an organization's policy for a workspace).
    DataRetentionKind { DeleteOlder => "delete-older", DontDelete => "dont-delete" }
);

/// A data retention policy of an organization (`workspace_id` empty) or of a workspace.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DataRetentionPolicy {
    pub id: String,
    pub organization_id: String,
    pub workspace_id: Option<String>,
    pub kind: DataRetentionKind,
    /// Only for `DeleteOlder`.
    pub delete_older_than_n_days: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// How the upload of a configuration version ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome<'a> {
    Uploaded { size: i64, tarball_key: &'a str },
    Errored { message: &'a str },
}

text_enum!(
    /// What a variable sets: a Terraform input variable or an environment variable.
    VariableCategory { Terraform => "terraform", Env => "env" }
);

/// A variable of a workspace or of a variable set (exactly one of the two owns it).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Variable {
    pub id: String,
    pub workspace_id: Option<String>,
    pub varset_id: Option<String>,
    pub key: String,
    /// The value, encrypted by the domain layer (all values, sensitive or not).
    pub value_ciphertext: String,
    pub description: String,
    pub category: VariableCategory,
    pub hcl: bool,
    pub sensitive: bool,
    /// Changes whenever key, value or flags change (clients use it to detect edits).
    pub version_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VariableSet {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    /// Applies to every workspace of the organization.
    pub global: bool,
    /// Overrides workspace variables and more specific sets.
    pub priority: bool,
    /// The project that owns the set (its `parent`); `None`: the organization does.
    pub project_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

text_enum!(
    /// The statuses of a run, as HCP Terraform names them. Terrace passes through the ones
    /// of policy checks and cost estimation; the `pre_`/`post_` ones are run-task stages.
    RunStatus {
        Pending => "pending",
        PlanQueued => "plan_queued",
        PrePlanRunning => "pre_plan_running",
        PrePlanCompleted => "pre_plan_completed",
        Planning => "planning",
        Planned => "planned",
        PostPlanRunning => "post_plan_running",
        PostPlanCompleted => "post_plan_completed",
        PlannedAndFinished => "planned_and_finished",
        PlannedAndSaved => "planned_and_saved",
        Confirmed => "confirmed",
        PreApplyRunning => "pre_apply_running",
        PreApplyCompleted => "pre_apply_completed",
        ApplyQueued => "apply_queued",
        Applying => "applying",
        Applied => "applied",
        PostApplyRunning => "post_apply_running",
        PostApplyCompleted => "post_apply_completed",
        Discarded => "discarded",
        Errored => "errored",
        Canceled => "canceled",
    }
);

impl RunStatus {
    /// Nothing more happens to a run in a final status.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::PlannedAndFinished
                | RunStatus::Applied
                | RunStatus::Discarded
                | RunStatus::Errored
                | RunStatus::Canceled
        )
    }
}

text_enum!(
    /// Status of a plan or an apply (a run phase), which is also the job a runner executes.
    PhaseStatus {
        Pending => "pending",
        Queued => "queued",
        Running => "running",
        Finished => "finished",
        Errored => "errored",
        Canceled => "canceled",
        Unreachable => "unreachable",
    }
);

impl PhaseStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PhaseStatus::Finished
                | PhaseStatus::Errored
                | PhaseStatus::Canceled
                | PhaseStatus::Unreachable
        )
    }
}

text_enum!(
    PhaseKind { Plan => "plan", Apply => "apply" }
);

/// Timestamps of status changes, by key (`planned-at`, `queued-at`, ...).
pub type Timestamps = JsonText<std::collections::BTreeMap<String, DateTime<Utc>>>;

/// Read by position (`from_row_by_position!` in `sql/`).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    pub workspace_id: String,
    pub configuration_version_id: String,
    pub status: RunStatus,
    pub status_timestamps: Timestamps,
    pub message: String,
    pub source: String,
    pub trigger_reason: String,
    pub is_destroy: bool,
    pub refresh: bool,
    pub refresh_only: bool,
    pub plan_only: bool,
    pub save_plan: bool,
    pub auto_apply: bool,
    pub allow_empty_apply: bool,
    pub target_addrs: JsonText<Option<Vec<String>>>,
    pub replace_addrs: JsonText<Option<Vec<String>>>,
    /// Run variables (`[{key, value}]` JSON), encrypted by the domain layer.
    pub variables_ciphertext: String,
    pub terraform_version: String,
    pub has_changes: bool,
    pub created_by: Option<String>,
    pub confirmed_by: Option<String>,
    /// The state the plan was made against (saved plans are discarded when it changes).
    pub input_state_version_id: Option<String>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub force_cancel_available_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A plan or an apply. Once queued it is also a job: a listener claims it, its runner
/// reports through it, and its heartbeat tells the server the runner is alive.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunPhase {
    pub id: String,
    pub run_id: String,
    pub kind: PhaseKind,
    pub status: PhaseStatus,
    pub status_timestamps: Timestamps,
    pub has_changes: bool,
    pub resource_additions: i64,
    pub resource_changes: i64,
    pub resource_destructions: i64,
    pub resource_imports: i64,
    /// The agent pool whose listeners may claim the job (`None`: the server's own).
    pub pool_id: Option<String>,
    pub listener_id: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The runner must stop (set by a cancel).
    pub cancel_requested: bool,
    /// The runner must stop at once (force-cancel).
    pub force_cancel: bool,
    /// Bytes of log received so far.
    pub log_size: i64,
    /// The log moved from the database to the blob store once the phase ended.
    pub log_archived: bool,
    /// What the runner uploaded (plans only): the binary plan, its JSON and provider schemas.
    pub artifacts: JsonText<Vec<String>>,
    pub error_message: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunEvent {
    pub id: String,
    pub run_id: String,
    pub action: String,
    pub description: Option<String>,
    pub actor_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The comment a `commented` event added.
    pub comment_id: Option<String>,
}

/// A comment on a run.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunComment {
    pub id: String,
    pub run_id: String,
    pub body: String,
    /// The user who wrote it, if a user did.
    pub author_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A workspace's notification configuration (HCP Terraform's `notification-configurations`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationConfiguration {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// `generic`, `slack`, `microsoft-teams` or `email`.
    pub destination_type: String,
    pub url: String,
    /// The HMAC key of generic payloads, sealed by the domain layer.
    pub token_ciphertext: Option<String>,
    pub enabled: bool,
    pub triggers: JsonText<Vec<String>>,
    pub email_addresses: JsonText<Vec<String>>,
    pub email_user_ids: JsonText<Vec<String>>,
    /// The last delivery responses, newest last (JSON objects as the API shows them).
    pub delivery_responses: JsonText<Vec<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One notification waiting in the outbox (or delivered, or given up).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxNotification {
    pub seq: i64,
    pub configuration_id: String,
    pub run_id: String,
    pub trigger_name: String,
    pub run_status: String,
    pub run_updated_at: DateTime<Utc>,
    pub attempts: i32,
}

impl RunStatus {
    /// The notification trigger a run entering this status fires (HCP Terraform's names):
    /// the storage writes the outbox in the transaction that changes the status, so no
    /// status change is ever without its notifications.
    pub fn notification_trigger(self) -> Option<&'static str> {
        match self {
            RunStatus::Pending => Some("run:created"),
            RunStatus::Planning => Some("run:planning"),
            RunStatus::Planned => Some("run:needs_attention"),
            RunStatus::Applying => Some("run:applying"),
            RunStatus::Applied | RunStatus::PlannedAndFinished => Some("run:completed"),
            // HCP: "terminated early due to error or cancellation".
            RunStatus::Errored | RunStatus::Canceled => Some("run:errored"),
            _ => None,
        }
    }
}

/// A run trigger: a successful apply in `sourceable_id` queues a run in `workspace_id` (both
/// workspaces of one organization). Read with both workspaces' names.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunTrigger {
    pub id: String,
    /// The target: the workspace whose runs the trigger queues.
    pub workspace_id: String,
    /// The source: the workspace whose applies fire the trigger.
    pub sourceable_id: String,
    pub created_at: DateTime<Utc>,
    /// The target's name (read, not written).
    pub workspace_name: String,
    /// The source's name (read, not written).
    pub sourceable_name: String,
}

/// An organization's SSH private key (HCP's `ssh-keys`): the value is write-only, sealed
/// with the keyring, and read only by runs of workspaces it is assigned to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SshKey {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub value_ciphertext: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

text_enum!(
    /// The points of a run where run tasks are called (HCP Terraform's names).
    TaskStageName {
        PrePlan => "pre_plan",
        PostPlan => "post_plan",
        PreApply => "pre_apply",
        PostApply => "post_apply",
    }
);

text_enum!(
    /// What a failing run task does to its run: `mandatory` stops it, `advisory` only warns.
    TaskEnforcement { Advisory => "advisory", Mandatory => "mandatory" }
);

text_enum!(
    /// A task stage's status (go-tfe's TaskStageStatus).
    TaskStageStatus {
        Pending => "pending",
        Running => "running",
        Passed => "passed",
        Failed => "failed",
        AwaitingOverride => "awaiting_override",
        Canceled => "canceled",
        Errored => "errored",
        Unreachable => "unreachable",
    }
);

text_enum!(
    /// A task result's status (go-tfe's TaskResultStatus).
    TaskResultStatus {
        Pending => "pending",
        Running => "running",
        Passed => "passed",
        Failed => "failed",
        Errored => "errored",
        Unreachable => "unreachable",
    }
);

/// An organization's run task (HCP's `tasks`): an external service called at stages of runs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunTask {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub url: String,
    pub description: String,
    pub category: String,
    /// The key of `X-TFC-Task-Signature`, sealed by the domain layer; `None`: unsigned.
    pub hmac_key_ciphertext: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A run task attached to a workspace (HCP's `workspace-tasks`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkspaceRunTask {
    pub id: String,
    pub workspace_id: String,
    pub task_id: String,
    pub enforcement_level: TaskEnforcement,
    pub stages: JsonText<Vec<TaskStageName>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stage of a run with run tasks (HCP's `task-stages`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskStage {
    pub id: String,
    pub run_id: String,
    pub stage: TaskStageName,
    pub status: TaskStageStatus,
    pub status_timestamps: Timestamps,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One task's result in a task stage (HCP's `task-results`). The task's name, URL and the
/// attachment's enforcement level are copied when the run is created.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TaskResult {
    pub id: String,
    pub task_stage_id: String,
    pub run_id: String,
    pub task_id: String,
    pub task_name: String,
    pub task_url: String,
    pub workspace_task_id: String,
    pub enforcement_level: TaskEnforcement,
    pub status: TaskResultStatus,
    pub message: String,
    pub url: String,
    /// The outcomes the service reported (JSON objects as the API shows them).
    pub outcomes: JsonText<Vec<serde_json::Value>>,
    pub status_timestamps: Timestamps,
    pub request_attempts: i32,
    /// When the request to the service is due; `None`: nothing to send.
    pub next_request_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// A result not passed or failed by then is errored.
    pub deadline_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A runner listener: something that claims jobs and executes them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Listener {
    pub id: String,
    pub pool_id: Option<String>,
    pub name: String,
    pub hostname: String,
    pub version: String,
    pub executor: String,
    pub capacity: i64,
    pub last_heartbeat_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Where it connected from when it registered (as the server saw it).
    pub ip_address: Option<String>,
}

/// Which workspaces may use a pool besides organization scope: those allowed by name and
/// those of allowed projects; excluded workspaces are left out of organization and project
/// scope (the domain's `pool_serves` is the rule).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentPoolScope {
    pub allowed_workspaces: Vec<String>,
    pub allowed_projects: Vec<String>,
    pub excluded_workspaces: Vec<String>,
}

text_enum!(
    /// How agent pools are listed (`sort=`): by name unless told otherwise.
    AgentPoolSort {
        Name => "name",
        NameDesc => "-name",
        CreatedAt => "created-at",
        CreatedAtDesc => "-created-at",
    }
);

/// A group of listeners an organization runs (in its own networks); workspaces in agent
/// execution mode name one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgentPool {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    /// Every workspace of the organization may use it (otherwise only the allowed ones).
    pub organization_scoped: bool,
    pub created_at: DateTime<Utc>,
}

/// One entry of the audit trail: who did what to which resource, and how it ended. Never a
/// request body, a header value or a secret.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    /// The organization the touched resource belongs to; `None` for site events.
    pub organization_id: Option<String>,
    /// `user`, `team`, `organization`, `agent`, `job`, `system` or `anonymous`.
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// The username (for a failed sign-in, the one that was tried).
    pub actor_name: Option<String>,
    /// The ID of the API token used, never its secret.
    pub token_id: Option<String>,
    /// A short name: `create`, `update`, `delete`, `lock`, `sign-in`, ...
    pub action: String,
    pub method: Option<String>,
    /// The route template (`PATCH /api/v2/workspaces/:workspace_id`), never the concrete path.
    pub route: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// The HTTP status the request was answered with.
    pub status: i32,
    pub client_address: Option<String>,
    /// Why a sign-in was refused (`sso-sign-in-failed`: `signature`, `expired`, ...).
    pub reason: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The organization's events; `None`: site events (those of no organization).
    pub organization_id: Option<String>,
    /// Only events after this instant (exclusive, as HCP Terraform's `since`).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Where one platform's binary of a tool version comes from: a URL (http(s), `file://` or an
/// absolute path) to a release zip or a bare binary, and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolArch {
    pub url: String,
    pub sha: String,
    pub os: String,
    pub arch: String,
}

/// A version of an engine in the site's catalogue (TFE's admin terraform-versions).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ToolVersion {
    pub id: String,
    pub engine: Engine,
    pub version: String,
    pub official: bool,
    pub enabled: bool,
    pub beta: bool,
    pub deprecated: bool,
    pub deprecated_reason: Option<String>,
    pub archs: JsonText<Vec<ToolArch>>,
    pub created_at: DateTime<Utc>,
}

text_enum!(
    /// How a release archive came into the binary cache.
    ToolArchiveOrigin { Uploaded => "uploaded", Pulled => "pulled" }
);

/// A release archive in the binary cache: one engine version's zip for one platform, whose
/// verified blob is `blob_key`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ToolArchive {
    pub id: String,
    pub engine: Engine,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub filename: String,
    /// SHA-256 of the archive, lowercase hexadecimal.
    pub sha256: String,
    pub size: i64,
    pub origin: ToolArchiveOrigin,
    pub blob_key: String,
    pub created_at: DateTime<Utc>,
}

text_enum!(
    /// A module version: `pending` until its tarball is uploaded, then `ok` (TFE's names).
    ModuleVersionStatus { Pending => "pending", Ok => "ok" }
);

/// A module of an organization's private registry: one name for one provider.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegistryModule {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegistryModuleVersion {
    pub id: String,
    pub module_id: String,
    pub version: String,
    pub status: ModuleVersionStatus,
    /// Size of the uploaded tarball in bytes.
    pub size: i64,
    /// The blob holding the tarball, once uploaded.
    pub tarball_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A GPG public key of an organization's private provider registry (TFE's `gpg-keys`); its
/// namespace is the organization's name. `key_id` is the 16-hex long key ID, upper case.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GpgKey {
    pub id: String,
    pub organization_id: String,
    pub key_id: String,
    pub ascii_armor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A private provider of an organization's registry (namespace = the organization's name).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegistryProvider {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A version of a private provider. `shasums` (SHA256SUMS) and its detached signature are
/// set by their uploads; the signature only once it verified against `key_id`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProviderVersion {
    pub id: String,
    pub provider_id: String,
    pub version: String,
    pub key_id: String,
    pub protocols: JsonText<Vec<String>>,
    pub shasums: Option<String>,
    pub shasums_signature: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One platform (os, arch) of a provider version; `binary_key` is the blob of its verified
/// zip, once uploaded.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProviderPlatform {
    pub id: String,
    pub version_id: String,
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub shasum: String,
    pub binary_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One platform's archive of a provider from another registry, in the provider mirror's
/// cache: `sha256` is what the upstream's signed SHA256SUMS names; `blob_key` and `size` are
/// set once the zip was fetched and had that SHA-256.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MirrorArchive {
    pub id: String,
    pub hostname: String,
    pub namespace: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub sha256: String,
    pub blob_key: Option<String>,
    pub size: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub cached_at: Option<DateTime<Utc>>,
}
