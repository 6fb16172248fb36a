//! The listener against a fake server: registration, claims, heartbeats, runner processes
//! with a clean environment, cancels relayed, and jobs reported when their runner dies.

mod support;

use std::time::Duration;

use support::{job, Fake, Shared};
use terrace_protocol::{JobAssignment, JobKind, JobOutcome, JobSpec, Operation};
use terrace_runner_listener::listener::{run_listener, ListenerConfig};

fn assignment(job_id: &str, token: &str) -> JobAssignment {
    JobAssignment {
        job_id: job_id.into(),
        kind: JobKind::Plan,
        run_id: "run-1".into(),
        token: token.into(),
    }
}

fn spec(job_id: &str) -> JobSpec {
    JobSpec {
        job_id: job_id.into(),
        kind: JobKind::Plan,
        run_id: "run-1".into(),
        workspace_id: "ws-1".into(),
        workspace_name: "app".into(),
        organization: "acme".into(),
        working_directory: String::new(),
        terraform_version: "latest".into(),
        operation: Operation::default(),
        structured_output: true,
        var_files: vec![],
        env: vec![],
        has_state: false,
        has_ssh_key: false,
        log_offset: 0,
        engine: "terraform".into(),
        tool: None,
        tool_error: None,
    }
}

async fn server_with_jobs(jobs: &[(&str, &str)]) -> Shared {
    let mut fake = Fake {
        agent_token: "agent-secret".into(),
        ..Fake::default()
    };
    for (job_id, token) in jobs {
        fake.queue.push_back(assignment(job_id, token));
        fake.jobs.insert(token.to_string(), job(spec(job_id)));
    }
    support::start(fake).await
}

fn config(server: &Shared, script: &str) -> ListenerConfig {
    let url = server.lock().unwrap().base_url.clone();
    let mut config = ListenerConfig::new(url, "agent-secret");
    config.name = "test-listener".into();
    config.capacity = 2;
    config.runner_command = vec!["/bin/sh".into(), "-c".into(), script.into()];
    config.heartbeat_interval = Duration::from_millis(200);
    config.claim_wait = Duration::from_secs(1);
    config.grace_period = Duration::from_secs(2);
    config
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A directory the runners (`nobody` under a root listener) can write to.
fn shared_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

fn outcome(server: &Shared, token: &str) -> Option<JobOutcome> {
    server.lock().unwrap().jobs[token].outcome.clone()
}

#[tokio::test]
async fn runners_get_a_clean_environment_and_dead_runners_are_reported() {
    let server = server_with_jobs(&[("plan-1", "token-1")]).await;
    let dir = shared_dir();
    let env_file = dir.path().join("runner-env");
    // A runner that writes its environment and user and dies without reporting.
    let script = format!(
        "env > '{f}'; echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\" > '{f}.user'; exit 3",
        f = env_file.display()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::spawn(run_listener(config(&server, &script), async {
        let _ = stopped.await;
    }));

    wait_for("the job is reported", || {
        outcome(&server, "token-1").is_some()
    })
    .await;
    let reported = outcome(&server, "token-1").unwrap();
    assert_eq!(reported.status, "errored");
    assert_eq!(
        reported.error.as_deref(),
        Some("the runner exited with exit status 3")
    );

    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("TERRACE_JOB_TOKEN=token-1\n"), "{env}");
    // A root listener starts runners as nobody, without root's groups; others as themselves.
    let user = std::fs::read_to_string(dir.path().join("runner-env.user")).unwrap();
    if is_root() {
        assert_eq!(user.trim(), "uid=65534 gid=65534 groups=65534");
    }
    assert!(
        env.contains("TERRACE_SERVER_URL=http://127.0.0.1:"),
        "{env}"
    );
    assert!(env.contains("TERRACE_TERRAFORM_BIN=terraform\n"), "{env}");
    assert!(
        !env.contains("agent-secret"),
        "the agent token leaked: {env}"
    );
    for line in env.lines() {
        let key = line.split('=').next().unwrap();
        let allowed = key.starts_with("TERRACE_")
            || [
                "PATH",
                "HOME",
                "RUST_LOG",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "PWD",
                "SHLVL",
                "_",
            ]
            .contains(&key);
        assert!(
            allowed,
            "unexpected variable {key} in the runner's environment"
        );
    }

    {
        let fake = server.lock().unwrap();
        assert_eq!(fake.registered.len(), 1);
        assert_eq!(fake.registered[0].name, "test-listener");
        assert_eq!(fake.registered[0].executor, "local");
        assert_eq!(fake.registered[0].capacity, 2);
    }
    wait_for("a heartbeat", || {
        !server.lock().unwrap().heartbeats.is_empty()
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), listener)
        .await
        .expect("the listener stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn cancels_are_relayed_once_and_shutdown_waits_for_runners() {
    let server = server_with_jobs(&[("plan-1", "token-1")]).await;
    let dir = shared_dir();
    let marker = dir.path().join("signals");
    // A runner that counts the SIGINTs it gets and ends (successfully) on the third second
    // after the first one, as a runner finishing a canceled job would.
    let script = format!(
        "trap 'echo INT >> {m}' INT; i=0; while [ ! -s {m} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; sleep 1; exit 0",
        m = marker.display()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::spawn(run_listener(config(&server, &script), async {
        let _ = stopped.await;
    }));
    wait_for("the job runs", || {
        server
            .lock()
            .unwrap()
            .heartbeats
            .iter()
            .any(|h| h.running == ["plan-1"])
    })
    .await;
    server.lock().unwrap().cancel.push("plan-1".into());
    wait_for("the runner is interrupted", || marker.exists()).await;
    // Several heartbeats answer "cancel" while the runner winds down: it is signalled once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signals = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(signals.lines().count(), 1, "{signals}");
    // The runner exited 0: it reported (here: nothing), so the listener reports nothing.
    assert!(outcome(&server, "token-1").is_none());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), listener)
        .await
        .expect("the listener stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_terminates_runners_and_kills_those_that_linger() {
    let server = server_with_jobs(&[("plan-1", "token-1")]).await;
    // Ignores the SIGTERM of a shutdown: only the kill after the grace period (2 s) ends it.
    let script = "trap '' TERM; sleep 60";
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::spawn(run_listener(config(&server, script), async {
        let _ = stopped.await;
    }));
    wait_for("the job runs", || {
        server
            .lock()
            .unwrap()
            .heartbeats
            .iter()
            .any(|h| h.running == ["plan-1"])
    })
    .await;
    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), listener)
        .await
        .expect("the listener stops")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    let reported = outcome(&server, "token-1").expect("the killed runner's job is reported");
    assert_eq!(reported.status, "errored");
    assert!(
        reported.error.as_deref().unwrap().contains("SIGKILL"),
        "{reported:?}"
    );
}

#[tokio::test]
async fn a_refused_agent_token_stops_the_listener() {
    let server = server_with_jobs(&[]).await;
    let mut config = config(&server, "exit 0");
    config.agent_token = "wrong".into();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run_listener(config, std::future::pending()),
    )
    .await
    .expect("it gives up at once");
    let err = result.unwrap_err().to_string();
    assert!(err.contains("refused"), "{err}");
}
