//! Remote runs through the API, as a VCS integration or a script would drive them: build a
//! configuration tarball, upload it, create a run, wait for it to settle.

use std::path::PathBuf;
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

/// Starts the server so that remote runs on workspaces `client` creates use `client`'s own
/// version: for a client other than the terraform on PATH (the runner's default binary, used
/// while the catalogue is empty), the site's catalogue of tool versions lists its binary under
/// its engine (`terrace admin tool-version`, the file's path and SHA-256), and the runner
/// fetches, verifies and runs it.
pub fn start_with_runner_for(builder: ServerBuilder, client: &Client) -> Server {
    let server = builder.start();
    if client.program != Client::terraform().program {
        let binary = runner_readable_copy(client);
        server.admin(&[
            "tool-version",
            "--engine",
            client.engine(),
            "--version",
            &client.version,
            "--file",
            binary.to_str().unwrap(),
        ]);
    }
    server
}

/// A copy of the client's binary the runner's user (`nobody` when the tests run as root) can
/// read, unlike the tool cache in the tester's home. One per binary (named by its size and
/// time), shared by every test process like `tools::provider_mirror`.
fn runner_readable_copy(client: &Client) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let source = std::fs::metadata(&client.program).expect("the client's binary");
    let modified = source
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let shared = std::env::temp_dir().join(format!(
        "terrace-runner-{}-{}-{}-{modified}",
        client.engine(),
        client.version,
        source.len()
    ));
    if !shared.exists() {
        let building = tempfile::Builder::new()
            .prefix(".terrace-runner-")
            .tempfile()
            .expect("a temporary file");
        std::fs::copy(&client.program, building.path()).unwrap();
        std::fs::set_permissions(building.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test may have made it meanwhile: theirs is as good.
        if let Err(err) = building.persist_noclobber(&shared) {
            assert!(shared.exists(), "cannot make {}: {err}", shared.display());
        }
    }
    crate::tools::owned_like(shared, &client.program)
}

/// A tarball with one entry whose path climbs out of the configuration (the tar crate's
/// builder refuses such paths, so the header is written by hand).
pub fn escaping_tarball() -> Vec<u8> {
    use std::io::Write;
    let mut header = tar::Header::new_gnu();
    let name = b"../escape.tf";
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_size(2);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"{}"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
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

    /// Waits for terraform's connection: its plan is blocked while the stream is held. Fails
    /// after five minutes (enough for a Kubernetes Job to start) rather than hanging: a run
    /// that errored before its plan never connects.
    pub fn accept(&self) -> std::net::TcpStream {
        let timeout = Duration::from_secs(300);
        self.listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    return stream;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "terraform did not connect to the silent source in {timeout:?}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("accepting on the silent source: {e}"),
            }
        }
    }
}

impl Default for SilentSource {
    fn default() -> Self {
        SilentSource::new()
    }
}
