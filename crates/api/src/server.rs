//! `terrace serve`: open the database and blob store, set up on first start, start the
//! built-in runner listener, and serve over TLS (or plain HTTP behind a proxy) until told to
//! stop. On SIGINT/SIGTERM the listener stops first (its runs are interrupted and report
//! how they ended), then the HTTP server drains.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use terrace_domain::bootstrap::{Bootstrapped, ADMIN_USERNAME, DEFAULT_ORGANIZATION};
use terrace_domain::{Services, Settings};
use terrace_storage::blob::{BlobStore, Keyring};
use terrace_storage::sql::{redact_url, Backend};
use terrace_storage::SqlStore;
use tokio::sync::watch;

use crate::app::{self, AppState};
use crate::config::{BuiltinListener, ServerConfig, TlsMode};
use crate::pages::Pages;
use crate::tls::{self, LocalCa};
use crate::urls::Urls;

const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often this replica looks for jobs whose listener stopped heartbeating.
const REAP_INTERVAL: Duration = Duration::from_secs(15);

pub async fn serve(config: ServerConfig) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data_dir = &config.database.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;

    let keys = encryption_keys(&config)?;
    let keyring = Arc::new(Keyring::new(&keys).context("loading the encryption key")?);
    let store = SqlStore::connect(&config.database.database_url)
        .await
        .with_context(|| {
            format!(
                "opening database {}",
                redact_url(&config.database.database_url)
            )
        })?;
    let blobs = BlobStore::open(&config.storage_url, &config.storage_options, keyring)
        .with_context(|| format!("opening blob store {}", config.storage_url))?;
    let settings = Settings {
        upload_url_ttl: chrono::Duration::seconds(config.upload_url_ttl_seconds),
        max_state_bytes: config.max_state_bytes,
        max_configuration_bytes: config.max_configuration_bytes,
        login_token_ttl: config.login_token_ttl,
        ..Settings::default()
    };
    let services = Services::new(Arc::new(store), blobs, settings);
    let bootstrapped = services
        .bootstrap(config.admin_password.clone())
        .await
        .context("first-start setup")?;

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
    let state = AppState {
        services: services.clone(),
        urls: urls.clone(),
        pages: Arc::new(Pages::new()),
    };
    let router = app::router(state);
    tokio::spawn(purge_expired_logins(services.clone()));
    tokio::spawn(reap_stale_jobs(services.clone()));

    let (cert_and_key, local_ca) = match &config.tls {
        TlsMode::Off => (None, None),
        TlsMode::Files { cert, key } => (
            Some((
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
                std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
            )),
            None,
        ),
        TlsMode::LocalCa => {
            let names = hostnames(address, external.host_str());
            let (cert, ca) = tls::issue_from_local_ca(data_dir, &names)?;
            (
                Some((cert.cert_pem.into_bytes(), cert.key_pem.into_bytes())),
                Some(ca),
            )
        }
    };

    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let listener_task = config.listener.clone().map(|builtin| {
        let (url, ca_file) = internal_endpoint(&config.tls, address, &external, local_ca.as_ref());
        tokio::spawn(run_builtin_listener(
            services.clone(),
            builtin,
            url,
            ca_file,
            stopped(stopping.clone()),
        ))
    });
    // The HTTP server outlives the listener, so interrupted runs can report to it.
    let drained = async move {
        stopped(stopping).await;
        if let Some(task) = listener_task {
            let _ = task.await;
        }
    };

    print_banner(&config, &urls, local_ca.as_ref(), bootstrapped.as_ref());
    match cert_and_key {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(drained)
            .await?;
        }
        Some((cert, key)) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(cert, key)
                .await
                .context("loading the TLS certificate")?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                drained.await;
                stopper.graceful_shutdown(Some(SHUTDOWN_GRACE));
            });
            let mut server = axum_server::from_tcp_rustls(listener, rustls).handle(handle);
            // The CLI speaks HTTP/2. With h2's default 64 KiB windows a state upload stalls on
            // flow control, at a third of the speed of the same upload over HTTP/1.1; windows
            // sized to the connection's bandwidth-delay product remove the difference.
            server
                .http_builder()
                .http2()
                .initial_stream_window_size(8 << 20)
                .initial_connection_window_size(16 << 20)
                .max_frame_size(1 << 20);
            // Peer addresses reach handlers (where a listener connects from).
            server
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The configured keys, or in the embedded shape the key kept in the data directory
/// (generated on first start).
fn encryption_keys(config: &ServerConfig) -> Result<Vec<String>> {
    if let Some(keys) = &config.encryption_keys {
        return Ok(keys.clone());
    }
    anyhow::ensure!(
        config.database.backend == Backend::Sqlite,
        "an encryption key is required with PostgreSQL"
    );
    let path = config.database.data_dir.join("encryption.key");
    if !path.exists() {
        tls::write_secret_file(&path, &format!("{}\n", Keyring::generate_key()))?;
    }
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
    if let Ok(hostname) = std::fs::read_to_string("/etc/hostname") {
        let hostname = hostname.trim();
        if !hostname.is_empty() && hostname.parse::<IpAddr>().is_err() {
            names.push(hostname.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}

fn print_banner(
    config: &ServerConfig,
    urls: &Urls,
    local_ca: Option<&LocalCa>,
    bootstrapped: Option<&Bootstrapped>,
) {
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
    match &config.listener {
        Some(listener) => out.push_str(&format!(
            "  runs      executed here, {} at a time, with {}\n",
            listener.capacity,
            listener.terraform_bin.display()
        )),
        None => out.push_str("  runs      executed by `terrace listener`s (--no-listener)\n"),
    }
    out.push_str(&format!("  API docs  {}/swagger-ui/\n", urls.base()));
    if let Some(ca) = local_ca {
        out.push_str(&format!("  CA certificate: {}\n", absolute(&ca.ca_file)));
    }
    if let Some(first) = bootstrapped {
        match &first.generated_password {
            Some(password) => out.push_str(&format!(
                "\nFirst start: created user \"{ADMIN_USERNAME}\" with password {password} (shown only now)\n"
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
    if let Some(ca) = local_ca {
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

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Where the built-in listener reaches this server, and the CA it must trust there: the
/// loopback side of the listen address (the local CA's certificate names it), or with
/// certificate files the external URL, which their certificate names.
fn internal_endpoint(
    tls: &TlsMode,
    address: SocketAddr,
    external: &url::Url,
    local_ca: Option<&LocalCa>,
) -> (String, Option<PathBuf>) {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let direct = SocketAddr::new(ip, address.port());
    match tls {
        TlsMode::Off => (format!("http://{direct}"), None),
        TlsMode::LocalCa => (
            format!("https://{direct}"),
            local_ca.map(|ca| ca.ca_file.clone()),
        ),
        TlsMode::Files { .. } => (external.as_str().trim_end_matches('/').to_string(), None),
    }
}

/// Runs the listener built into the server until `stop` completes. It is an ordinary
/// listener speaking HTTP to this server, with an agent token of the server's own.
async fn run_builtin_listener(
    services: Services,
    builtin: BuiltinListener,
    server_url: String,
    ca_file: Option<PathBuf>,
    stop: impl Future<Output = ()>,
) {
    let result = async {
        let token = services
            .issue_server_agent_token()
            .await
            .context("issuing the built-in listener's token")?;
        std::fs::create_dir_all(&builtin.work_dir)
            .with_context(|| format!("creating {}", builtin.work_dir.display()))?;
        let mut config = terrace_runner_listener::listener::ListenerConfig::new(server_url, token);
        config.ca_file = ca_file;
        config.name = format!("{} (built-in)", config.name);
        config.capacity = builtin.capacity;
        config.terraform_bin = builtin.terraform_bin;
        config.versions_dir = builtin.versions_dir;
        config.work_dir = builtin.work_dir;
        terrace_runner_listener::listener::run_listener(config, stop).await
    }
    .await;
    if let Err(err) = result {
        tracing::error!(
            error = format!("{err:#}"),
            "the built-in runner listener stopped"
        );
    }
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

async fn purge_expired_logins(services: Services) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(err) = services.purge_expired_logins().await {
            tracing::warn!(error = %err, "could not purge expired logins");
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
