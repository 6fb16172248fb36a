//! Configuration, layered: command-line flags, then `TERRACE_*` environment variables (clap
//! reads both), then the optional TOML file, then defaults for the embedded shape. Secrets can
//! also come from files (`--encryption-key-file`, `TERRACE_*_FILE`), so they need not appear
//! in process listings or environment dumps.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use terrace_domain::site_admin::OrganizationCreation;
use terrace_runner_listener::confine::RunAs;
use terrace_storage::sql::Backend;

use crate::secrets::{flag_or_config, value_or_file, Layer};

/// Flags every command that opens the database shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DatabaseArgs {
    /// TOML configuration file.
    #[arg(long, env = "TERRACE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database, blobs, keys and certificates [default: ./terrace-data].
    #[arg(long, env = "TERRACE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite:PATH or postgres://... [default: a SQLite file in the data directory].
    #[arg(
        long,
        env = "TERRACE_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// File holding the database URL (keeps its password out of the environment).
    #[arg(long, env = "TERRACE_DATABASE_URL_FILE", value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on [default: 127.0.0.1:8443].
    #[arg(long, env = "TERRACE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// redis://... or rediss://... shared by the replicas of this server: rate limits are
    /// counted there and queued jobs announced through it [default: none; replicas on
    /// PostgreSQL announce jobs through it and each counts its own requests].
    #[arg(
        long,
        env = "TERRACE_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// File holding the Redis URL (keeps its password out of the environment).
    #[arg(long, env = "TERRACE_REDIS_URL_FILE", value_name = "FILE")]
    pub redis_url_file: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP; keep it on a private
    /// address) [default: not served].
    #[arg(long, env = "TERRACE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Where blobs go: a directory, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix
    /// [default: the blobs folder in the data directory].
    #[arg(long, env = "TERRACE_STORAGE_URL", value_name = "URL")]
    pub storage_url: Option<String>,
    /// An object store setting (KEY=VALUE, e.g. aws_endpoint=http://..); repeatable.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// The URL clients use to reach this server [default: https://localhost:PORT].
    #[arg(long, env = "TERRACE_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,
    /// PEM certificate chain to serve [default: one issued by a local CA kept in the data directory].
    #[arg(
        long,
        env = "TERRACE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "TERRACE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP (behind a proxy that terminates TLS; set --external-url to its https URL).
    #[arg(long, env = "TERRACE_NO_TLS")]
    pub no_tls: bool,
    /// Fernet key(s) encrypting state and secrets, comma-separated, newest first
    /// [default with SQLite: generated into the data directory; required with PostgreSQL].
    #[arg(
        long,
        env = "TERRACE_ENCRYPTION_KEY",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub encryption_key: Option<String>,
    /// File holding the encryption key(s), one per line, newest first.
    #[arg(long, env = "TERRACE_ENCRYPTION_KEY_FILE", value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "TERRACE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Days the API tokens issued by `terraform login` stay valid, fractions allowed
    /// (0.5 = 12 hours); 0: they never expire [default: 30].
    #[arg(long, env = "TERRACE_LOGIN_TOKEN_TTL_DAYS", value_name = "DAYS")]
    pub login_token_ttl_days: Option<f64>,
    /// Seconds a plan's or apply's log URL stays valid after it is issued, and after its
    /// phase ends (a URL keeps working while its phase runs) [default: 600].
    #[arg(long, env = "TERRACE_LOG_URL_TTL_SECONDS", value_name = "SECONDS")]
    pub log_url_ttl_seconds: Option<u32>,
    /// Days audit events are kept; older ones are deleted hourly [default: 365].
    #[arg(long, env = "TERRACE_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<u32>,
    /// Seconds between two looks for workspaces whose auto-destroy is due [default: 60].
    #[arg(
        long,
        env = "TERRACE_AUTO_DESTROY_CHECK_SECONDS",
        value_name = "SECONDS"
    )]
    pub auto_destroy_check_seconds: Option<u32>,
    /// Seconds a run task's service has to answer a task result before it is errored
    /// [default: 600, as HCP Terraform].
    #[arg(long, env = "TERRACE_RUN_TASK_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub run_task_timeout_seconds: Option<u32>,
    /// Let notification configurations send to loopback and private network addresses (and
    /// this server itself): tests, or single-tenant servers whose receivers are on the same
    /// network. Link-local (cloud metadata) addresses stay refused.
    #[arg(long, env = "TERRACE_ALLOW_PRIVATE_NOTIFICATION_URLS")]
    pub allow_private_notification_urls: bool,
    /// Who may create organizations: anyone, or only site administrators [default: anyone].
    #[arg(
        long,
        env = "TERRACE_ORGANIZATION_CREATION",
        value_name = "WHO",
        value_parser = ["anyone", "site-admins"]
    )]
    pub organization_creation: Option<String>,
    /// Registries the provider mirror pulls through from, repeatable: `HOST` (found by
    /// service discovery at https://HOST/), `HOST=URL` (the registry at URL serves HOST's
    /// providers) or `none` [default: registry.terraform.io, registry.opentofu.org].
    #[arg(
        long = "provider-mirror-upstream",
        env = "TERRACE_PROVIDER_MIRROR_UPSTREAMS",
        value_delimiter = ',',
        value_name = "HOST[=URL]"
    )]
    pub provider_mirror_upstreams: Vec<String>,
    /// Where an engine's releases are published, as ENGINE=URL (repeatable; comma-separated in
    /// the variable): catalogue platforms given without a URL are filled from there, with the
    /// SHA-256 its SHA256SUMS lists, and the binary cache pulls them from there. Terraform's:
    /// terraform=https://releases.hashicorp.com/terraform; OpenTofu's:
    /// tofu=https://github.com/opentofu/opentofu/releases/download [default: none].
    #[arg(
        long = "tool-archive-upstream",
        env = "TERRACE_TOOL_ARCHIVE_UPSTREAMS",
        value_name = "ENGINE=URL",
        value_delimiter = ','
    )]
    pub tool_archive_upstreams: Vec<String>,
    /// An engine's release signing key, as ENGINE=FILE (an ASCII-armored OpenPGP public key;
    /// repeatable, comma-separated in the variable): that upstream's SHA256SUMS must carry a
    /// valid detached signature by it (terraform's `.sig`, OpenTofu's `.gpgsig`)
    /// [default: not checked].
    #[arg(
        long = "tool-archive-upstream-key",
        env = "TERRACE_TOOL_ARCHIVE_UPSTREAM_KEYS",
        value_name = "ENGINE=FILE",
        value_delimiter = ','
    )]
    pub tool_archive_upstream_keys: Vec<String>,
    #[command(flatten)]
    pub listener: BuiltinListenerArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub oidc: OidcArgs,
    #[command(flatten)]
    pub saml: SamlArgs,
    /// Refuse password sign-in to everyone but site administrators (their break-glass way in),
    /// whichever single sign-on (OpenID Connect or SAML) is configured.
    #[arg(
        long,
        env = "TERRACE_SSO_DISABLE_PASSWORDS",
        alias = "oidc-disable-passwords"
    )]
    pub sso_disable_passwords: bool,
}

