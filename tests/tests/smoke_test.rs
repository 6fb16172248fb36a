//! `terrace smoke-test` (what the Helm chart's test hook runs), the real binary against a
//! server with its built-in listener and terraform: it plans its one-resource configuration
//! and passes; a second test reuses the workspace; a wrong token, an unknown organization, a
//! plan that errors (with the end of its log) and a plan nobody executes (a workspace in an
//! agent pool without an agent) fail with a reason and a non-zero status, the last leaving
//! its run canceled rather than queued forever.

use std::process::{Command, Output};

use serde_json::{json, Value};
use terrace_tests::{terrace_bin, Api, Db, Server};

const WORKSPACE: &str = "terrace-smoke-test";

/// Runs `terrace smoke-test` against `server` with the token in a file and extra `args`.
fn smoke_test(server: &Server, token: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut command = Command::new(terrace_bin());
    command
        .arg("smoke-test")
        .arg("--server-url")
        .arg(&server.url)
        .arg("--token-file")
        .arg(&token_file)
        .arg("--ca-file")
        .arg(&server.ca_bundle)
        .args(args);
    for var in [
        "TERRACE_TOKEN",
        "TERRACE_TOKEN_FILE",
        "TERRACE_SERVER_URL",
        "TERRACE_CA_FILE",
    ] {
        command.env_remove(var);
    }
    let output = command.output().expect("terrace smoke-test runs");
    let all = text(&output);
    assert!(!all.contains(token), "the token was printed:\n{all}");
    output
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn workspace(api: &Api, name: &str) -> Value {
    api.get(&format!("organizations/default/workspaces/{name}"))
        .ok()
        .body
}

/// The workspace's plan-only runs, newest first.
fn plan_only_runs(api: &Api, workspace_id: &str) -> Vec<Value> {
    api.get(&format!(
        "workspaces/{workspace_id}/runs?filter%5Boperation%5D=plan_only"
    ))
    .ok()
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_plan_passes_and_reuses_its_workspace() {
    let server = Server::start(Db::Sqlite);
    let token = server.admin_token();
    let api = server.api(&token);

    let first = smoke_test(&server, &token, &[]);
    let out = text(&first);
    eprintln!("{out}");
    assert!(first.status.success(), "{out}");
    for line in [
        "ok: ",
        "answers /api/v2/ping (Terrace API ",
        &format!("ok: workspace default/{WORKSPACE} (ws-"),
        ") created",
        "uploaded",
        "plan-only run run-",
        ": planned_and_finished",
        ": finished, 1 to add, 0 to change, 0 to destroy",
        "smoke test passed: run run-",
    ] {
        assert!(out.contains(line), "no {line:?} in\n{out}");
    }
    let shown = workspace(&api, WORKSPACE);
    let workspace_id = shown["data"]["id"].as_str().unwrap().to_string();
    let runs = plan_only_runs(&api, &workspace_id);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["attributes"]["plan-only"], true);
    assert_eq!(runs[0]["attributes"]["status"], "planned_and_finished");
    assert_eq!(runs[0]["attributes"]["message"], "terrace smoke-test");
    assert!(
        out.contains(runs[0]["id"].as_str().unwrap()),
        "the run it reports: {out}"
    );
    // Nothing was applied: no state.
    assert_eq!(
        shown["data"]["relationships"]["current-state-version"]["data"],
        Value::Null
    );

    // Again: the same workspace, found; a second plan-only run.
    let second = smoke_test(&server, &token, &["--timeout", "120"]);
    let out = text(&second);
    assert!(second.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "ok: workspace default/{WORKSPACE} ({workspace_id}, execution mode remote) found"
        )),
        "{out}"
    );
    assert!(out.contains("1 to add"), "{out}");
    let named: Vec<Value> = api
        .get("organizations/default/workspaces?search%5Bname%5D=terrace-smoke")
        .ok()
        .body["data"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(named.len(), 1, "one workspace: {named:?}");
    let runs = plan_only_runs(&api, &workspace_id);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs
        .iter()
        .all(|r| r["attributes"]["status"] == "planned_and_finished"));
}

#[test]
fn failures_say_why_and_exit_non_zero() {
    let server = Server::start(Db::Sqlite);
    let token = server.admin_token();
    let api = server.api(&token);

    // A token the server does not know.
    let wrong = "trc1.wrongwrongwrongwrongwrongwrongwrongwrongwrongwr";
    let output = smoke_test(&server, wrong, &[]);
    let out = text(&output);
    eprintln!("{out}");
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("401 the server refused the token"), "{out}");
    // An organization that does not exist.
    let output = smoke_test(&server, &token, &["--organization", "nowhere"]);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("reading organization \"nowhere\": 404 not found: organization \"nowhere\" does not exist"),
        "{out}"
    );
    // Neither made a workspace.
    api.get(&format!("organizations/default/workspaces/{WORKSPACE}"))
        .expect(404);

    // A workspace whose runs only an agent of its pool may execute, and no agent: the plan
    // stays queued until the timeout, and the run is canceled.
    let pool = api
        .post(
            "organizations/default/agent-pools",
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "nobody"}}}),
        )
        .expect(201)
        .id();
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "pooled-smoke",
                "execution-mode": "agent"},
                "relationships": {"agent-pool": {"data": {"type": "agent-pools", "id": pool}}}}}),
        )
        .expect(201)
        .id();
    let output = smoke_test(
        &server,
        &token,
        &["--workspace", "pooled-smoke", "--timeout", "5"],
    );
    let out = text(&output);
    eprintln!("{out}");
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("ok: workspace default/pooled-smoke (")
            && out.contains("execution mode agent) found"),
        "{out}"
    );
    assert!(out.contains("timed out after 5 s: run run-"), "{out}");
    assert!(
        out.contains("no agent of the workspace's agent pool took its plan"),
        "{out}"
    );
    assert!(out.contains("; it was canceled"), "{out}");
    assert!(!out.contains("smoke test passed"), "{out}");
    let runs = plan_only_runs(&api, &ws);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["attributes"]["status"], "canceled", "{runs:?}");

    // A plan that fails: the workspace runs terraform in a directory the configuration does
    // not have. The run errors; the test says so with the end of the plan's log.
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": "broken-smoke",
            "working-directory": "missing"}}}),
    )
    .expect(201);
    let output = smoke_test(&server, &token, &["--workspace", "broken-smoke"]);
    let out = text(&output);
    eprintln!("{out}");
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains(": errored\n"), "{out}");
    assert!(
        out.contains(
            "is errored, not planned_and_finished: the plan failed. The last lines of its log:"
        ),
        "{out}"
    );
    assert!(
        out.contains("the working directory \"missing\" does not exist in the configuration"),
        "{out}"
    );

    // Without a token at all.
    let output = Command::new(terrace_bin())
        .args(["smoke-test", "--server-url", &server.url])
        .env_remove("TERRACE_TOKEN")
        .env_remove("TERRACE_TOKEN_FILE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("an API token is needed: --token-file or --token"),
        "{}",
        text(&output)
    );
    // A server whose CA is not trusted.
    let output = Command::new(terrace_bin())
        .args(["smoke-test", "--server-url", &server.url])
        .env("TERRACE_TOKEN", &token)
        .env_remove("TERRACE_TOKEN_FILE")
        .env_remove("TERRACE_CA_FILE")
        .output()
        .unwrap();
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("--ca-file"), "{out}");
    assert!(!out.contains(&token), "{out}");
}
