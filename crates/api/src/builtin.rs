//! The runner listener built into the server: where it reaches this server, what it trusts
//! there, and its health, which `/readyz`, the startup banner and waiting runs report.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use terrace_domain::Services;
use terrace_runner_listener::confine::Unconfined;
use terrace_runner_listener::listener::{run_listener, Connection, ListenerConfig};
use tokio::sync::watch;

use crate::config::{BuiltinListener, TlsMode};

/// The built-in listener's connection, as it last reported it.
pub type Health = watch::Receiver<Connection>;

/// Where the built-in listener reaches this server, and the certificates it trusts there:
/// always the loopback side of the listen address (the external URL may not lead back here
/// from inside, e.g. behind a load balancer), verified against what the server serves
/// (`trusted`): the local CA, or exactly the certificates of `--tls-cert`, whoever issued them.
pub fn internal_endpoint(
    tls: &TlsMode,
    address: SocketAddr,
    trusted: Option<PathBuf>,
) -> (String, Option<PathBuf>) {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let direct = SocketAddr::new(ip, address.port());
    match tls {
        TlsMode::Off => (format!("http://{direct}"), None),
        TlsMode::LocalCa | TlsMode::Files { .. } => (format!("https://{direct}"), trusted),
    }
}

/// What the built-in listener needs from the server.
pub struct Builtin {
    pub services: Services,
    pub config: BuiltinListener,
    pub unconfined: Unconfined,
    pub configuration_limits: terrace_slug::Limits,
    pub server_url: String,
    pub ca_file: Option<PathBuf>,
}

/// Starts the built-in listener until `stop` completes; its health is reported on the
/// returned receiver (`Stopped` with the reason if it ends on an error).
pub fn spawn(
    builtin: Builtin,
    stop: impl Future<Output = ()> + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Health) {
    let (connection, health) = watch::channel(Connection::Connecting);
    let connection = Arc::new(connection);
    let task = tokio::spawn(run(builtin, connection, stop));
    (task, health)
}

/// An ordinary listener speaking HTTP to this server, with an agent token of the server's own.
async fn run(
    builtin: Builtin,
    connection: Arc<watch::Sender<Connection>>,
    stop: impl Future<Output = ()>,
) {
    let Builtin {
        services,
        config: listener,
        unconfined,
        configuration_limits,
        server_url,
        ca_file,
    } = builtin;
    let result = async {
        let token = services
            .issue_server_agent_token()
            .await
            .context("issuing the built-in listener's token")?;
        let mut config = ListenerConfig::new(server_url, token);
        config.ca_file = ca_file;
        config.name = format!("{} (built-in)", config.name);
        config.capacity = listener.capacity;
        config.terraform_bin = listener.terraform_bin;
        config.versions_dir = listener.versions_dir;
        config.provider_mirror = listener.provider_mirror_dir;
        config.direct_providers = listener.direct_providers;
        config.tools_cache_dir = listener.tools_cache_dir;
        if let Some(dir) = listener.work_dir {
            config.work_dir = dir;
        }
        config.run_as = listener.confinement.run_as;
        config.read_paths = listener.confinement.read_paths;
        config.unconfined = unconfined;
        config.configuration_limits = configuration_limits;
        config.connection = Some(connection.clone());
        run_listener(config, stop).await
    }
    .await;
    let reason = match result {
        Ok(()) => "the server is shutting down".to_string(),
        Err(err) => {
            let reason = format!("{err:#}");
            tracing::error!(error = %reason, "the built-in runner listener stopped");
            reason
        }
    };
    connection.send_replace(Connection::Stopped(reason));
}

/// What is wrong with the built-in listener, for waiting runs' logs (`None`: nothing known).
pub fn problem(connection: &Connection) -> Option<String> {
    match connection {
        Connection::Connected | Connection::Connecting => None,
        Connection::Failing(error) => Some(format!(
            "the built-in listener cannot reach this server: {error}"
        )),
        Connection::Stopped(error) => Some(format!("the built-in listener stopped: {error}")),
    }
}

/// The banner's line about where runs execute, once the listener has tried to connect.
pub fn describe(connection: &Connection, listener: &BuiltinListener) -> String {
    match connection {
        Connection::Connected => format!(
            "executed here, {} at a time, with {}",
            listener.capacity,
            listener.terraform_bin.display()
        ),
        Connection::Connecting => {
            "NOT executed yet: the built-in listener is still connecting".to_string()
        }
        Connection::Failing(error) => format!(
            "NOT executed yet: the built-in listener cannot reach this server (retrying): {error}"
        ),
        Connection::Stopped(error) => {
            format!("NOT executed here: the built-in listener stopped: {error}")
        }
    }
}
