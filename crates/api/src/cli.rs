//! The `terrace` command line: `serve`; `listener` and `runner`, which execute runs away from
//! the server; and `admin` commands that scripts use to create users and tokens without a
//! browser.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use terrace_domain::site_admin::UserAction;
use terrace_domain::users::NewUser;
use terrace_domain::{Services, Settings};
use terrace_storage::blob::{BlobStore, Keyring};
use terrace_storage::SqlStore;

use crate::config::{
    Confinement, ConfinementArgs, DatabaseArgs, DatabaseConfig, ServeArgs, ServerConfig,
};
use crate::secrets::value_or_file;

#[derive(Parser, Debug)]
#[command(
    name = "terrace",
    version,
    about = "A self-hosted platform server for Terraform and OpenTofu"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Claim runs from Terrace servers and execute them on this machine.
    Listener(Box<ListenerArgs>),
    /// Execute one job; listeners start it with TERRACE_SERVER_URL, TERRACE_JOB_TOKEN and
    /// the other TERRACE_* variables of a runner.
    Runner,
    /// Check a server end to end through its public API: plan a one-resource configuration
    /// in a workspace kept for it (`helm test` runs this). Exits 0 only if the plan succeeds.
    SmokeTest(Box<SmokeTestArgs>),
    /// Administrative tasks on the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(clap::Args, Debug)]
struct ListenerArgs {
    /// The server's URL, e.g. https://terrace.example.com.
    #[arg(long, env = "TERRACE_SERVER_URL")]
    server_url: String,
    /// The listener's agent token (`terrace admin listener-token`).
    #[arg(long, env = "TERRACE_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the agent token, instead of --token.
    #[arg(long, env = "TERRACE_AGENT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A PEM file of CAs to trust besides the system's (the server's local CA, say).
    #[arg(long, env = "TERRACE_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The name the server shows for this listener [default: the hostname].
    #[arg(long, env = "TERRACE_LISTENER_NAME")]
    name: Option<String>,
    /// Runs executed at once.
    #[arg(long, env = "TERRACE_LISTENER_CAPACITY", default_value_t = 1)]
    capacity: u32,
    /// The terraform (or tofu) binary runs use unless they ask for another version.
    #[arg(long, env = "TERRACE_TERRAFORM_BIN", default_value = "terraform")]
    terraform_bin: PathBuf,
    /// Other versions, as DIR/VERSION/terraform or DIR/terraform_VERSION.
    #[arg(long, env = "TERRACE_TERRAFORM_VERSIONS_DIR", value_name = "DIR")]
    terraform_versions_dir: Option<PathBuf>,
    /// A filesystem mirror of providers (terraform's packed or unpacked layout): runs install
    /// the providers it holds from it, and only from it. With the kubernetes executor, a path
    /// inside the runner pods.
    #[arg(long, env = "TERRACE_PROVIDER_MIRROR_DIR", value_name = "DIR")]
    provider_mirror_dir: Option<PathBuf>,
    /// Install other registries' providers from those registries, as terraform does alone,
    /// not through the server's provider mirror (runs then need the internet).
    #[arg(long, env = "TERRACE_DIRECT_PROVIDERS")]
    direct_providers: bool,
    /// Where runners cache the binaries of the version catalogue [default: WORK_DIR/terrace-tools].
    #[arg(long, env = "TERRACE_TOOLS_CACHE_DIR", value_name = "DIR")]
    tools_cache_dir: Option<PathBuf>,
    /// Where runs get their temporary directories [default: the system's temporary directory].
    #[arg(long, env = "TERRACE_WORK_DIR", value_name = "DIR")]
    work_dir: Option<PathBuf>,
    #[arg(long, env = "TERRACE_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// The most a configuration may unpack to; runs of larger ones fail.
    #[arg(
        long,
        env = "TERRACE_MAX_CONFIGURATION_UNPACKED_MEGABYTES",
        default_value_t = 2048
    )]
    max_configuration_unpacked_megabytes: u64,
    /// The most files, directories and symlinks a configuration may have.
    #[arg(
        long,
        env = "TERRACE_MAX_CONFIGURATION_ENTRIES",
        default_value_t = 100_000
    )]
    max_configuration_entries: u64,
    /// How runs are executed: `local` (runner processes on this machine) or `kubernetes`
    /// (a Kubernetes Job per run phase).
    #[arg(long, env = "TERRACE_EXECUTOR", default_value = "local", value_parser = ["local", "kubernetes"])]
    executor: String,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    confinement: ConfinementArgs,
}