/// Single sign-on with a SAML 2.0 identity provider (docs/sso.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SamlArgs {
    /// Where the identity provider's metadata is (https, or http on a loopback address only);
    /// turns SAML sign-in on.
    #[arg(
        long,
        env = "TERRACE_SAML_IDP_METADATA_URL",
        value_name = "URL",
        conflicts_with = "saml_idp_metadata_file"
    )]
    pub saml_idp_metadata_url: Option<String>,
    /// A file holding the identity provider's metadata; turns SAML sign-in on.
    #[arg(long, env = "TERRACE_SAML_IDP_METADATA_FILE", value_name = "FILE")]
    pub saml_idp_metadata_file: Option<PathBuf>,
    /// This server's entity ID at the identity provider [default: the external URL +
    /// /app/sso/saml/metadata].
    #[arg(long, env = "TERRACE_SAML_SP_ENTITY_ID", value_name = "ID")]
    pub saml_sp_entity_id: Option<String>,
    /// The attribute new users' usernames come from [default: uid].
    #[arg(long, env = "TERRACE_SAML_USERNAME_ATTRIBUTE", value_name = "NAME")]
    pub saml_username_attribute: Option<String>,
    /// The attribute holding the user's email [default: email].
    #[arg(long, env = "TERRACE_SAML_EMAIL_ATTRIBUTE", value_name = "NAME")]
    pub saml_email_attribute: Option<String>,
    /// The attribute listing the user's groups, matched against teams' `sso-team-id` [default: groups].
    #[arg(long, env = "TERRACE_SAML_GROUPS_ATTRIBUTE", value_name = "NAME")]
    pub saml_groups_attribute: Option<String>,
}

/// The `[saml]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SamlFile {
    idp_metadata_url: Option<String>,
    idp_metadata_file: Option<PathBuf>,
    sp_entity_id: Option<String>,
    username_attribute: Option<String>,
    email_attribute: Option<String>,
    groups_attribute: Option<String>,
}

/// Where the identity provider's metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlMetadataSource {
    Url(String),
    File(PathBuf),
}

/// SAML sign-in as configured (see [`SamlArgs`]).
#[derive(Debug, Clone)]
pub struct SamlConfig {
    pub idp_metadata: SamlMetadataSource,
    /// `None`: the external URL + `/app/sso/saml/metadata`.
    pub sp_entity_id: Option<String>,
    pub username_attribute: String,
    pub email_attribute: String,
    pub groups_attribute: String,
}

impl SamlConfig {
    fn resolve(args: &SamlArgs, file: &SamlFile) -> Result<Option<SamlConfig>> {
        let url = args
            .saml_idp_metadata_url
            .clone()
            .or_else(|| file.idp_metadata_url.clone());
        let path = args
            .saml_idp_metadata_file
            .clone()
            .or_else(|| file.idp_metadata_file.clone());
        let idp_metadata = match (url, path) {
            (Some(_), Some(_)) => {
                bail!("--saml-idp-metadata-url and --saml-idp-metadata-file exclude each other")
            }
            (Some(url), None) => {
                let parsed = url::Url::parse(&url)
                    .with_context(|| format!("--saml-idp-metadata-url {url:?} is not a URL"))?;
                if parsed.scheme() != "https" && !is_loopback(&parsed) {
                    bail!("--saml-idp-metadata-url must be an https URL (http only on a loopback address)");
                }
                SamlMetadataSource::Url(url)
            }
            (None, Some(path)) => SamlMetadataSource::File(path),
            (None, None) => {
                if args.saml_sp_entity_id.is_some() || file.sp_entity_id.is_some() {
                    bail!("--saml-sp-entity-id needs --saml-idp-metadata-url or --saml-idp-metadata-file");
                }
                return Ok(None);
            }
        };
        let pick = |arg: &Option<String>, file: &Option<String>, default: &str| {
            arg.clone()
                .or_else(|| file.clone())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        Ok(Some(SamlConfig {
            idp_metadata,
            sp_entity_id: args
                .saml_sp_entity_id
                .clone()
                .or_else(|| file.sp_entity_id.clone())
                .filter(|v| !v.is_empty()),
            username_attribute: pick(
                &args.saml_username_attribute,
                &file.username_attribute,
                "uid",
            ),
            email_attribute: pick(&args.saml_email_attribute, &file.email_attribute, "email"),
            groups_attribute: pick(
                &args.saml_groups_attribute,
                &file.groups_attribute,
                "groups",
            ),
        }))
    }
}

/// Single sign-on with an OpenID Connect provider (docs/sso.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OidcArgs {
    /// The provider's issuer URL (its discovery document is ISSUER/.well-known/openid-configuration);
    /// turns single sign-on on.
    #[arg(long, env = "TERRACE_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// This server's client ID at the provider.
    #[arg(long, env = "TERRACE_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// This server's client secret at the provider (prefer --oidc-client-secret-file).
    #[arg(
        long,
        env = "TERRACE_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub oidc_client_secret: Option<String>,
    /// File holding the client secret.
    #[arg(long, env = "TERRACE_OIDC_CLIENT_SECRET_FILE", value_name = "FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The claim listing the user's groups, matched against teams' `sso-team-id` [default: groups].
    #[arg(long, env = "TERRACE_OIDC_GROUPS_CLAIM", value_name = "CLAIM")]
    pub oidc_groups_claim: Option<String>,
    /// The claim new users' usernames come from [default: preferred_username; then the
    /// email's local part, then the subject].
    #[arg(long, env = "TERRACE_OIDC_USERNAME_CLAIM", value_name = "CLAIM")]
    pub oidc_username_claim: Option<String>,
    /// Scopes to ask for besides `openid`, space- or comma-separated [default: profile email groups].
    #[arg(long, env = "TERRACE_OIDC_SCOPES", value_name = "SCOPES")]
    pub oidc_scopes: Option<String>,
    /// Read claims from the provider's userinfo endpoint too (for providers that leave
    /// groups out of the ID token).
    #[arg(long, env = "TERRACE_OIDC_USE_USERINFO")]
    pub oidc_use_userinfo: bool,
    /// The former name of --sso-disable-passwords, still read from the environment.
    #[arg(skip = std::env::var("TERRACE_OIDC_DISABLE_PASSWORDS").is_ok_and(|v| v == "true" || v == "1"))]
    pub oidc_disable_passwords: bool,
    /// PEM certificates trusted for the provider besides the platform's roots.
    #[arg(long, env = "TERRACE_OIDC_CA_FILE", value_name = "FILE")]
    pub oidc_ca_file: Option<PathBuf>,
    /// Let organizations' own identity providers be on loopback and private addresses
    /// (given as such in their issuer URL; `http` then allowed on loopback). Off: an
    /// organization's owner cannot make this server probe its own machine or network.
    #[arg(long, env = "TERRACE_OIDC_ORGANIZATION_LOOPBACK")]
    pub oidc_organization_loopback: bool,
}

/// The `[oidc]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcFile {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    groups_claim: Option<String>,
    username_claim: Option<String>,
    scopes: Option<String>,
    use_userinfo: Option<bool>,
    disable_passwords: Option<bool>,
    ca_file: Option<PathBuf>,
}

