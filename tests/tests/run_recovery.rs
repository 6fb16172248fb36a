//! Runs whose runner or server goes away: a runner killed mid-plan, a server stopped
//! gracefully mid-plan, and a server killed outright. Each run ends errored with a reason, the
//! workspace lets go of its lock, and the next run goes through. On both databases.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::runs::{
    create_run, phase_log, upload_configuration, wait_for_run, SilentSource,
};
use terrace_tests::{both_databases, Api, Db, Server};

const QUICK: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n";

/// Starts a run on a new workspace and returns once its terraform is stuck in the plan
/// (holding the returned connection).
fn stuck_run(api: &Api, name: &str) -> (String, String, TcpStream) {
    let silent = SilentSource::new();
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
        .expect(201)
        .id();
    upload_configuration(
        api,
        &ws,
        &[("main.tf", silent.configuration().as_str())],
        false,
    );
    let run = create_run(api, &ws, None, json!({})).id();
    let held = silent.accept();
    let status = api.get(&format!("runs/{run}")).ok();
    assert_eq!(status.attr("status"), "planning", "{}", status.text);
    (ws, run, held)
}

/// After the run ended: the lock is free and the workspace takes the next run.
fn workspace_recovers(api: &Api, ws: &str) {
    let shown = api.get(&format!("workspaces/{ws}")).ok();
    assert_eq!(shown.attr("locked"), false, "{}", shown.text);
    upload_configuration(api, ws, &[("main.tf", QUICK)], false);
    let next = create_run(api, ws, None, json!({})).id();
    wait_for_run(api, &next, &["planned"], Duration::from_secs(120));
}

fn children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

both_databases!(a_runner_killed_mid_plan_errors_the_run, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    let (ws, run, _held) = stuck_run(&api, "runner-dies");

    // The built-in listener's runner processes are the server's children.
    let runners = children(server.pid().unwrap());
    assert_eq!(runners.len(), 1, "one runner: {runners:?}");
    let killed = Instant::now();
    kill("-KILL", runners[0]);

    let ended = wait_for_run(&api, &run, &["errored"], Duration::from_secs(60));
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "the listener noticed after {:?}",
        killed.elapsed()
    );
    let plan = api.get(&format!("runs/{run}/plan")).ok();
    assert_eq!(plan.attr("status"), "errored", "{}", plan.text);
    let log = phase_log(&api, &run, "plan");
    assert!(
        log.contains("SIGKILL"),
        "the log says why: {log}\n{}",
        ended.text
    );
    workspace_recovers(&api, &ws);
});

/// The runs' directories in `server`'s work directory.
fn runs_dirs(server: &Server) -> Vec<PathBuf> {
    std::fs::read_dir(&server.work_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("terrace-runs-")
        })
        .collect()
}

/// Restarts `server` on its own data (and database) and work directory.
fn restart(server: &Server) -> Server {
    let builder = Server::builder(if server.database_url.is_some() {
        Db::Postgres
    } else {
        Db::Sqlite
    })
    .data_dir(Path::new(&server.data_dir))
    .work_dir(&server.work_dir);
    match &server.database_url {
        Some(url) => builder.database_url(url).start(),
        None => builder.start(),
    }
}

both_databases!(a_server_stopped_mid_plan_errors_the_run, |db: Db| {
    let mut server = Server::start(db);
    let token = server.admin_token();
    let api = server.api(&token);
    let (ws, run, held) = stuck_run(&api, "graceful");

    // SIGTERM: the listener stops its runners, which report their jobs errored (not
    // canceled: nobody asked for that) before the server stops, so the restarted server
    // finds the run ended rather than running.
    let runs = runs_dirs(&server);
    server.stop();
    assert!(
        !runs.iter().any(|dir| dir.exists()),
        "a stopped server removes its runs' directory"
    );
    drop(held);
    let server = restart(&server);
    let api = server.api(&token);
    let ended = api.get(&format!("runs/{run}")).ok();
    assert_eq!(ended.attr("status"), "errored", "{}", ended.text);
    let log = phase_log(&api, &run, "plan");
    assert!(log.contains("shut down"), "the log says why: {log}");
    workspace_recovers(&api, &ws);
});

both_databases!(a_server_killed_mid_plan_has_its_run_errored, |db: Db| {
    let server = Server::start(db);
    let token = server.admin_token();
    let api = server.api(&token);
    let (ws, run, held) = stuck_run(&api, "killed");

    // SIGKILL: nothing is reported; the runner dies with the server. The restarted server
    // hears nothing from the job and errors the run once its heartbeat is overdue.
    kill("-KILL", server.pid().unwrap());
    drop(held);
    // A killed server cannot remove its runs' directory (its job's, its terraform
    // binaries): the next server to start in the same work directory does.
    let left = runs_dirs(&server);
    assert_eq!(left.len(), 1, "{left:?}");
    let restarted = restart(&server);
    let deadline = Instant::now() + Duration::from_secs(15);
    while left[0].exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!left[0].exists(), "{} is left behind", left[0].display());
    let api = restarted.api(&token);
    let ended = wait_for_run(&api, &run, &["errored"], Duration::from_secs(150));
    let log = phase_log(&api, &run, "plan");
    assert!(log.contains("stopped responding"), "{log}\n{}", ended.text);
    workspace_recovers(&api, &ws);
    drop(server);
});