#[derive(clap::Args, Debug)]
struct SmokeTestArgs {
    /// The server's URL, e.g. https://terrace.example.com.
    #[arg(long, env = "TERRACE_SERVER_URL")]
    server_url: String,
    /// An API token (a user's or a team's) that may queue plans in the organization.
    #[arg(long, env = "TERRACE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the API token, instead of --token.
    #[arg(long, env = "TERRACE_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A PEM file of CAs to trust besides the system's (the server's local CA, say).
    #[arg(long, env = "TERRACE_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The organization of the workspace.
    #[arg(long, default_value = "default")]
    organization: String,
    /// The workspace the plans go to, created if missing and reused by every test.
    #[arg(long, default_value = "terrace-smoke-test")]
    workspace: String,
    /// Seconds the whole test may take; a run still waiting then is canceled.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
}

/// The `kubernetes` executor's settings: a TOML file (the keys of
/// `terrace_runner_listener::kubernetes::KubernetesConfig`), the flags overriding it.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Kubernetes executor")]
struct KubeArgs {
    /// A TOML file with the settings below (image = "...", node-selector = { ... },
    /// tolerations = [ { key = "...", effect = "NoSchedule" } ], ...).
    #[arg(long, env = "TERRACE_KUBE_CONFIG", value_name = "FILE")]
    kube_config: Option<PathBuf>,
    /// The kubeconfig to use [default: KUBECONFIG, ~/.kube/config, or the pod's service account].
    #[arg(long, value_name = "FILE")]
    kube_kubeconfig: Option<PathBuf>,
    /// The namespace of the runner Jobs [default: the kubeconfig's, or the pod's].
    #[arg(long, env = "TERRACE_KUBE_NAMESPACE")]
    kube_namespace: Option<String>,
    /// The runner image (with `terrace` and terraform) [default: terrace:VERSION].
    #[arg(long, env = "TERRACE_KUBE_IMAGE")]
    kube_image: Option<String>,
    #[arg(long, value_name = "POLICY")]
    kube_image_pull_policy: Option<String>,
    /// The runner container's command [default: terrace runner]; repeat for each word.
    #[arg(long = "kube-command", value_name = "WORD")]
    kube_command: Vec<String>,
    #[arg(long, value_name = "NAME")]
    kube_service_account: Option<String>,
    /// KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kube_node_selector: Vec<String>,
    /// KEY[=VALUE][:EFFECT], or * for everything; repeatable.
    #[arg(long, value_name = "TOLERATION")]
    kube_toleration: Vec<String>,
    /// A label of the Jobs and pods, KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kube_label: Vec<String>,
    /// An annotation of the Jobs and pods, KEY=VALUE; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    kube_annotation: Vec<String>,
    /// A resource request of the runner container, e.g. cpu=500m; repeatable.
    #[arg(long, value_name = "RESOURCE=QUANTITY")]
    kube_request: Vec<String>,
    /// A resource limit of the runner container, e.g. memory=2Gi; repeatable.
    #[arg(long, value_name = "RESOURCE=QUANTITY")]
    kube_limit: Vec<String>,
    /// Seconds a pod may stay unschedulable or without its image before its run fails
    /// [default: 120].
    #[arg(long, value_name = "SECONDS")]
    kube_pending_timeout: Option<u64>,
    /// Seconds a runner pod gets to stop when its Job is deleted [default: 30].
    #[arg(long, value_name = "SECONDS")]
    kube_delete_grace_period: Option<u64>,
    /// The server URL runner pods use, if not --server-url.
    #[arg(long, value_name = "URL")]
    kube_server_url: Option<String>,
    /// The runner pods' user ID (runAsUser; not 0: they never run as root) [default: 65532].
    #[arg(long, value_name = "UID")]
    kube_run_as_user: Option<i64>,
    /// The runner pods' group ID (runAsGroup) [default: 65532].
    #[arg(long, value_name = "GID")]
    kube_run_as_group: Option<i64>,
    /// The group that owns the runner pods' volumes (fsGroup) [default: 65532].
    #[arg(long, value_name = "GID")]
    kube_fs_group: Option<i64>,
}