/// Single sign-on as configured (see [`OidcArgs`]).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub groups_claim: String,
    pub username_claim: String,
    pub scopes: Vec<String>,
    pub use_userinfo: bool,
    pub ca_file: Option<PathBuf>,
}

impl OidcConfig {
    fn resolve(args: &OidcArgs, file: &OidcFile) -> Result<Option<OidcConfig>> {
        let Some(issuer) = args.oidc_issuer.clone().or_else(|| file.issuer.clone()) else {
            if args.oidc_client_id.is_some() || file.client_id.is_some() {
                bail!("--oidc-client-id needs --oidc-issuer");
            }
            return Ok(None);
        };
        let parsed = url::Url::parse(&issuer)
            .with_context(|| format!("--oidc-issuer {issuer:?} is not a URL"))?;
        if parsed.scheme() != "https" && !is_loopback(&parsed) {
            bail!("--oidc-issuer must be an https URL (http only on a loopback address)");
        }
        let client_id = args
            .oidc_client_id
            .clone()
            .or_else(|| file.client_id.clone())
            .context("--oidc-issuer needs --oidc-client-id")?;
        let client_secret = flag_or_config(
            Layer {
                name: "--oidc-client-secret",
                value: args.oidc_client_secret.clone(),
                file: args.oidc_client_secret_file.as_deref(),
            },
            Layer {
                name: "client_secret",
                value: file.client_secret.clone(),
                file: file.client_secret_file.as_deref(),
            },
        )?;
        let scopes = args
            .oidc_scopes
            .clone()
            .or_else(|| file.scopes.clone())
            .unwrap_or_else(|| "profile email groups".into())
            .split([' ', ','])
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(str::to_string)
            .collect();
        Ok(Some(OidcConfig {
            issuer,
            client_id,
            client_secret,
            groups_claim: args
                .oidc_groups_claim
                .clone()
                .or_else(|| file.groups_claim.clone())
                .unwrap_or_else(|| "groups".into()),
            username_claim: args
                .oidc_username_claim
                .clone()
                .or_else(|| file.username_claim.clone())
                .unwrap_or_else(|| "preferred_username".into()),
            scopes,
            use_userinfo: args.oidc_use_userinfo || file.use_userinfo == Some(true),
            ca_file: args.oidc_ca_file.clone().or_else(|| file.ca_file.clone()),
        }))
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The runner listener built into `terrace serve`, which executes runs on this machine.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BuiltinListenerArgs {
    /// Do not execute runs in this process (separate listeners or agents do it).
    #[arg(long, env = "TERRACE_NO_LISTENER")]
    pub no_listener: bool,
    /// Runs executed at once by this server [default: 2].
    #[arg(long, env = "TERRACE_LISTENER_CAPACITY", value_name = "N")]
    pub listener_capacity: Option<u32>,
    /// The terraform (or tofu) binary runs use unless they ask for another version
    /// [default: terraform, from PATH].
    #[arg(long, env = "TERRACE_TERRAFORM_BIN", value_name = "PATH")]
    pub terraform_bin: Option<PathBuf>,
    /// Other versions, as DIR/VERSION/terraform or DIR/terraform_VERSION.
    #[arg(long, env = "TERRACE_TERRAFORM_VERSIONS_DIR", value_name = "DIR")]
    pub terraform_versions_dir: Option<PathBuf>,
    /// A filesystem mirror of providers (terraform's packed or unpacked layout): runs install
    /// the providers it holds from it, and only from it.
    #[arg(long, env = "TERRACE_PROVIDER_MIRROR_DIR", value_name = "DIR")]
    pub provider_mirror_dir: Option<PathBuf>,
    /// Install other registries' providers from those registries, as terraform does alone,
    /// not through this server's provider mirror (runs then need the internet).
    #[arg(long, env = "TERRACE_DIRECT_PROVIDERS")]
    pub direct_providers: bool,
    /// Where runners cache the binaries of the version catalogue [default: WORK_DIR/terrace-tools].
    #[arg(long, env = "TERRACE_TOOLS_CACHE_DIR", value_name = "DIR")]
    pub tools_cache_dir: Option<PathBuf>,
    /// Where runs get their temporary directories [default: the system's temporary directory].
    #[arg(long, env = "TERRACE_WORK_DIR", value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub confinement: ConfinementArgs,
}

/// How runs executed on this machine are confined; for the built-in listener and
/// `terrace listener` alike (docs/security.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfinementArgs {
    /// The user runs execute as when Terrace runs as root, UID or UID:GID [default: 65534:65534].
    #[arg(long, env = "TERRACE_RUN_AS", value_name = "UID[:GID]")]
    pub run_as: Option<String>,
    /// A path runs may read besides the system's (a provider mirror, tools that provisioners
    /// call); repeatable.
    #[arg(long = "run-read-path", value_name = "PATH")]
    pub run_read_paths: Vec<PathBuf>,
    /// Execute runs of every organization even where the kernel cannot confine them (no
    /// Landlock): they can then read whatever the runs' user can.
    #[arg(long, env = "TERRACE_ALLOW_UNCONFINED_RUNS")]
    pub allow_unconfined_runs: bool,
}

/// [`ConfinementArgs`], resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Confinement {
    /// `None` when not running as root.
    pub run_as: Option<RunAs>,
    pub read_paths: Vec<PathBuf>,
    pub allow_unconfined: bool,
}

impl Confinement {
    pub fn resolve(
        args: &ConfinementArgs,
        file_run_as: Option<&str>,
        file_read_paths: &[PathBuf],
        file_allow: Option<bool>,
    ) -> Result<Confinement> {
        let run_as = match args.run_as.as_deref().or(file_run_as) {
            Some(text) => Some(RunAs::parse(text).map_err(|e| anyhow::anyhow!("--run-as: {e}"))?),
            None => RunAs::default_for_current_user(),
        };
        let mut read_paths = file_read_paths.to_vec();
        read_paths.extend(args.run_read_paths.iter().cloned());
        Ok(Confinement {
            run_as,
            read_paths,
            allow_unconfined: args.allow_unconfined_runs || file_allow == Some(true),
        })
    }
}

/// `KEY=VALUE` of a repeatable option (`--storage-option`, `--to-storage-option`).
pub(crate) fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

