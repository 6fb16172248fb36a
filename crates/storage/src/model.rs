//! The records Terrace keeps. Plain data: rules about them live in the domain crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a string-valued enum stored as TEXT, with `as_str`, `FromStr` and the sqlx codecs
/// for every database (so `Option<Enum>` columns work too).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

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
    TokenKind { User => "user", Team => "team", Organization => "organization" }
);

text_enum!(
    /// Who holds a workspace lock.
    LockHolderKind { User => "users", Run => "runs", Team => "teams" }
);

text_enum!(
    /// Lifecycle of a state version: created `pending`, `finalized` once its state is uploaded
    /// and verified, `discarded` when superseded before that.
    StateVersionStatus { Pending => "pending", Finalized => "finalized", Discarded => "discarded" }
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
}

/// A user's standing in one organization. Teams with permission levels refine this later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    /// Member of the organization's owners team.
    Owner,
    /// Member of any other team of the organization.
    Member,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Team {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub is_owners: bool,
    pub visibility: String,
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
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Project {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
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
    pub queue_all_runs: bool,
    pub speculative_enabled: bool,
    pub structured_run_output_enabled: bool,
    pub assessments_enabled: bool,
    pub source_name: Option<String>,
    pub source_url: Option<String>,
    pub terraform_version: String,
    pub trigger_prefixes: JsonText<Vec<String>>,
    pub trigger_patterns: JsonText<Vec<String>>,
    pub working_directory: String,
    pub auto_destroy_at: Option<DateTime<Utc>>,
    pub lock_kind: Option<LockHolderKind>,
    pub lock_holder_id: Option<String>,
    pub lock_reason: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    pub current_state_version_id: Option<String>,
    /// Managed resources in the current state (0 without state); read from the state version.
    pub resource_count: i64,
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
    pub resources: JsonText<Vec<ResourceSummary>>,
    pub run_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
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
}

/// A browser session, kept by the hash of its cookie value.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
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
