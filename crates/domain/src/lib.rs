//! Terrace's domain logic, free of HTTP and SQL. [`Services`] is the one entry point: the API
//! calls it for every request, background workers for their jobs. Every operation takes the
//! [`Caller`], asks the authorization policy through [`access`], and keeps the rules of its
//! resource (locks, serials, names) in its own module.

pub mod access;
pub mod agent_pools;
pub mod audit;
pub mod bootstrap;
pub mod caller;
pub mod configuration;
mod credentials;
pub mod engines;
pub mod error;
pub mod fetch;
pub mod figures;
pub mod jobs;
pub mod login;
pub mod logs;
pub mod memberships;
pub mod mirror;
pub mod notifications;
pub mod observe;
pub mod org_sso;
pub mod organizations;
pub mod projects;
pub mod providers;
pub mod registry;
pub mod remote_state;
pub mod replicas;
pub mod retention;
pub mod run_tasks;
pub mod run_triggers;
pub mod runs;
pub mod sessions;
pub mod site_admin;
pub mod site_settings;
pub mod ssh_keys;
pub mod sso;
pub mod state;
pub mod tags;
pub mod team_access;
pub mod team_tokens;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod validate;
pub mod variables;
pub mod waiting;
pub mod workspaces;

use std::sync::Arc;

use chrono::Duration;
use terrace_auth::capability::{Capability, Signer};
use terrace_storage::blob::BlobStore;
use terrace_storage::Store;

pub use caller::{Caller, Principal};
pub use error::{DomainError, DomainResult};

/// Knobs of the domain layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a signed upload URL stays valid.
    pub upload_url_ttl: Duration,
    /// Largest state file accepted.
    pub max_state_bytes: u64,
    /// Whether this server executes runs (the `operations` entitlement). Without it the CLI
    /// runs everything locally and keeps only state here.
    pub operations: bool,
    /// Loopback ports `terraform login` may redirect to (inclusive).
    pub login_ports: (u16, u16),
    /// Largest configuration tarball accepted (compressed).
    pub max_configuration_bytes: u64,
    /// What a configuration tarball may unpack to (the runner holds it to its own limits).
    pub configuration_limits: terrace_slug::Limits,
    /// Sign-in throttling and the bound on concurrent password hashing.
    pub sign_in: login::SignInLimits,
    /// How long the API tokens `terraform login` issues stay valid; `None`: forever.
    pub login_token_ttl: Option<Duration>,
    /// How long a log URL is valid after it is issued, and after its phase ends.
    pub log_url_ttl: Duration,
    /// How long audit events are kept.
    pub audit_retention_days: u32,
    /// Who may create organizations.
    pub organization_creation: site_admin::OrganizationCreation,
    /// Whether the server has a site-wide identity provider (organizations enforcing single
    /// sign-on without their own fall back to it).
    pub site_sso: bool,
    /// Organizations' own providers may be on loopback and private addresses (tests,
    /// single-tenant servers); otherwise their issuers must name public hosts.
    pub organization_sso_loopback: bool,
    /// Largest provider binary (zip) accepted by the private provider registry, and largest
    /// archive the provider mirror pulls through.
    pub max_provider_binary_bytes: u64,
    /// The hosts whose providers are this server's private registry (its own names, and
    /// `localterraform.com`), lower case.
    pub registry_hosts: Vec<String>,
    /// Largest terraform or OpenTofu release archive the binary cache takes.
    pub max_tool_archive_bytes: u64,
    /// Where each engine's releases are published (`--tool-archive-upstream`): catalogue
    /// platforms without a URL are filled from there, their SHA-256 from its SHA256SUMS.
    pub tool_archive_upstreams: Vec<(terrace_storage::model::Engine, String)>,
    /// The release keys (ASCII-armored OpenPGP) whose signature an engine's upstream
    /// SHA256SUMS must carry (`--tool-archive-upstream-key`); none: not checked.
    pub tool_archive_upstream_keys: Vec<(terrace_storage::model::Engine, String)>,
    /// How long a run task's service has to answer a task result (HCP: 10 minutes).
    pub run_task_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            upload_url_ttl: Duration::minutes(30),
            max_state_bytes: 2 << 30,
            operations: true,
            login_ports: (10000, 10010),
            max_configuration_bytes: 512 << 20,
            configuration_limits: terrace_slug::Limits::default(),
            sign_in: login::SignInLimits::default(),
            login_token_ttl: Some(Duration::days(30)),
            log_url_ttl: Duration::minutes(10),
            audit_retention_days: audit::DEFAULT_RETENTION_DAYS,
            organization_creation: site_admin::OrganizationCreation::Anyone,
            site_sso: false,
            organization_sso_loopback: false,
            max_provider_binary_bytes: 512 << 20,
            registry_hosts: vec!["localterraform.com".into()],
            max_tool_archive_bytes: 1 << 30,
            tool_archive_upstreams: Vec::new(),
            tool_archive_upstream_keys: Vec::new(),
            run_task_timeout: Duration::minutes(10),
        }
    }
}