/// The TOML file. Every key is optional; flags and environment variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    redis_url: Option<String>,
    redis_url_file: Option<PathBuf>,
    storage_url: Option<String>,
    #[serde(default)]
    storage_options: BTreeMap<String, String>,
    external_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    no_tls: Option<bool>,
    encryption_keys: Option<Vec<String>>,
    encryption_key_file: Option<PathBuf>,
    upload_url_ttl_seconds: Option<i64>,
    max_state_megabytes: Option<u64>,
    max_configuration_megabytes: Option<u64>,
    max_configuration_unpacked_megabytes: Option<u64>,
    max_configuration_entries: Option<u64>,
    listener: Option<bool>,
    listener_capacity: Option<u32>,
    terraform_bin: Option<PathBuf>,
    terraform_versions_dir: Option<PathBuf>,
    provider_mirror_dir: Option<PathBuf>,
    direct_providers: Option<bool>,
    tools_cache_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    run_as: Option<String>,
    #[serde(default)]
    run_read_paths: Vec<PathBuf>,
    allow_unconfined_runs: Option<bool>,
    #[serde(default)]
    limits: LimitsFile,
    login_token_ttl_days: Option<f64>,
    log_url_ttl_seconds: Option<u32>,
    #[serde(default)]
    oidc: OidcFile,
    #[serde(default)]
    saml: SamlFile,
    sso_disable_passwords: Option<bool>,
    audit_retention_days: Option<u32>,
    auto_destroy_check_seconds: Option<u32>,
    organization_creation: Option<String>,
    allow_private_notification_urls: Option<bool>,
    provider_mirror_upstreams: Option<Vec<String>>,
    tool_archive_upstreams: Option<Vec<String>>,
    tool_archive_upstream_keys: Option<Vec<String>>,
}

impl FileConfig {
    fn load(path: Option<&Path>) -> Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("parsing configuration file {}", path.display()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A certificate from the local CA in the data directory.
    LocalCa,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    Off,
}

/// Where the database is; shared by `serve` and the admin commands.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub backend: Backend,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub database: DatabaseConfig,
    pub listen: SocketAddr,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The Redis the replicas share, if any.
    pub redis_url: Option<String>,
    pub storage_url: String,
    pub storage_options: Vec<(String, String)>,
    pub external_url: Option<url::Url>,
    pub tls: TlsMode,
    /// Explicit keys; `None` means "the embedded key file" (SQLite only).
    pub encryption_keys: Option<Vec<String>>,
    pub admin_password: Option<String>,
    pub upload_url_ttl_seconds: i64,
    pub max_state_bytes: u64,
    pub max_configuration_bytes: u64,
    /// What a configuration may unpack to: checked on upload, and by the built-in listener's
    /// runners.
    pub configuration_limits: terrace_slug::Limits,
    pub log_format: String,
    /// `None` when this server executes no runs itself.
    pub listener: Option<BuiltinListener>,
    pub limits: Limits,
    /// How long `terraform login` tokens stay valid; `None`: forever.
    pub login_token_ttl: Option<chrono::Duration>,
    /// How long log URLs stay valid after they are issued and after their phase ends.
    pub log_url_ttl: chrono::Duration,
    /// Single sign-on with OpenID Connect, when configured.
    pub oidc: Option<OidcConfig>,
    /// Single sign-on with SAML, when configured.
    pub saml: Option<SamlConfig>,
    /// Password sign-in only for site administrators (with either single sign-on).
    pub sso_disable_passwords: bool,
    /// Organizations' providers may be on loopback and private addresses.
    pub organization_sso_loopback: bool,
    /// Days audit events are kept.
    pub audit_retention_days: u32,
    /// How often auto-destroy looks for due workspaces.
    pub auto_destroy_check: std::time::Duration,
    pub organization_creation: OrganizationCreation,
    /// Notifications may go to loopback and private addresses.
    pub allow_private_notification_urls: bool,
    /// How long a run task's service has to answer.
    pub run_task_timeout: std::time::Duration,
    /// Which registry serves each host's providers to the provider mirror.
    pub provider_mirror_upstreams: Vec<crate::provider_upstream::Upstream>,
    /// `--tool-archive-upstream`: each engine's release site.
    pub tool_archive_upstreams: Vec<(terrace_storage::model::Engine, String)>,
    /// `--tool-archive-upstream-key`: each engine's release key (ASCII armor).
    pub tool_archive_upstream_keys: Vec<(terrace_storage::model::Engine, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinListener {
    pub capacity: u32,
    pub terraform_bin: PathBuf,
    pub versions_dir: Option<PathBuf>,
    pub provider_mirror_dir: Option<PathBuf>,
    pub direct_providers: bool,
    /// `None`: `<work_dir>/terrace-tools`.
    pub tools_cache_dir: Option<PathBuf>,
    /// `None`: the system's temporary directory.
    pub work_dir: Option<PathBuf>,
    pub confinement: Confinement,
}

impl DatabaseConfig {
    pub fn resolve(args: &DatabaseArgs) -> Result<DatabaseConfig> {
        let file = FileConfig::load(args.config.as_deref())?;
        Self::from_layers(args, &file)
    }

    /// The blob store `serve` would use if not the data directory's: `flag` (its
    /// `--storage-url`), else the configuration file's.
    pub fn storage_url(args: &DatabaseArgs, flag: Option<String>) -> Result<Option<String>> {
        let file = FileConfig::load(args.config.as_deref())?;
        Ok(flag.or(file.storage_url))
    }

    fn from_layers(args: &DatabaseArgs, file: &FileConfig) -> Result<DatabaseConfig> {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("terrace-data"));
        let database_url = flag_or_config(
            Layer {
                name: "--database-url",
                value: args.database_url.clone(),
                file: args.database_url_file.as_deref(),
            },
            Layer {
                name: "database_url",
                value: file.database_url.clone(),
                file: file.database_url_file.as_deref(),
            },
        )?
        .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("terrace.db").display()));
        let backend = Backend::of_url(&database_url)?;
        Ok(DatabaseConfig {
            data_dir,
            database_url,
            backend,
        })
    }
}

