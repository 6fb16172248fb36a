//! Remote runs through the API, as a VCS integration or a script would drive them: build a
//! configuration tarball, upload it, create a run, wait for it to settle.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Api, Client, Reply, Server, ServerBuilder};

/// A gzip'd tar of `files` (path, content), the slug format the CLI uploads.
pub fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .expect("tar entry");
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .expect("tarball")
}

/// Starts the server with a runner that has `client`'s version: a workspace the client creates
/// asks for it. (Until the server's catalogue of tool versions exists, through the runner's
/// versions directory, `DIR/VERSION/terraform`; OpenTofu answers to the name.)
pub fn start_with_runner_for(builder: ServerBuilder, client: &Client) -> Server {
    static VERSIONS: OnceLock<PathBuf> = OnceLock::new();
    let dir = VERSIONS.get_or_init(|| {
        // One per test process, for its lifetime.
        let dir = tempfile::tempdir().unwrap().keep();
        for other in [Client::terraform_1_5_7(), Client::tofu_1_12_6()] {
            let target = dir.join(&other.version);
            std::fs::create_dir_all(&target).unwrap();
            std::os::unix::fs::symlink(&other.program, target.join("terraform")).unwrap();
        }
        dir
    });
    let _ = client;
    builder
        .arg("--terraform-versions-dir")
        .arg(dir.to_str().unwrap())
        .start()
}

/// Creates a configuration version on the workspace and uploads `files` to it; returns the
/// version's ID once it is uploaded.
pub fn upload_configuration(
    api: &Api,
    workspace_id: &str,
    files: &[(&str, &str)],
    auto_queue_runs: bool,
) -> String {
    let created = api
        .post(
            &format!("workspaces/{workspace_id}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions",
                "attributes": {"auto-queue-runs": auto_queue_runs}}}),
        )
        .expect(201);
    let url = created.attr("upload-url").as_str().expect("an upload URL");
    api.put_unauthenticated(url, &tarball(files)).expect(200);
    let id = created.id();
    let shown = api.get(&format!("configuration-versions/{id}")).ok();
    assert_eq!(shown.attr("status"), "uploaded", "{}", shown.text);
    id
}

/// Creates a run on the workspace's latest configuration (or `configuration_id`) with extra
/// attributes; returns the created run.
pub fn create_run(
    api: &Api,
    workspace_id: &str,
    configuration_id: Option<&str>,
    attributes: Value,
) -> Reply {
    let mut relationships =
        json!({"workspace": {"data": {"type": "workspaces", "id": workspace_id}}});
    if let Some(id) = configuration_id {
        relationships["configuration-version"] =
            json!({"data": {"type": "configuration-versions", "id": id}});
    }
    api.post(
        "runs",
        &json!({"data": {"type": "runs", "attributes": attributes,
            "relationships": relationships}}),
    )
    .expect(201)
}

/// Polls the run until its status is one of `statuses`; panics with the run (and its plan
/// log) if it settles elsewhere or takes longer than `timeout`.
pub fn wait_for_run(api: &Api, run_id: &str, statuses: &[&str], timeout: Duration) -> Reply {
    const SETTLED: &[&str] = &[
        "planned",
        "cost_estimated",
        "policy_checked",
        "planned_and_finished",
        "planned_and_saved",
        "applied",
        "discarded",
        "errored",
        "canceled",
        "force_canceled",
    ];
    let deadline = Instant::now() + timeout;
    loop {
        let reply = api.get(&format!("runs/{run_id}")).ok();
        let status = reply
            .attr("status")
            .as_str()
            .unwrap_or_default()
            .to_string();
        if statuses.contains(&status.as_str()) {
            return reply;
        }
        if SETTLED.contains(&status.as_str()) || Instant::now() > deadline {
            panic!(
                "run {run_id} is {status}, waiting for {statuses:?}: {}\nplan log:\n{}\napply log:\n{}",
                reply.text,
                phase_log(api, run_id, "plan"),
                phase_log(api, run_id, "apply"),
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The whole log of a run's plan or apply as it stands (without the STX/ETX framing).
pub fn phase_log(api: &Api, run_id: &str, phase: &str) -> String {
    let reply = api.get(&format!("runs/{run_id}/{phase}"));
    let Some(url) = reply.attr("log-read-url").as_str() else {
        return format!("(no {phase} log: {} {})", reply.status, reply.text);
    };
    let log = api
        .anonymous()
        .get(&format!("{url}?offset=0&limit=10000000"));
    log.text
        .trim_start_matches('\u{2}')
        .trim_end_matches('\u{3}')
        .to_string()
}

/// A data source that never answers: a TCP server that accepts connections and stays silent,
/// and a configuration whose plan reads from it, so terraform stays busy in its plan until it
/// is interrupted or the connection is dropped.
pub struct SilentSource {
    listener: std::net::TcpListener,
    port: u16,
}

impl SilentSource {
    pub fn new() -> SilentSource {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        SilentSource { listener, port }
    }

    /// A configuration whose plan blocks reading this source.
    pub fn configuration(&self) -> String {
        format!(
            r#"
data "terraform_remote_state" "slow" {{
  backend = "http"
  config = {{
    address = "http://127.0.0.1:{}/state"
  }}
}}
resource "terraform_data" "after" {{
  input = data.terraform_remote_state.slow.outputs
}}
"#,
            self.port
        )
    }

    /// Waits for terraform's connection: its plan is blocked while the stream is held.
    pub fn accept(&self) -> std::net::TcpStream {
        let (stream, _) = self
            .listener
            .accept()
            .expect("terraform connects to the silent source");
        stream
    }
}

impl Default for SilentSource {
    fn default() -> Self {
        SilentSource::new()
    }
}