/// The domain services, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: BlobStore,
    pub(crate) signer: Arc<Signer>,
    pub(crate) settings: Arc<Settings>,
    /// Woken whenever a job is queued (here or, through the fanout, on another replica), so
    /// waiting claims return at once.
    pub(crate) jobs_available: Arc<tokio::sync::Notify>,
    /// Failed sign-ins and the password hashing gate.
    pub(crate) sign_in: Arc<login::SignInGuard>,
    /// Which tokens' use was recorded this hour.
    pub(crate) token_uses: Arc<audit::TokenUses>,
    /// Writes audit events, those that arrive together in one statement.
    pub(crate) audit_writer: Arc<audit::AuditWriter>,
    /// The registries the provider mirror pulls through from, if any.
    pub(crate) provider_upstream: Option<Arc<dyn mirror::ProviderUpstream>>,
    /// What upstream files are fetched with (`None`: nothing is fetched).
    pub(crate) fetcher: Option<Arc<dyn fetch::Fetcher>>,
    /// READMEs of configurations lately shown.
    pub(crate) readmes: Arc<configuration::readme::Readmes>,
    /// Who hears of jobs and state transfers (metrics).
    pub(crate) observer: Arc<dyn observe::Observer>,
    /// Tells the other replicas what cannot wait.
    pub(crate) fanout: Arc<dyn replicas::Fanout>,
    /// What notifications are delivered with (`None`: they wait in the outbox).
    pub(crate) notifier: Option<Arc<notifications::delivery::Notifier>>,
    /// Credentials read for earlier requests, valid while the credential epoch holds.
    pub(crate) credentials: Arc<credentials::Credentials>,
}

impl Services {
    pub fn new(store: Arc<dyn Store>, blobs: BlobStore, settings: Settings) -> Services {
        let signer = Signer::new(blobs.keyring().derived_keys("capability-urls"));
        Services {
            store,
            blobs,
            signer: Arc::new(signer),
            sign_in: Arc::new(login::SignInGuard::new(&settings.sign_in)),
            settings: Arc::new(settings),
            jobs_available: Arc::new(tokio::sync::Notify::new()),
            token_uses: Arc::default(),
            audit_writer: Arc::default(),
            provider_upstream: None,
            fetcher: None,
            readmes: Arc::default(),
            observer: Arc::new(observe::Unobserved),
            fanout: Arc::new(replicas::ThisProcessOnly),
            notifier: None,
            credentials: Arc::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Checks the database answers (readiness).
    pub async fn ready(&self) -> DomainResult<()> {
        Ok(self.store.ping().await?)
    }

    /// Issues a signed capability for `purpose` on `resource`, valid for `ttl`.
    pub(crate) fn issue(&self, purpose: &str, resource: &str, ttl: Duration) -> String {
        self.signer.sign(&Capability {
            purpose: purpose.to_string(),
            resource: resource.to_string(),
            expires: (chrono::Utc::now() + ttl).timestamp(),
            holder: None,
        })
    }

    /// Checks a capability token and that it grants `purpose`; returns the resource ID.
    pub(crate) fn redeem(&self, token: &str, purpose: &str) -> DomainResult<String> {
        let capability = self.open_capability(token, purpose)?;
        if chrono::Utc::now().timestamp() > capability.expires {
            let at = chrono::DateTime::from_timestamp(capability.expires, 0).unwrap_or_default();
            return Err(DomainError::Expired(format!("the URL expired at {at}")));
        }
        Ok(capability.resource)
    }

    /// A genuine capability granting `purpose`, whether or not it has expired: the caller
    /// decides how long it lives.
    pub(crate) fn open_capability(&self, token: &str, purpose: &str) -> DomainResult<Capability> {
        let capability = self
            .signer
            .open(token)
            .map_err(|e| DomainError::BadCapability(e.to_string()))?;
        if capability.purpose != purpose {
            return Err(DomainError::BadCapability(format!(
                "this URL grants {}, not {purpose}",
                capability.purpose
            )));
        }
        Ok(capability)
    }

    /// What a genuine capability token grants (`purpose:resource`), to count its requests by;
    /// `None` for anything else. Expired ones count too: a log URL outlives its expiry while
    /// its phase runs. Whether it grants the request is decided by the handler.
    pub fn capability_subject(&self, token: &str) -> Option<String> {
        let capability = self.signer.open(token).ok()?;
        Some(format!("{}:{}", capability.purpose, capability.resource))
    }
}