impl ServerConfig {
    pub fn resolve(args: &ServeArgs) -> Result<ServerConfig> {
        let file = FileConfig::load(args.database.config.as_deref())?;
        let database = DatabaseConfig::from_layers(&args.database, &file)?;
        let listen_text = args
            .listen
            .clone()
            .or_else(|| file.listen.clone())
            .unwrap_or_else(|| "127.0.0.1:8443".into());
        let listen = listen_text
            .to_socket_addrs()
            .with_context(|| format!("--listen {listen_text}"))?
            .next()
            .with_context(|| format!("--listen {listen_text} resolves to no address"))?;
        let metrics_listen = match args
            .metrics_listen
            .clone()
            .or_else(|| file.metrics_listen.clone())
        {
            Some(text) => Some(
                text.to_socket_addrs()
                    .with_context(|| format!("--metrics-listen {text}"))?
                    .next()
                    .with_context(|| format!("--metrics-listen {text} resolves to no address"))?,
            ),
            None => None,
        };
        let storage_url = args
            .storage_url
            .clone()
            .or_else(|| file.storage_url.clone())
            .unwrap_or_else(|| database.data_dir.join("blobs").display().to_string());
        let mut storage_options: Vec<(String, String)> =
            file.storage_options.clone().into_iter().collect();
        storage_options.extend(args.storage_options.iter().cloned());
        let external_url = args
            .external_url
            .clone()
            .or_else(|| file.external_url.clone())
            .map(|text| {
                let url =
                    url::Url::parse(&text).with_context(|| format!("--external-url {text}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    bail!("--external-url must be an http(s) URL with a host, got {text}");
                }
                Ok(url)
            })
            .transpose()?;
        let tls = if args.no_tls || file.no_tls == Some(true) {
            TlsMode::Off
        } else {
            match (
                args.tls_cert.clone().or_else(|| file.tls_cert.clone()),
                args.tls_key.clone().or_else(|| file.tls_key.clone()),
            ) {
                (Some(cert), Some(key)) => TlsMode::Files { cert, key },
                (None, None) => TlsMode::LocalCa,
                _ => bail!("a TLS certificate needs its key and the other way round"),
            }
        };
        let encryption_keys = match value_or_file(
            "--encryption-key",
            args.encryption_key.clone(),
            args.encryption_key_file.as_deref(),
        )? {
            Some(keys) => Some(split_keys(&keys)),
            // The file lists its keys; the key file holds them comma-separated.
            None => match (&file.encryption_keys, &file.encryption_key_file) {
                (Some(_), Some(_)) => {
                    bail!("give encryption_keys or encryption_key_file, not both")
                }
                (Some(keys), None) => Some(keys.clone()),
                (None, path) => value_or_file("encryption_key", None, path.as_deref())?
                    .map(|keys| split_keys(&keys)),
            },
        };
        if encryption_keys.as_ref().is_some_and(|k| k.is_empty()) {
            bail!("the encryption key setting is empty");
        }
        if encryption_keys.is_none() && database.backend == Backend::Postgres {
            bail!(
                "an encryption key is required with PostgreSQL: set --encryption-key, \
                 TERRACE_ENCRYPTION_KEY or TERRACE_ENCRYPTION_KEY_FILE (generate one with `terrace admin generate-key`)"
            );
        }
        // Read from the environment only: the first start's setup has no flag.
        let admin_password = value_or_file(
            "TERRACE_ADMIN_PASSWORD",
            std::env::var("TERRACE_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()),
            std::env::var_os("TERRACE_ADMIN_PASSWORD_FILE")
                .map(PathBuf::from)
                .as_deref(),
        )?;
        let listener = BuiltinListener::resolve(&args.listener, &file)?;
        let log_url_ttl = match args.log_url_ttl_seconds.or(file.log_url_ttl_seconds) {
            Some(0) => bail!("--log-url-ttl-seconds must be at least 1"),
            seconds => chrono::Duration::seconds(seconds.unwrap_or(600).into()),
        };
        let audit_retention_days = match args.audit_retention_days.or(file.audit_retention_days) {
            Some(0) => bail!("--audit-retention-days must be at least 1"),
            days => days.unwrap_or(terrace_domain::audit::DEFAULT_RETENTION_DAYS),
        };
        let run_task_timeout = match args.run_task_timeout_seconds {
            Some(0) => bail!("--run-task-timeout-seconds must be at least 1"),
            seconds => std::time::Duration::from_secs(seconds.unwrap_or(600).into()),
        };
        let auto_destroy_check = match args
            .auto_destroy_check_seconds
            .or(file.auto_destroy_check_seconds)
        {
            Some(0) => bail!("--auto-destroy-check-seconds must be at least 1"),
            seconds => std::time::Duration::from_secs(seconds.unwrap_or(60).into()),
        };
        let organization_creation = args
            .organization_creation
            .as_deref()
            .or(file.organization_creation.as_deref())
            .map(|text| {
                text.parse::<OrganizationCreation>()
                    .map_err(|e| anyhow::anyhow!("--organization-creation: {e}"))
            })
            .transpose()?
            .unwrap_or_default();
        let upstreams = if args.provider_mirror_upstreams.is_empty() {
            file.provider_mirror_upstreams.clone()
        } else {
            Some(args.provider_mirror_upstreams.clone())
        };
        let provider_mirror_upstreams = crate::provider_upstream::parse_upstreams(upstreams)
            .context("--provider-mirror-upstream")?;
        let redis_url = flag_or_config(
            Layer {
                name: "--redis-url",
                value: args.redis_url.clone(),
                file: args.redis_url_file.as_deref(),
            },
            Layer {
                name: "redis_url",
                value: file.redis_url.clone(),
                file: file.redis_url_file.as_deref(),
            },
        )?;
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("the Redis URL must start with redis:// or rediss://");
            }
        }
        Ok(ServerConfig {
            database,
            listen,
            metrics_listen,
            redis_url,
            storage_url,
            storage_options,
            external_url,
            tls,
            encryption_keys,
            admin_password,
            upload_url_ttl_seconds: file.upload_url_ttl_seconds.unwrap_or(1800).max(1),
            max_state_bytes: file.max_state_megabytes.unwrap_or(2048).max(1) << 20,
            max_configuration_bytes: file.max_configuration_megabytes.unwrap_or(512).max(1) << 20,
            configuration_limits: configuration_limits(&file),
            log_format: args.log_format.clone(),
            listener,
            limits: Limits::resolve(&args.limits, &file.limits)?,
            login_token_ttl: login_token_ttl(
                args.login_token_ttl_days.or(file.login_token_ttl_days),
            )?,
            log_url_ttl,
            oidc: OidcConfig::resolve(&args.oidc, &file.oidc)?,
            saml: SamlConfig::resolve(&args.saml, &file.saml)?,
            sso_disable_passwords: args.sso_disable_passwords
                || args.oidc.oidc_disable_passwords
                || file.sso_disable_passwords == Some(true)
                || file.oidc.disable_passwords == Some(true),
            organization_sso_loopback: args.oidc.oidc_organization_loopback,
            audit_retention_days,
            auto_destroy_check,
            run_task_timeout,
            organization_creation,
            allow_private_notification_urls: args.allow_private_notification_urls
                || file.allow_private_notification_urls == Some(true),
            provider_mirror_upstreams,
            tool_archive_upstreams: tool_archive_upstreams(
                if args.tool_archive_upstreams.is_empty() {
                    file.tool_archive_upstreams.as_deref().unwrap_or_default()
                } else {
                    &args.tool_archive_upstreams
                },
            )?,
            tool_archive_upstream_keys: tool_archive_upstream_keys(
                if args.tool_archive_upstream_keys.is_empty() {
                    file.tool_archive_upstream_keys
                        .as_deref()
                        .unwrap_or_default()
                } else {
                    &args.tool_archive_upstream_keys
                },
            )?,
        })
    }
}

/// `--tool-archive-upstream-key ENGINE=FILE`, each engine once, the file an OpenPGP public key.
fn tool_archive_upstream_keys(
    entries: &[String],
) -> Result<Vec<(terrace_storage::model::Engine, String)>> {
    let mut keys: Vec<(terrace_storage::model::Engine, String)> = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (engine, path) = entry.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--tool-archive-upstream-key {entry:?}: use ENGINE=FILE")
        })?;
        let engine: terrace_storage::model::Engine = engine
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("--tool-archive-upstream-key: {e}"))?;
        let armor = std::fs::read_to_string(path.trim())
            .with_context(|| format!("--tool-archive-upstream-key: reading {path}"))?;
        terrace_domain::providers::gpg::key_id(&armor)
            .map_err(|e| anyhow::anyhow!("--tool-archive-upstream-key {path}: {e}"))?;
        if keys.iter().any(|(e, _)| *e == engine) {
            bail!("--tool-archive-upstream-key names {engine} twice");
        }
        keys.push((engine, armor));
    }
    Ok(keys)
}