impl KubeArgs {
    fn resolve(self) -> Result<terrace_runner_listener::kubernetes::KubernetesConfig> {
        use terrace_runner_listener::kubernetes::{KubernetesConfig, TolerationConfig};
        let mut config = match &self.kube_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str::<KubernetesConfig>(&text)
                    .with_context(|| format!("invalid {}", path.display()))?
            }
            None => KubernetesConfig::default(),
        };
        fn pairs(
            flag: &str,
            values: Vec<String>,
            into: &mut std::collections::BTreeMap<String, String>,
        ) -> Result<()> {
            for value in values {
                let (key, value) = value
                    .split_once('=')
                    .with_context(|| format!("--{flag} takes KEY=VALUE, not {value:?}"))?;
                into.insert(key.to_string(), value.to_string());
            }
            Ok(())
        }
        pairs(
            "kube-node-selector",
            self.kube_node_selector,
            &mut config.node_selector,
        )?;
        pairs("kube-label", self.kube_label, &mut config.labels)?;
        pairs(
            "kube-annotation",
            self.kube_annotation,
            &mut config.annotations,
        )?;
        pairs("kube-request", self.kube_request, &mut config.requests)?;
        pairs("kube-limit", self.kube_limit, &mut config.limits)?;
        for toleration in &self.kube_toleration {
            config
                .tolerations
                .push(TolerationConfig::parse(toleration)?);
        }
        if self.kube_kubeconfig.is_some() {
            config.kubeconfig = self.kube_kubeconfig;
        }
        if self.kube_namespace.is_some() {
            config.namespace = self.kube_namespace;
        }
        if let Some(image) = self.kube_image {
            config.image = image;
        }
        if self.kube_image_pull_policy.is_some() {
            config.image_pull_policy = self.kube_image_pull_policy;
        }
        if !self.kube_command.is_empty() {
            config.command = self.kube_command;
        }
        if self.kube_service_account.is_some() {
            config.service_account = self.kube_service_account;
        }
        if let Some(seconds) = self.kube_pending_timeout {
            config.pending_timeout = std::time::Duration::from_secs(seconds);
        }
        if let Some(seconds) = self.kube_delete_grace_period {
            config.delete_grace_period = std::time::Duration::from_secs(seconds);
        }
        if self.kube_server_url.is_some() {
            config.server_url = self.kube_server_url;
        }
        if let Some(uid) = self.kube_run_as_user {
            config.run_as_user = uid;
        }
        if let Some(gid) = self.kube_run_as_group {
            config.run_as_group = gid;
        }
        if let Some(gid) = self.kube_fs_group {
            config.fs_group = gid;
        }
        Ok(config)
    }
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print a new encryption key (for --encryption-key).
    GenerateKey,
    /// Write the embedded shape's data directory (database, blobs, encryption key, TLS files)
    /// to one archive, while the server runs. The archive holds the encryption key: keep it
    /// as safe as the server.
    Backup {
        /// The archive to write (tar.gz); it must not exist.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// The blob store the server is given, if not the data directory (refused).
        #[arg(long, env = "TERRACE_STORAGE_URL", value_name = "URL")]
        storage_url: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Make a data directory (absent or empty) from a backup, once every file in it is
    /// checked against the backup's manifest. Start `terrace serve` on it afterwards.
    Restore {
        /// The archive `terrace admin backup` wrote.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Copy the embedded installation (the SQLite database and the data directory's blobs)
    /// into PostgreSQL and an object store, with the server stopped. Writes only into an
    /// empty target; run again with the same arguments, it resumes an interrupted migration
    /// or checks a completed one.
    Migrate {
        /// The PostgreSQL database to fill: new, or with only Terrace's schema.
        #[arg(long, value_name = "URL")]
        to_database_url: Option<String>,
        /// File holding the target database URL, instead of --to-database-url.
        #[arg(long, value_name = "FILE")]
        to_database_url_file: Option<PathBuf>,
        /// Where the blobs go, as `serve --storage-url`: s3://bucket/prefix, gs://bucket/prefix
        /// or az://container/prefix (empty). Credentials come as for `serve`: the providers'
        /// variables (AWS_*, GOOGLE_*, AZURE_*) and --to-storage-option.
        #[arg(long, value_name = "URL")]
        to_storage_url: String,
        /// An object store setting, as `serve --storage-option` (KEY=VALUE); repeatable.
        #[arg(
            long = "to-storage-option",
            value_name = "KEY=VALUE",
            value_parser = crate::config::parse_key_value
        )]
        to_storage_options: Vec<(String, String)>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Seal every encrypted value and blob again with the newest encryption key, while the
    /// servers run. First give every server the new key first in its keys (newest first,
    /// the old ones after it) and restart them; after this, the old keys can be removed.
    /// Takes the settings of `serve` (flags, environment, configuration file).
    RotateKey {
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Create an agent token for `terrace listener` processes that execute the server's own
    /// runs (next to the servers, in the same network), and print it.
    ListenerToken {
        #[arg(long, default_value = "listener")]
        description: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Add a version to the catalogue of terraform or OpenTofu versions from a binary or
    /// release zip on this machine (its SHA-256 is computed), and print its ID.
    ToolVersion {
        /// terraform or tofu.
        #[arg(long, default_value = "terraform")]
        engine: String,
        /// The version, e.g. 1.5.7.
        #[arg(long)]
        version: String,
        /// The linux/amd64 release zip or bare binary.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Where runners fetch it [default: the file's absolute path, which runners must see].
        #[arg(long)]
        url: Option<String>,
        /// Mark it official (new workspaces get the newest official version).
        #[arg(long)]
        official: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user.
    Create {
        /// Username.
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Password for signing in (also readable from TERRACE_NEW_USER_PASSWORD).
        #[arg(long, env = "TERRACE_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        password_file: PasswordFile,
        /// Make the user a site administrator (sees every organization).
        #[arg(long)]
        site_admin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Set a user's password; ends the user's browser sessions.
    SetPassword {
        name: String,
        #[arg(long, env = "TERRACE_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[command(flatten)]
        password_file: PasswordFile,
        /// Also revoke the user's API tokens (including those `terraform login` issued).
        #[arg(long)]
        revoke_tokens: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Make a user a site administrator (owner of every organization, the admin API).
    GrantAdmin(UserArgs),
    /// Take a user's site administrator access (never the last site administrator's).
    RevokeAdmin(UserArgs),
    /// Suspend a user: their API tokens answer 401, their browser sessions end and they
    /// cannot sign in, until they are unsuspended. Site administrators cannot be suspended.
    Suspend(UserArgs),
    /// Lift a user's suspension; their API tokens work again.
    Unsuspend(UserArgs),
}

/// One user, by username, in the configured database.
#[derive(clap::Args, Debug)]
struct UserArgs {
    /// Username.
    name: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// The file twin of the admin commands' `--password`.
#[derive(clap::Args, Debug)]
struct PasswordFile {
    /// File holding the password, instead of --password.
    #[arg(long, env = "TERRACE_NEW_USER_PASSWORD_FILE", value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl PasswordFile {
    fn with(&self, password: Option<String>) -> Result<Option<String>> {
        value_or_file("--password", password, self.password_file.as_deref())
    }
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token for a user and print it (alone, for scripts).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = ServerConfig::resolve(&args)?;
            terrace_runner_listener::startup::init_logging(&config.log_format);
            crate::server::serve(config).await
        }
        Command::Listener(args) => {
            terrace_runner_listener::startup::init_logging(&args.log_format);
            listener(*args).await
        }
        Command::Runner => {
            terrace_runner_listener::startup::init_logging("text");
            terrace_runner_listener::runner::run_job_from_env().await
        }
        Command::SmokeTest(args) => {
            let token = value_or_file("--token", args.token, args.token_file.as_deref())?.context(
                "an API token is needed: --token-file or --token (TERRACE_TOKEN[_FILE])",
            )?;
            crate::smoke::run(crate::smoke::SmokeTest {
                server_url: args.server_url,
                token,
                ca_file: args.ca_file,
                organization: args.organization,
                workspace: args.workspace,
                timeout: std::time::Duration::from_secs(args.timeout.max(1)),
            })
            .await
        }
        Command::Admin { command } => admin(command).await,
    }
}

async fn listener(args: ListenerArgs) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = value_or_file("--token", args.token, args.token_file.as_deref())?.context(
        "the listener needs its agent token: --token-file or --token (TERRACE_AGENT_TOKEN[_FILE])",
    )?;
    let mut config = terrace_runner_listener::listener::ListenerConfig::new(args.server_url, token);
    config.ca_file = args.ca_file;
    if let Some(name) = args.name {
        config.name = name;
    }
    config.capacity = args.capacity;
    config.terraform_bin = args.terraform_bin;
    config.versions_dir = args.terraform_versions_dir;
    config.provider_mirror = args.provider_mirror_dir;
    config.direct_providers = args.direct_providers;
    config.tools_cache_dir = args.tools_cache_dir;
    if let Some(dir) = args.work_dir {
        config.work_dir = dir;
    }
    config.configuration_limits.max_unpacked_bytes =
        args.max_configuration_unpacked_megabytes.max(1) << 20;
    config.configuration_limits.max_entries = args.max_configuration_entries.max(1);
    config.executor = args.executor;
    config.kubernetes = args.kube.resolve()?;
    let confinement = Confinement::resolve(&args.confinement, None, &[], None)?;
    config.run_as = confinement.run_as;
    config.read_paths = confinement.read_paths;
    if confinement.allow_unconfined {
        config.unconfined = terrace_runner_listener::confine::Unconfined::Allow;
    }
    let support = terrace_runner_listener::confine::support();
    if !support.is_available() && config.executor == "local" {
        tracing::warn!(
            %support,
            allowed = confinement.allow_unconfined,
            "runs executed by this listener cannot be confined"
        );
    }
    terrace_runner_listener::listener::run_listener(config, crate::server::shutdown_signal()).await
}

async fn admin(command: AdminCommand) -> Result<()> {
    match command {
        AdminCommand::GenerateKey => println!("{}", Keyring::generate_key()),
        AdminCommand::Backup {
            output,
            storage_url,
            database,
        } => {
            let storage = DatabaseConfig::storage_url(&database, storage_url)?;
            let database = DatabaseConfig::resolve(&database)?;
            let done = crate::backup::backup(&database, storage.as_deref(), &output).await?;
            println!(
                "backed up {} files ({} bytes) of {} to {}",
                done.files,
                done.bytes,
                database.data_dir.display(),
                output.display()
            );
            if !done.has_key {
                println!(
                    "the encryption key is not in the data directory: keep the key you give \
                     the server with this backup"
                );
            }
        }
        AdminCommand::Restore { input, database } => {
            let database = DatabaseConfig::resolve(&database)?;
            if database.backend != terrace_storage::sql::Backend::Sqlite {
                bail!("restore makes an embedded data directory; the database configured is not SQLite");
            }
            let done = crate::backup::restore(&input, &database.data_dir)?;
            println!(
                "restored {} files ({} bytes) into {}",
                done.files,
                done.bytes,
                database.data_dir.display()
            );
        }
        AdminCommand::Migrate {
            to_database_url,
            to_database_url_file,
            to_storage_url,
            to_storage_options,
            database,
        } => {
            let target = crate::migrate::Target {
                database_url: value_or_file(
                    "--to-database-url",
                    to_database_url,
                    to_database_url_file.as_deref(),
                )?
                .context(
                    "the target database is needed: --to-database-url or --to-database-url-file",
                )?,
                storage_url: to_storage_url,
                storage_options: to_storage_options,
            };
            // The source's blobs: the configuration file may place them elsewhere (refused).
            let storage = DatabaseConfig::storage_url(&database, None)?;
            let source = DatabaseConfig::resolve(&database)?;
            let done = crate::migrate::migrate(&source, storage.as_deref(), &target).await?;
            print!("{}", crate::migrate::report(&done, &target));
        }
        AdminCommand::RotateKey { serve } => {
            let config = ServerConfig::resolve(&serve)?;
            let keys = crate::server::existing_encryption_keys(&config)?;
            let keyring = Arc::new(Keyring::new(&keys).context("loading the encryption keys")?);
            let store = SqlStore::connect(&config.database.database_url)
                .await
                .context("opening the database")?;
            let blobs = BlobStore::open(&config.storage_url, &config.storage_options, keyring)
                .with_context(|| format!("opening blob store {}", config.storage_url))?;
            println!(
                "Sealing everything again with the newest of {} keys...",
                keys.len()
            );
            let rotation = crate::rotate::rotate(&store, &blobs).await?;
            print!("{}", rotation.report());
            crate::rotate::complete(&rotation)?;
            if keys.len() > 1 {
                println!(
                    "Done: everything is sealed with the newest key. Remove the older keys from \
                     every server's settings and restart them."
                );
            } else {
                println!("Done: everything is sealed with the one key.");
            }
        }
        AdminCommand::ListenerToken {
            description,
            database,
        } => {
            let services = admin_services(&database).await?;
            println!("{}", services.issue_listener_token(&description).await?);
        }
        AdminCommand::ToolVersion {
            engine,
            version,
            file,
            url,
            official,
            database,
        } => {
            let engine = engine
                .parse::<terrace_storage::model::Engine>()
                .map_err(|e| anyhow::anyhow!("--engine: {e}"))?;
            let path = std::fs::canonicalize(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let sha = sha256_of(&path).with_context(|| format!("reading {}", path.display()))?;
            let services = admin_services(&database).await?;
            let added = services
                .add_tool_version(
                    engine,
                    terrace_domain::engines::ToolVersionInput {
                        version: Some(version),
                        url: Some(url.unwrap_or_else(|| path.display().to_string())),
                        sha: Some(sha),
                        official: Some(official),
                        ..Default::default()
                    },
                )
                .await?;
            println!("{}", added.version.id);
        }
        AdminCommand::User {
            command:
                UserCommand::Create {
                    name,
                    email,
                    password,
                    password_file,
                    site_admin,
                    database,
                },
        } => {
            let password = password_file.with(password)?;
            let services = admin_services(&database).await?;
            let email = email.unwrap_or_else(|| format!("{name}@terrace.local"));
            let user = services
                .create_user(NewUser {
                    username: name,
                    email,
                    password,
                    site_admin,
                })
                .await?;
            println!("{}", user.id);
        }
        AdminCommand::User {
            command:
                UserCommand::SetPassword {
                    name,
                    password,
                    password_file,
                    revoke_tokens,
                    database,
                },
        } => {
            let password = password_file
                .with(password)?
                .context("a new password is needed: --password-file or --password")?;
            let change = admin_services(&database)
                .await?
                .set_password(&name, &password, revoke_tokens)
                .await?;
            println!("Password of {name} set.");
            println!(
                "Ended {} browser session(s) of {name}.",
                change.sessions_ended
            );
            match change.tokens_revoked {
                Some(count) => println!("Revoked {count} API token(s) of {name}."),
                None => println!("API tokens of {name} still work (--revoke-tokens revokes them)."),
            }
        }
        AdminCommand::User {
            command: UserCommand::GrantAdmin(user),
        } => change_user(user, UserAction::GrantAdmin).await?,
        AdminCommand::User {
            command: UserCommand::RevokeAdmin(user),
        } => change_user(user, UserAction::RevokeAdmin).await?,
        AdminCommand::User {
            command: UserCommand::Suspend(user),
        } => change_user(user, UserAction::Suspend).await?,
        AdminCommand::User {
            command: UserCommand::Unsuspend(user),
        } => change_user(user, UserAction::Unsuspend).await?,
        AdminCommand::Token {
            command:
                TokenCommand::Create {
                    user,
                    description,
                    database,
                },
        } => {
            let services = admin_services(&database).await?;
            println!(
                "{}",
                services
                    .create_token_for_username(&user, description)
                    .await?
            );
        }
    }
    Ok(())
}

/// The SHA-256 of a file, in hexadecimal, read in chunks (binaries are large).
fn sha256_of(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// `terrace admin user grant-admin|revoke-admin|suspend|unsuspend NAME`: the same rules as
/// the admin API's actions.
async fn change_user(args: UserArgs, action: UserAction) -> Result<()> {
    let user = admin_services(&args.database)
        .await?
        .user_action_by_username(&args.name, action)
        .await?;
    let name = &user.username;
    match action {
        UserAction::GrantAdmin => println!("{name} is a site administrator."),
        UserAction::RevokeAdmin => println!("{name} is no longer a site administrator."),
        UserAction::Suspend => println!(
            "{name} is suspended: their API tokens answer 401, their browser sessions ended \
             and they cannot sign in."
        ),
        UserAction::Unsuspend => println!("{name} is no longer suspended."),
    }
    Ok(())
}

/// Services over the configured database for administrative commands. Users and tokens live
/// in the database alone, so these commands need neither the blob store nor the encryption
/// key: a throwaway in-memory blob store stands in, and nothing is ever written to it.
async fn admin_services(args: &DatabaseArgs) -> Result<Services> {
    let config = DatabaseConfig::resolve(args)?;
    if config.backend == terrace_storage::sql::Backend::Sqlite {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    let store = SqlStore::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let keyring = Arc::new(Keyring::new(&[Keyring::generate_key()])?);
    let blobs = BlobStore::new(Arc::new(object_store::memory::InMemory::new()), keyring);
    Ok(Services::new(Arc::new(store), blobs, Settings::default()))
}
