//! `terrace serve`: open the database and blob store, set up on first start, start the
//! built-in runner listener, and serve over TLS (or plain HTTP behind a proxy) until told to
//! stop. On SIGINT/SIGTERM the listener stops first (its runs are interrupted and report
//! how they ended), then the HTTP server drains.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder as HttpBuilder;
use terrace_domain::bootstrap::{Bootstrapped, ADMIN_USERNAME, DEFAULT_ORGANIZATION};
use terrace_domain::notifications::delivery::Notifier;
use terrace_domain::notifications::ssrf::Destinations;
use terrace_domain::{Services, Settings};
use terrace_runner_listener::confine::{self, Support, Unconfined};
use terrace_runner_listener::listener::Connection;
use terrace_storage::blob::{BlobStore, Keyring};
use terrace_storage::sql::{redact_url, Backend};
use terrace_storage::SqlStore;
use tokio::sync::watch;

use crate::app::{self, AppState, AppStateParts};
use crate::builtin;
use crate::config::{BuiltinListener, Limits, ServerConfig, TlsMode};
use crate::limits::conn::ConnectionLimits;
use crate::limits::RateLimits;
use crate::pages::Pages;
use crate::replicas::{ReplicaId, Transport};
use crate::tls::{self, LocalCa};
use crate::urls::Urls;

const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Where the first start leaves the administrator's generated password.
const ADMIN_PASSWORD_FILE: &str = "admin-password";
/// The longest a TLS handshake may take (less if the header timeout is shorter).
const MAX_HANDSHAKE_TIME: Duration = Duration::from_secs(10);
/// How often this replica looks for jobs whose listener stopped heartbeating.
const REAP_INTERVAL: Duration = Duration::from_secs(15);
/// How often this replica looks for plans that no listener can take.
const EXPLAIN_INTERVAL: Duration = Duration::from_secs(3);
/// How often this replica looks for notifications to deliver.
const NOTIFY_INTERVAL: Duration = Duration::from_secs(1);
/// How long the banner waits for the built-in listener's first attempt to connect.
const BANNER_WAIT: Duration = Duration::from_secs(15);