/// `--tool-archive-upstream ENGINE=URL`, each engine once, an http(s) URL.
fn tool_archive_upstreams(
    entries: &[String],
) -> Result<Vec<(terrace_storage::model::Engine, String)>> {
    let mut upstreams: Vec<(terrace_storage::model::Engine, String)> = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (engine, url) = entry.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--tool-archive-upstream {entry:?}: use ENGINE=URL, like terraform=https://releases.hashicorp.com/terraform")
        })?;
        let engine: terrace_storage::model::Engine = engine
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("--tool-archive-upstream: {e}"))?;
        let url = url.trim().trim_end_matches('/');
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("--tool-archive-upstream {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--tool-archive-upstream {url:?}: an http(s) URL");
        }
        if upstreams.iter().any(|(e, _)| *e == engine) {
            bail!("--tool-archive-upstream names {engine} twice");
        }
        upstreams.push((engine, url.to_string()));
    }
    Ok(upstreams)
}

/// `--login-token-ttl-days` as a duration: 30 days unless set, none for 0.
fn login_token_ttl(days: Option<f64>) -> Result<Option<chrono::Duration>> {
    const MAX_DAYS: f64 = 36_500.0;
    let days = days.unwrap_or(30.0);
    if !days.is_finite() || !(0.0..=MAX_DAYS).contains(&days) {
        bail!("--login-token-ttl-days must be between 0 (never expire) and {MAX_DAYS}, got {days}");
    }
    if days == 0.0 {
        return Ok(None);
    }
    let seconds = (days * 86_400.0).round() as i64;
    if seconds < 1 {
        bail!("--login-token-ttl-days {days} is shorter than a second");
    }
    Ok(Some(chrono::Duration::seconds(seconds)))
}

impl BuiltinListener {
    fn resolve(args: &BuiltinListenerArgs, file: &FileConfig) -> Result<Option<BuiltinListener>> {
        if args.no_listener || file.listener == Some(false) {
            return Ok(None);
        }
        let capacity = args
            .listener_capacity
            .or(file.listener_capacity)
            .unwrap_or(2);
        if capacity == 0 {
            bail!("--listener-capacity must be at least 1 (use --no-listener to execute no runs)");
        }
        Ok(Some(BuiltinListener {
            capacity,
            terraform_bin: args
                .terraform_bin
                .clone()
                .or_else(|| file.terraform_bin.clone())
                .unwrap_or_else(|| PathBuf::from("terraform")),
            versions_dir: args
                .terraform_versions_dir
                .clone()
                .or_else(|| file.terraform_versions_dir.clone()),
            provider_mirror_dir: args
                .provider_mirror_dir
                .clone()
                .or_else(|| file.provider_mirror_dir.clone()),
            direct_providers: args.direct_providers || file.direct_providers == Some(true),
            tools_cache_dir: args
                .tools_cache_dir
                .clone()
                .or_else(|| file.tools_cache_dir.clone()),
            // Never inside the data directory: runs must not be near the server's files.
            work_dir: args.work_dir.clone().or_else(|| file.work_dir.clone()),
            confinement: Confinement::resolve(
                &args.confinement,
                file.run_as.as_deref(),
                &file.run_read_paths,
                file.allow_unconfined_runs,
            )?,
        }))
    }
}

fn configuration_limits(file: &FileConfig) -> terrace_slug::Limits {
    let defaults = terrace_slug::Limits::default();
    terrace_slug::Limits {
        max_unpacked_bytes: file
            .max_configuration_unpacked_megabytes
            .map_or(defaults.max_unpacked_bytes, |mb| mb.max(1) << 20),
        max_entries: file
            .max_configuration_entries
            .map_or(defaults.max_entries, |n| n.max(1)),
        ..defaults
    }
}

// ---------------------------------------------------------------------------------------------
// Abuse limits: rate limits, sign-in throttling, HTTP timeouts and connection caps. Flags and
// `TERRACE_*` variables, or the `[limits]` table of the TOML file.

use std::time::Duration;

use terrace_auth::throttle::Quota;
use terrace_domain::login::SignInLimits;

use crate::limits::Cidr;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Requests per second per API token, as HCP Terraform allows; 0 turns it off [default: 30].
    #[arg(long, env = "TERRACE_RATE_LIMIT", value_name = "PER_SECOND")]
    pub rate_limit: Option<u32>,
    /// Requests an API token may send at once before the rate applies [default: 60].
    #[arg(long, env = "TERRACE_RATE_LIMIT_BURST", value_name = "N")]
    pub rate_limit_burst: Option<u32>,
    /// Requests per second per runner or agent token and per signed URL (log reads, uploads);
    /// 0 turns it off [default: 100].
    #[arg(long, env = "TERRACE_RATE_LIMIT_RUNNER", value_name = "PER_SECOND")]
    pub rate_limit_runner: Option<u32>,
    /// Burst of --rate-limit-runner [default: 200].
    #[arg(long, env = "TERRACE_RATE_LIMIT_RUNNER_BURST", value_name = "N")]
    pub rate_limit_runner_burst: Option<u32>,
    /// Requests per second per client address without a valid token (sign-in pages, the token
    /// endpoint, discovery, invalid tokens); 0 turns it off [default: 10].
    #[arg(long, env = "TERRACE_RATE_LIMIT_ANONYMOUS", value_name = "PER_SECOND")]
    pub rate_limit_anonymous: Option<u32>,
    /// Burst of --rate-limit-anonymous [default: 40].
    #[arg(long, env = "TERRACE_RATE_LIMIT_ANONYMOUS_BURST", value_name = "N")]
    pub rate_limit_anonymous_burst: Option<u32>,
    /// Proxies (CIDRs, comma-separated) whose X-Forwarded-For is believed: the client is the
    /// right-most address in it that is not one of them [default: none, the peer address].
    #[arg(
        long,
        env = "TERRACE_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,
    /// Failed sign-ins per account before each further attempt waits (an address gets 4 times
    /// as many); 0 turns it off [default: 5].
    #[arg(long, env = "TERRACE_LOGIN_FAILURES", value_name = "N")]
    pub login_failures: Option<u32>,
    /// The first wait after too many failed sign-ins; it doubles with each further failure
    /// [default: 30].
    #[arg(long, env = "TERRACE_LOGIN_BACKOFF_SECONDS", value_name = "SECONDS")]
    pub login_backoff_seconds: Option<u64>,
    /// The longest wait after failed sign-ins [default: 900].
    #[arg(
        long,
        env = "TERRACE_LOGIN_BACKOFF_MAX_SECONDS",
        value_name = "SECONDS"
    )]
    pub login_backoff_max_seconds: Option<u64>,
    /// Password checks running at once; more sign-ins wait (up to 5 s, then 503)
    /// [default: the number of cores].
    #[arg(long, env = "TERRACE_PASSWORD_HASH_CONCURRENCY", value_name = "N")]
    pub password_hash_concurrency: Option<usize>,
    /// Time allowed for a request's headers (and for a TLS handshake, up to 10 s); HTTP/1.1
    /// connections idle this long between requests are closed too [default: 30].
    #[arg(long, env = "TERRACE_HEADER_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Connections with no request in progress and no traffic for this long are closed
    /// [default: 120].
    #[arg(long, env = "TERRACE_IDLE_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
    /// A request body (an upload) that sends nothing for this long is abandoned
    /// [default: 60].
    #[arg(long, env = "TERRACE_BODY_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// Connections served at once; more are closed as they arrive [default: 1024].
    #[arg(long, env = "TERRACE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
}