pub async fn serve(config: ServerConfig) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Our environment and memory hold secrets: keep /proc/PID/* from same-user processes.
    confine::make_non_dumpable();
    let data_dir = &config.database.data_dir;
    create_private_dir(data_dir)?;

    let keys = encryption_keys(&config)?;
    let keyring = Arc::new(Keyring::new(&keys).context("loading the encryption key")?);
    let store = Arc::new(
        SqlStore::connect(&config.database.database_url)
            .await
            .with_context(|| {
                format!(
                    "opening database {}",
                    redact_url(&config.database.database_url)
                )
            })?,
    );
    let replicas = Transport::choose(config.redis_url.as_deref(), store.clone())?;
    if let Transport::Redis(redis) = &replicas {
        let redis = redis.clone();
        tokio::spawn(async move { redis.connect().await });
    }
    let replica = ReplicaId::random();
    let blobs = BlobStore::open(&config.storage_url, &config.storage_options, keyring)
        .with_context(|| format!("opening blob store {}", config.storage_url))?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let scheme = if config.tls == TlsMode::Off {
        "http"
    } else {
        "https"
    };
    let external = match &config.external_url {
        Some(url) => url.clone(),
        None => url::Url::parse(&format!("{scheme}://localhost:{}", address.port()))?,
    };
    let urls = Urls::new(&external);

    let settings = Settings {
        upload_url_ttl: chrono::Duration::seconds(config.upload_url_ttl_seconds),
        max_state_bytes: config.max_state_bytes,
        max_configuration_bytes: config.max_configuration_bytes,
        configuration_limits: config.configuration_limits,
        sign_in: config.limits.sign_in.clone(),
        login_token_ttl: config.login_token_ttl,
        site_sso: config.oidc.is_some(),
        organization_sso_loopback: config.organization_sso_loopback,
        log_url_ttl: config.log_url_ttl,
        audit_retention_days: config.audit_retention_days,
        organization_creation: config.organization_creation,
        registry_hosts: urls.registry_hosts(),
        tool_archive_upstreams: config.tool_archive_upstreams.clone(),
        tool_archive_upstream_keys: config.tool_archive_upstream_keys.clone(),
        run_task_timeout: chrono::Duration::from_std(config.run_task_timeout)
            .unwrap_or(chrono::Duration::minutes(10)),
        ..Settings::default()
    };
    let upstream =
        crate::provider_upstream::HttpUpstreams::new(config.provider_mirror_upstreams.clone())
            .context("the provider mirror's upstreams")?;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let services = Services::new(store, blobs, settings)
        .with_observer(metrics.clone())
        .with_fanout(replicas.fanout(&replica))
        .with_provider_upstream(Arc::new(upstream))
        .with_fetcher(Arc::new(crate::fetch::HttpFetcher::new()?))
        .with_notifier(Notifier {
            deliverer: Arc::new(crate::notify::HttpDeliverer::new()?),
            destinations: Destinations {
                allow_private: config.allow_private_notification_urls,
                own: vec![address],
            },
            base_url: urls.base().to_string(),
        });
    let bootstrapped = services
        .bootstrap(config.admin_password.clone())
        .await
        .context("first-start setup")?;
    tracing::info!(through = replicas.describe(), "signals to other replicas");
    replicas.follow(services.clone(), replica);
    if let Some(password) = bootstrapped
        .as_ref()
        .and_then(|b| b.generated_password.as_ref())
    {
        // Not on stdout: that is a container's log, kept and shipped elsewhere.
        let path = data_dir.join(ADMIN_PASSWORD_FILE);
        let _ = std::fs::remove_file(&path);
        tls::write_secret_file(&path, &format!("{password}\n"))?;
    }

    let local_names = tls::Hostnames {
        required: hostnames(address, external.host_str()),
        incidental: machine_hostname(),
    };
    let (cert_and_key, local_ca, trusted) = match &config.tls {
        TlsMode::Off => (None, None, None),
        TlsMode::Files { cert, key } => {
            let cert_pem =
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            let served = tls::served_certificates(data_dir, &cert_pem)
                .with_context(|| format!("reading {}", cert.display()))?;
            let key_pem =
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
            (Some((cert_pem, key_pem)), None, Some(served))
        }
        TlsMode::LocalCa => {
            let (cert, ca) = tls::local_certificate(data_dir, &local_names)?;
            let ca_file = ca.ca_file.clone();
            (
                Some((
                    cert.cert_pem.clone().into_bytes(),
                    cert.key_pem.clone().into_bytes(),
                )),
                Some(ca),
                Some(ca_file),
            )
        }
    };

    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let support = confine::support();
    let unconfined = match &config.listener {
        Some(builtin) => unconfined_policy(&services, builtin, &support).await?,
        None => Unconfined::Refuse,
    };
    let (listener_task, health) = match config.listener.clone() {
        Some(listener) => {
            let (server_url, ca_file) = builtin::internal_endpoint(&config.tls, address, trusted);
            let builtin = builtin::Builtin {
                services: services.clone(),
                config: listener,
                unconfined: unconfined.clone(),
                configuration_limits: config.configuration_limits,
                server_url,
                ca_file,
            };
            let (task, health) = builtin::spawn(builtin, stopped(stopping.clone()));
            (Some(task), Some(health))
        }
        None => (None, None),
    };
    // The HTTP server outlives the listener, so interrupted runs can report to it.
    let drained = async move {
        stopped(stopping).await;
        if let Some(task) = listener_task {
            let _ = task.await;
        }
    };

    let state = AppState::new(AppStateParts {
        services: services.clone(),
        urls: urls.clone(),
        pages: Arc::new(Pages::new()),
        limits: RateLimits::new(&config.limits, replicas.rate_limiter()),
        body_timeout: config.limits.body_timeout,
        builtin_listener: health.clone(),
        oidc: match config.oidc.clone() {
            Some(oidc) => Some(Arc::new(crate::oidc::Oidc::new(oidc, urls.base())?)),
            None => None,
        },
        saml: match config.saml.clone() {
            Some(saml) => Some(Arc::new(crate::saml::Saml::new(saml, urls.base())?)),
            None => None,
        },
        sso_disable_passwords: config.sso_disable_passwords,
        organization_oidc: Arc::new(crate::oidc::OrganizationClients::new(urls.base())?),
        metrics,
    });
    if let Some(address) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on --metrics-listen {address}"))?;
        tracing::info!(%address, "serving metrics at /metrics");
        let metrics = crate::metrics::router(state.metrics.clone(), services.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, metrics).await {
                tracing::error!(error = %err, "the metrics server stopped");
            }
        });
    }
    tokio::spawn(refresh_customization(services.clone(), state.pages.clone()));
    let router = app::router(state);
    terrace_runner_listener::startup::release_freed_memory();
    terrace_runner_listener::startup::release_startup_code();
    tokio::spawn(purge_expired_logins(services.clone()));
    tokio::spawn(reap_stale_jobs(services.clone()));
    let replica_owner = terrace_storage::ids::new_id("replica");
    tokio::spawn(deliver_notifications(
        services.clone(),
        replica_owner.clone(),
    ));
    tokio::spawn(run_task_requests(services.clone(), replica_owner));
    tokio::spawn(sweep_auto_destroy(
        services.clone(),
        config.auto_destroy_check,
    ));
    tokio::spawn(explain_waiting_jobs(services.clone(), health.clone()));

    let isolation = Isolation {
        support: &support,
        unconfined: &unconfined,
    };
    let banner = Banner {
        config: config.clone(),
        urls: urls.clone(),
        local_ca: local_ca.clone(),
        bootstrapped: bootstrapped.clone(),
        isolation: config
            .listener
            .as_ref()
            .map(|listener| isolation.describe(listener)),
    };
    // Once the built-in listener has tried to connect: the banner must not promise runs it
    // cannot take.
    tokio::spawn(async move {
        let runs = match health {
            Some(mut health) => {
                let tried = health.wait_for(|c| *c != Connection::Connecting);
                let _ = tokio::time::timeout(BANNER_WAIT, tried).await;
                let connection = health.borrow().clone();
                Some(connection)
            }
            None => None,
        };
        banner.print(runs.as_ref());
    });
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        drained.await;
        stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    // Peer addresses reach handlers (where a listener connects from) and the rate limiter.
    let make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let limits = &config.limits;
    match cert_and_key {
        None => {
            let mut server = axum_server::from_tcp(listener)?
                .handle(handle)
                .map(|plain| {
                    ConnectionLimits::new(plain, limits.max_connections, limits.idle_timeout)
                });
            tune_http(server.http_builder(), limits);
            server.serve(make_service).await?;
        }
        Some((cert, key)) => {
            let served = cert.clone();
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(cert, key)
                .await
                .context("loading the TLS certificate")?;
            if config.tls == TlsMode::LocalCa {
                tokio::spawn(renew_local_certificate(
                    rustls.clone(),
                    data_dir.to_path_buf(),
                    local_names,
                    served,
                ));
            }
            let mut server = axum_server::from_tcp_rustls(listener, rustls)?
                .handle(handle)
                .map(|tls| {
                    ConnectionLimits::new(
                        tls.handshake_timeout(limits.header_timeout.min(MAX_HANDSHAKE_TIME)),
                        limits.max_connections,
                        limits.idle_timeout,
                    )
                });
            tune_http(server.http_builder(), limits);
            server.serve(make_service).await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Checks the local CA's certificate daily and serves the renewed one without a restart
/// (new connections get it; open ones keep theirs).
async fn renew_local_certificate(
    rustls: axum_server::tls_rustls::RustlsConfig,
    data_dir: PathBuf,
    names: tls::Hostnames,
    mut served: Vec<u8>,
) {
    const DAILY: Duration = Duration::from_secs(24 * 60 * 60);
    loop {
        tokio::time::sleep(DAILY).await;
        let dir = data_dir.clone();
        let names = names.clone();
        let renewed =
            tokio::task::spawn_blocking(move || tls::local_certificate(&dir, &names)).await;
        match renewed {
            Ok(Ok((cert, _))) if served != cert.cert_pem.as_bytes() => {
                let pem = cert.cert_pem.into_bytes();
                match rustls
                    .reload_from_pem(pem.clone(), cert.key_pem.into_bytes())
                    .await
                {
                    Ok(()) => served = pem,
                    Err(err) => {
                        tracing::error!(error = %err, "could not load the renewed TLS certificate")
                    }
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "could not renew the TLS certificate"),
            Err(err) => tracing::error!(error = %err, "could not renew the TLS certificate"),
        }
    }
}

/// HTTP settings for both protocols.
fn tune_http(builder: &mut HttpBuilder<TokioExecutor>, limits: &Limits) {
    // Request headers must arrive within the header timeout (slowloris); an idle HTTP/1.1
    // connection waiting for its next request is closed after as long.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // The CLI speaks HTTP/2. With h2's default 64 KiB windows a state upload stalls on
    // flow control, at a third of the speed of the same upload over HTTP/1.1. A stream's
    // window is also what the server holds of an upload the handler has not taken yet: 2 MiB
    // (Go's servers take 1) lets the client send while the server checks and seals the
    // previous megabyte, at a fraction of the 8 MiB per upload that larger windows held
    // (docs/benchmarks.md, tenth round).
    builder
        .http2()
        .initial_stream_window_size(2 << 20)
        .initial_connection_window_size(4 << 20)
        .max_frame_size(1 << 20);
}

/// The configured keys, or in the embedded shape the key kept in the data directory
/// (generated on first start).
/// The keys the server is given, or those of the data directory's key file, made on the
/// embedded shape's first start.
fn encryption_keys(config: &ServerConfig) -> Result<Vec<String>> {
    if config.encryption_keys.is_none() && config.database.backend == Backend::Sqlite {
        let path = embedded_key_file(config);
        if !path.exists() {
            tls::write_secret_file(&path, &format!("{}\n", Keyring::generate_key()))?;
        }
    }
    existing_encryption_keys(config)
}

fn embedded_key_file(config: &ServerConfig) -> PathBuf {
    config.database.data_dir.join("encryption.key")
}

/// The keys the server is given, or those of the data directory's key file (newest first).
pub(crate) fn existing_encryption_keys(config: &ServerConfig) -> Result<Vec<String>> {
    if let Some(keys) = &config.encryption_keys {
        return Ok(keys.clone());
    }
    anyhow::ensure!(
        config.database.backend == Backend::Sqlite,
        "an encryption key is required with PostgreSQL"
    );
    let path = embedded_key_file(config);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Names the local certificate covers: loopback, the listen address, the external host and
/// this machine's hostname.
fn hostnames(address: SocketAddr, external_host: Option<&str>) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !address.ip().is_unspecified() && !address.ip().is_loopback() {
        names.push(address.ip().to_string());
    }
    if let Some(host) = external_host {
        names.push(host.trim_matches(['[', ']']).to_string());
    }
    names.sort();
    names.dedup();
    names
}

/// The machine's hostname, which the local certificate covers when it can (it changes with
/// every container, and must not replace the CA).
fn machine_hostname() -> Option<String> {
    let hostname = std::fs::read_to_string("/etc/hostname").ok()?;
    let hostname = hostname.trim();
    (!hostname.is_empty() && hostname.parse::<IpAddr>().is_err()).then(|| hostname.to_string())
}

/// Creates the data directory for this user alone (it holds the keys and, embedded, the
/// database), or narrows an existing one to that.
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))
}

/// Whether runs execute where they cannot be confined: never by default, except for a
/// server with a single organization (nobody to protect from whom), or when the operator
/// accepted the risk.
async fn unconfined_policy(
    services: &Services,
    builtin: &BuiltinListener,
    support: &Support,
) -> Result<Unconfined> {
    if support.is_available() {
        return Ok(Unconfined::Refuse);
    }
    tracing::warn!(%support, "runs executed by this server cannot be confined");
    if builtin.confinement.allow_unconfined {
        return Ok(Unconfined::Allow);
    }
    Ok(match services.sole_organization().await? {
        Some(name) => Unconfined::Organization(name),
        None => Unconfined::Refuse,
    })
}

/// How runs executed here are confined, for the banner.
struct Isolation<'a> {
    support: &'a Support,
    unconfined: &'a Unconfined,
}

impl Isolation<'_> {
    fn describe(&self, listener: &BuiltinListener) -> String {
        let user = match listener.confinement.run_as {
            Some(user) => format!(", as user {}:{}", user.uid, user.gid),
            None => String::new(),
        };
        if self.support.is_available() {
            return format!("confined by {}{user}", self.support);
        }
        let policy = match self.unconfined {
            Unconfined::Allow => "runs of every organization execute anyway (--allow-unconfined-runs)".to_string(),
            Unconfined::Organization(name) => format!(
                "only runs of the organization {name:?} execute here (--allow-unconfined-runs for all)"
            ),
            Unconfined::Refuse => "runs are refused (--allow-unconfined-runs to accept the risk)".to_string(),
        };
        format!("NOT CONFINED: {}{user}; {policy}", self.support)
    }
}

/// The startup banner: where the server is, how to point terraform at it, and whether runs
/// execute here.
struct Banner {
    config: ServerConfig,
    urls: Urls,
    local_ca: Option<LocalCa>,
    bootstrapped: Option<Bootstrapped>,
    /// How runs executed here are confined (with the built-in listener).
    isolation: Option<String>,
}

impl Banner {
    /// `listener`: the built-in listener's connection, if there is one.
    fn print(&self, listener: Option<&Connection>) {
        let (config, urls) = (&self.config, &self.urls);
        let host = urls.hostname();
        let mut out = String::new();
        out.push_str(&format!(
            "Terrace {} is listening on {}\n",
            env!("CARGO_PKG_VERSION"),
            urls.base()
        ));
        out.push_str(&format!(
            "  database  {}\n",
            redact_url(&config.database.database_url)
        ));
        out.push_str(&format!("  blobs     {}\n", config.storage_url));
        match (&config.listener, listener) {
            (Some(builtin), Some(connection)) => {
                out.push_str(&format!(
                    "  runs      {}\n",
                    builtin::describe(connection, builtin)
                ));
                if let Some(isolation) = &self.isolation {
                    out.push_str(&format!("  isolation {isolation}\n"));
                }
            }
            _ => out.push_str("  runs      executed by `terrace listener`s (--no-listener)\n"),
        }
        if let Some(oidc) = &config.oidc {
            out.push_str(&format!(
                "  sign-in   OpenID Connect at {} (redirect URI {}{}){}\n",
                oidc.issuer,
                urls.base(),
                crate::oidc::CALLBACK_PATH,
                if config.sso_disable_passwords {
                    "; passwords for site administrators only"
                } else {
                    ""
                }
            ));
        }
        if config.saml.is_some() {
            let base = urls.base().trim_end_matches('/');
            let entity_id = config
                .saml
                .as_ref()
                .and_then(|s| s.sp_entity_id.clone())
                .unwrap_or_else(|| format!("{base}{}", crate::saml::METADATA_PATH));
            out.push_str(&format!(
                "  sign-in   SAML (register SP entity ID {entity_id}, ACS URL {base}{}, metadata at {base}{}){}\n",
                crate::saml::ACS_PATH,
                crate::saml::METADATA_PATH,
                if config.sso_disable_passwords {
                    "; passwords for site administrators only"
                } else {
                    ""
                }
            ));
        }
        out.push_str(&format!("  API docs  {}/swagger-ui/\n", urls.base()));
        out.push_str(&format!(
            "  registry  source = \"{}/ORGANIZATION/NAME/PROVIDER\" (in runs also localterraform.com/...)\n",
            urls.registry_host()
        ));
        if let Some(ca) = &self.local_ca {
            out.push_str(&format!("  CA certificate: {}\n", absolute(&ca.ca_file)));
        }
        if let Some(first) = &self.bootstrapped {
            match &first.generated_password {
                Some(_) => out.push_str(&format!(
                    "\nFirst start: created user \"{ADMIN_USERNAME}\" with the password in {} \
                     (readable by this user only; delete it once you have changed the password)\n",
                    absolute(&config.database.data_dir.join(ADMIN_PASSWORD_FILE))
                )),
                None => out.push_str(&format!(
                    "\nFirst start: created user \"{ADMIN_USERNAME}\" with the password from TERRACE_ADMIN_PASSWORD\n"
                )),
            }
            out.push_str(&format!(
                "and the organization \"{DEFAULT_ORGANIZATION}\".\n"
            ));
        }
        out.push_str("\nPoint terraform at it:\n");
        if let Some(ca) = &self.local_ca {
            out.push_str(&format!(
                "  export SSL_CERT_FILE={}\n",
                absolute(&ca.bundle_file)
            ));
        }
        out.push_str(&format!(
            "  terraform login {host}\n\nand in your configuration:\n"
        ));
        out.push_str(&format!(
            "  terraform {{\n    cloud {{\n      hostname     = \"{host}\"\n      organization = \"{DEFAULT_ORGANIZATION}\"\n      workspaces {{\n        name = \"my-workspace\"\n      }}\n    }}\n  }}\n"
        ));
        print!("{out}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn reap_stale_jobs(services: Services) {
    let mut tick = tokio::time::interval(REAP_INTERVAL);
    loop {
        tick.tick().await;
        match services.reap_stale_jobs().await {
            Ok(0) => {}
            Ok(reaped) => tracing::warn!(reaped, "jobs of silent listeners failed"),
            Err(err) => tracing::warn!(error = %err, "could not look for stale jobs"),
        }
    }
}

/// Delivers the outbox's notifications, looking every [`NOTIFY_INTERVAL`].
async fn deliver_notifications(services: Services, owner: String) {
    let mut tick = tokio::time::interval(NOTIFY_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(err) = services.deliver_notifications(&owner).await {
            tracing::warn!(error = %err, "could not deliver notifications");
        }
    }
}

/// Sends run tasks' requests and errors the results past their deadline, looking every
/// [`NOTIFY_INTERVAL`] like the notification outbox.
async fn run_task_requests(services: Services, owner: String) {
    let mut tick = tokio::time::interval(NOTIFY_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(err) = services.run_task_requests(&owner).await {
            tracing::warn!(error = %err, "could not send run task requests");
        }
    }
}

/// Says in the logs of plans nobody can take why they wait (with what is wrong with the
/// built-in listener, which only this replica knows).
async fn explain_waiting_jobs(services: Services, health: Option<builtin::Health>) {
    let mut tick = tokio::time::interval(EXPLAIN_INTERVAL);
    loop {
        tick.tick().await;
        let problem = health.as_ref().and_then(|h| builtin::problem(&h.borrow()));
        if let Err(err) = services.explain_waiting_jobs(problem.as_deref()).await {
            tracing::warn!(error = %err, "could not look for waiting jobs");
        }
    }
}

/// Hourly housekeeping (and once at start): expired logins, audit events past their
/// retention, and backing data past its data retention policy.
async fn purge_expired_logins(services: Services) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(err) = services.purge_expired_logins().await {
            tracing::warn!(error = %err, "could not purge expired logins");
        }
        match services.purge_audit_events().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged audit events past their retention"),
            Err(err) => tracing::warn!(error = %err, "could not purge audit events"),
        }
        match services.sweep_data_retention().await {
            Ok(swept) if swept == Default::default() => {}
            Ok(swept) => tracing::info!(
                state_versions = swept.state_versions,
                configuration_versions = swept.configuration_versions,
                "soft-deleted backing data past its data retention policy"
            ),
            Err(err) => tracing::warn!(error = %err, "could not apply data retention policies"),
        }
    }
}

/// Queues the destroy runs of workspaces whose auto-destroy is due, every `period`.
async fn sweep_auto_destroy(services: Services, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if let Err(err) = services.sweep_auto_destroy().await {
            tracing::warn!(error = %err, "could not look for workspaces due for auto-destroy");
        }
    }
}

/// Keeps the pages' customization as stored: read now and every
/// [`CUSTOMIZATION_REFRESH`](crate::pages::CUSTOMIZATION_REFRESH), so an update made on another
/// replica shows here too.
async fn refresh_customization(services: Services, pages: Arc<Pages>) {
    let mut tick = tokio::time::interval(crate::pages::CUSTOMIZATION_REFRESH);
    loop {
        tick.tick().await;
        match services.customization().await {
            Ok(customization) => pages.set_customization(customization),
            Err(err) => tracing::warn!(error = %err, "could not read the customization"),
        }
    }
}

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