/// The `[limits]` table of the TOML file: the same settings as [`LimitArgs`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    rate_limit: Option<u32>,
    rate_limit_burst: Option<u32>,
    rate_limit_runner: Option<u32>,
    rate_limit_runner_burst: Option<u32>,
    rate_limit_anonymous: Option<u32>,
    rate_limit_anonymous_burst: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    login_failures: Option<u32>,
    login_backoff_seconds: Option<u64>,
    login_backoff_max_seconds: Option<u64>,
    password_hash_concurrency: Option<usize>,
    header_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
}

/// The abuse limits in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Per user API token; `None`: unlimited.
    pub token: Option<Quota>,
    /// Per agent or job token, and per signed URL.
    pub runner: Option<Quota>,
    /// Per client address, for requests without a valid token.
    pub anonymous: Option<Quota>,
    pub trusted_proxies: Vec<Cidr>,
    pub sign_in: SignInLimits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::resolve(&LimitArgs::default(), &LimitsFile::default())
            .expect("the defaults are valid")
    }
}

impl Limits {
    fn resolve(args: &LimitArgs, file: &LimitsFile) -> Result<Limits> {
        macro_rules! pick {
            ($name:ident, $default:expr) => {
                args.$name.or(file.$name).unwrap_or($default)
            };
        }
        let seconds = |value: u64, flag: &str| {
            if value == 0 {
                bail!("--{flag} must be at least 1 second");
            }
            Ok(Duration::from_secs(value))
        };
        let trusted_proxies = args
            .trusted_proxies
            .clone()
            .or_else(|| file.trusted_proxies.clone())
            .unwrap_or_default()
            .iter()
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
            .map(|text| {
                text.parse::<Cidr>()
                    .map_err(|e| anyhow::anyhow!("--trusted-proxies {text}: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let sign_in = SignInLimits {
            free_failures: pick!(login_failures, 5),
            backoff: seconds(pick!(login_backoff_seconds, 30), "login-backoff-seconds")?,
            max_backoff: seconds(
                pick!(login_backoff_max_seconds, 900),
                "login-backoff-max-seconds",
            )?,
            hash_concurrency: pick!(
                password_hash_concurrency,
                SignInLimits::default().hash_concurrency
            )
            .max(1),
            ..SignInLimits::default()
        };
        Ok(Limits {
            token: Quota::new(pick!(rate_limit, 30), pick!(rate_limit_burst, 60)),
            runner: Quota::new(
                pick!(rate_limit_runner, 100),
                pick!(rate_limit_runner_burst, 200),
            ),
            anonymous: Quota::new(
                pick!(rate_limit_anonymous, 10),
                pick!(rate_limit_anonymous_burst, 40),
            ),
            trusted_proxies,
            sign_in,
            header_timeout: seconds(pick!(header_timeout_seconds, 30), "header-timeout-seconds")?,
            idle_timeout: seconds(pick!(idle_timeout_seconds, 120), "idle-timeout-seconds")?,
            body_timeout: seconds(pick!(body_timeout_seconds, 60), "body-timeout-seconds")?,
            max_connections: pick!(max_connections, 1024).max(1),
        })
    }
}

#[cfg(test)]
mod saml_tests {
    use super::*;

    fn base_args(dir: &Path) -> ServeArgs {
        ServeArgs {
            database: DatabaseArgs {
                data_dir: Some(dir.join("data")),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn saml_comes_from_flags_or_the_saml_table_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = base_args(dir.path());
        assert!(ServerConfig::resolve(&args).unwrap().saml.is_none());
        args.saml.saml_idp_metadata_url = Some("https://idp.example/metadata".into());
        let saml = ServerConfig::resolve(&args).unwrap().saml.unwrap();
        assert_eq!(
            saml.idp_metadata,
            SamlMetadataSource::Url("https://idp.example/metadata".into())
        );
        assert_eq!(saml.sp_entity_id, None);
        assert_eq!(
            (
                saml.username_attribute.as_str(),
                saml.email_attribute.as_str(),
                saml.groups_attribute.as_str()
            ),
            ("uid", "email", "groups")
        );
        // Metadata over plain http only from this machine: it carries the signing keys.
        args.saml.saml_idp_metadata_url = Some("http://idp.example/metadata".into());
        assert!(ServerConfig::resolve(&args).is_err());
        args.saml.saml_idp_metadata_url = Some("http://127.0.0.1:9/metadata".into());
        assert!(ServerConfig::resolve(&args).is_ok());
        args.saml.saml_idp_metadata_url = None;
        args.saml.saml_sp_entity_id = Some("urn:x".into());
        assert!(
            ServerConfig::resolve(&args).is_err(),
            "an SP entity ID without an identity provider is a mistake"
        );

        let file = dir.path().join("terrace.toml");
        std::fs::write(
            &file,
            "sso_disable_passwords = true\n[saml]\nidp_metadata_file = \"/etc/idp.xml\"\n\
             sp_entity_id = \"urn:terrace\"\ngroups_attribute = \"memberOf\"\n",
        )
        .unwrap();
        let mut args = base_args(dir.path());
        args.database.config = Some(file.clone());
        let config = ServerConfig::resolve(&args).unwrap();
        let saml = config.saml.unwrap();
        assert_eq!(
            saml.idp_metadata,
            SamlMetadataSource::File("/etc/idp.xml".into())
        );
        assert_eq!(saml.sp_entity_id.as_deref(), Some("urn:terrace"));
        assert_eq!(saml.groups_attribute, "memberOf");
        assert!(config.sso_disable_passwords);
        std::fs::write(&file, "[saml]\nidp_metadat_url = \"x\"\n").unwrap();
        assert!(
            ServerConfig::resolve(&args).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn one_setting_disables_passwords_for_both_protocols() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        for flag in ["--sso-disable-passwords", "--oidc-disable-passwords"] {
            let cli = Cli::try_parse_from(["terrace", flag]).unwrap();
            assert!(cli.serve.sso_disable_passwords, "{flag}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(&file, "[oidc]\ndisable_passwords = true\n").unwrap();
        let mut args = base_args(dir.path());
        args.database.config = Some(file);
        assert!(ServerConfig::resolve(&args).unwrap().sso_disable_passwords);
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn limits_come_from_flags_or_the_limits_table_and_default_to_hcp_terraforms() {
        let defaults = Limits::default();
        assert_eq!(defaults.token, Quota::new(30, 60));
        assert_eq!(defaults.runner, Quota::new(100, 200));
        assert_eq!(defaults.anonymous, Quota::new(10, 40));
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.sign_in.free_failures, 5);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(
            &file,
            "[limits]\nrate_limit = 5\nrate_limit_burst = 6\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             header_timeout_seconds = 7\nlogin_failures = 3\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                config: Some(file.clone()),
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            ..Default::default()
        };
        args.limits.rate_limit_burst = Some(9);
        args.limits.rate_limit_anonymous = Some(0);
        args.limits.max_connections = Some(10);
        let limits = ServerConfig::resolve(&args).unwrap().limits;
        assert_eq!(limits.token, Quota::new(5, 9), "flags win over the file");
        assert_eq!(limits.anonymous, None, "0 turns a limit off");
        assert_eq!(limits.runner, Quota::new(100, 200));
        assert_eq!(limits.trusted_proxies, vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(limits.header_timeout, Duration::from_secs(7));
        assert_eq!(limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(limits.sign_in.free_failures, 3);
        assert_eq!(limits.max_connections, 10);

        args.limits.trusted_proxies = Some(vec!["10.0.0.0/99".into()]);
        let err = format!("{:#}", ServerConfig::resolve(&args).unwrap_err());
        assert!(err.contains("--trusted-proxies"), "{err}");
        args.limits.trusted_proxies = None;
        args.limits.body_timeout_seconds = Some(0);
        assert!(ServerConfig::resolve(&args).is_err());
        std::fs::write(&file, "[limits]\nrate_limt = 5\n").unwrap();
        args.limits.body_timeout_seconds = None;
        assert!(
            ServerConfig::resolve(&args).is_err(),
            "unknown keys in [limits] are refused"
        );
    }
}

/// Keys separated by commas or lines, newest first.
fn split_keys(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nstorage_url = \"s3://bucket/prefix\"\n\
             external_url = \"https://tf.example.com\"\nmax_configuration_entries = 500\n\
             [storage_options]\naws_region = \"eu-west-1\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            database: DatabaseArgs {
                config: Some(file),
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            listen: Some("127.0.0.1:9443".into()),
            ..Default::default()
        };
        let config = ServerConfig::resolve(&args).unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.storage_url, "s3://bucket/prefix");
        assert_eq!(
            config.storage_options,
            vec![("aws_region".into(), "eu-west-1".into())]
        );
        assert_eq!(
            config.external_url.unwrap().host_str(),
            Some("tf.example.com")
        );
        assert_eq!(config.database.backend, Backend::Sqlite);
        assert!(config.database.database_url.ends_with("data/terrace.db"));
        assert_eq!(config.tls, TlsMode::LocalCa);
        assert!(config.encryption_keys.is_none());
        assert_eq!(config.configuration_limits.max_entries, 500);
        assert_eq!(config.configuration_limits.max_unpacked_bytes, 2 << 30);
    }

    #[test]
    fn postgres_needs_a_key_and_keys_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                database_url: Some("postgres://u:secret@db/terrace".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = ServerConfig::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("encryption key is required"), "{err}");
        let keys = dir.path().join("keys");
        std::fs::write(&keys, "new-key\nold-key\n").unwrap();
        args.encryption_key_file = Some(keys);
        let config = ServerConfig::resolve(&args).unwrap();
        assert_eq!(config.encryption_keys.unwrap(), vec!["new-key", "old-key"]);
    }

    #[test]
    fn audit_events_are_kept_a_year_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(&file, "audit_retention_days = 90\n").unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            ..Default::default()
        };
        let days = |args: &ServeArgs| ServerConfig::resolve(args).map(|c| c.audit_retention_days);
        assert_eq!(days(&args).unwrap(), 365);
        args.database.config = Some(file);
        assert_eq!(days(&args).unwrap(), 90);
        args.audit_retention_days = Some(7);
        assert_eq!(days(&args).unwrap(), 7, "the flag wins over the file");
        args.audit_retention_days = Some(0);
        assert!(days(&args).is_err());
    }

    #[test]
    fn login_tokens_expire_after_30_days_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(&file, "login_token_ttl_days = 7\n").unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            ..Default::default()
        };
        let ttl = |args: &ServeArgs| ServerConfig::resolve(args).map(|c| c.login_token_ttl);
        assert_eq!(ttl(&args).unwrap(), Some(chrono::Duration::days(30)));
        args.database.config = Some(file);
        assert_eq!(ttl(&args).unwrap(), Some(chrono::Duration::days(7)));
        args.login_token_ttl_days = Some(0.5);
        assert_eq!(ttl(&args).unwrap(), Some(chrono::Duration::hours(12)));
        args.login_token_ttl_days = Some(0.0);
        assert_eq!(ttl(&args).unwrap(), None, "0: never");
        for bad in [-1.0, f64::NAN, 1e9] {
            args.login_token_ttl_days = Some(bad);
            assert!(ttl(&args).is_err(), "{bad}");
        }
    }

    #[test]
    fn tool_archive_upstreams_are_engine_and_url() {
        use terrace_storage::model::Engine;
        let parsed = tool_archive_upstreams(&[
            "terraform=https://releases.hashicorp.com/terraform/".into(),
            " tofu=https://github.com/opentofu/opentofu/releases/download".into(),
        ])
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                (
                    Engine::Terraform,
                    "https://releases.hashicorp.com/terraform".into()
                ),
                (
                    Engine::Tofu,
                    "https://github.com/opentofu/opentofu/releases/download".into()
                ),
            ]
        );
        for bad in [
            "terraform",
            "pulumi=https://x",
            "terraform=ftp://x",
            "terraform=not a url",
        ] {
            assert!(tool_archive_upstreams(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(
            tool_archive_upstreams(&["tofu=https://a".into(), "tofu=https://b".into()]).is_err()
        );
    }

    #[test]
    fn organization_creation_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(&file, "organization_creation = \"site-admins\"\n").unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            ..Default::default()
        };
        let who = |args: &ServeArgs| ServerConfig::resolve(args).map(|c| c.organization_creation);
        assert_eq!(who(&args).unwrap(), OrganizationCreation::Anyone);
        args.database.config = Some(file.clone());
        assert_eq!(who(&args).unwrap(), OrganizationCreation::SiteAdmins);
        args.organization_creation = Some("anyone".into());
        assert_eq!(who(&args).unwrap(), OrganizationCreation::Anyone);
        std::fs::write(&file, "organization_creation = \"admins\"\n").unwrap();
        args.organization_creation = None;
        let err = format!("{:#}", who(&args).unwrap_err());
        assert!(err.contains("--organization-creation"), "{err}");
    }

    #[test]
    fn the_provider_mirror_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terrace.toml");
        std::fs::write(&file, "provider_mirror_dir = \"/srv/file\"\n").unwrap();
        let mut args = ServeArgs {
            database: DatabaseArgs {
                data_dir: Some(dir.path().join("data")),
                ..Default::default()
            },
            ..Default::default()
        };
        let mirror = |args: &ServeArgs| {
            let config = ServerConfig::resolve(args).unwrap();
            config.listener.unwrap().provider_mirror_dir
        };
        assert_eq!(mirror(&args), None);
        args.database.config = Some(file);
        assert_eq!(mirror(&args), Some(PathBuf::from("/srv/file")));
        args.listener.provider_mirror_dir = Some("/srv/flag".into());
        assert_eq!(mirror(&args), Some(PathBuf::from("/srv/flag")));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let args = ServeArgs {
            database: DatabaseArgs {
                config: Some(file),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(ServerConfig::resolve(&args).is_err());
    }
}
