//! Log URLs are short-lived and bound to whoever read the phase: one URL streams a phase
//! however long it runs, goes stale a TTL after the phase ended, and stops working once its
//! holder may no longer read the run. The TTL is cut to 2 seconds here.

use std::time::Duration;

use serde_json::json;
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run, SilentSource};
use terrace_tests::{Api, Db, Server};

const TTL_SECONDS: u64 = 2;

fn server() -> Server {
    Server::builder(Db::Sqlite)
        .args(&["--log-url-ttl-seconds", &TTL_SECONDS.to_string()])
        .start()
}

fn workspace(api: &Api, name: &str) -> String {
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
    )
    .expect(201)
    .id()
}

fn log_url(api: &Api, run: &str) -> String {
    let plan = api.get(&format!("runs/{run}/plan")).ok();
    plan.attr("log-read-url").as_str().unwrap().to_string()
}

/// Reads the whole log through `url`: its status and body.
fn read(api: &Api, url: &str) -> (u16, String) {
    let reply = api
        .anonymous()
        .get(&format!("{url}?offset=0&limit=1000000"));
    (reply.status, reply.text)
}

fn past_ttl() {
    std::thread::sleep(Duration::from_secs(TTL_SECONDS + 1));
}

#[test]
fn a_log_url_streams_its_running_phase_and_goes_stale_a_ttl_after_it_ended() {
    let server = server();
    let api = server.api(&server.admin_token());
    let ws = workspace(&api, "long-plan");
    let silent = SilentSource::new();
    upload_configuration(&api, &ws, &[("main.tf", &silent.configuration())], false);
    let run = create_run(&api, &ws, None, json!({})).id();
    let held = silent.accept();
    let url = log_url(&api, &run);

    // The plan outlives the URL's TTL; the CLI keeps polling the one URL it got.
    past_ttl();
    let (status, text) = read(&api, &url);
    assert_eq!(status, 200, "{text}");
    assert!(
        !text.ends_with('\u{3}'),
        "the plan is still running: {text}"
    );

    // The plan ends: the same URL delivers the end of the log.
    api.post(&format!("runs/{run}/actions/cancel"), &json!({}))
        .expect(202);
    wait_for_run(
        &api,
        &run,
        &["canceled", "errored"],
        Duration::from_secs(60),
    );
    drop(held);
    let (status, text) = read(&api, &url);
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with('\u{3}'), "{text}");

    // A TTL after the plan ended, the old URL is refused; a fresh read of the plan gives a
    // working one.
    past_ttl();
    let (status, text) = read(&api, &url);
    assert_eq!(status, 410, "{text}");
    assert!(text.contains("read the plan or apply again"), "{text}");
    let fresh = log_url(&api, &run);
    assert_ne!(fresh, url, "every read of the plan issues a new URL");
    let (status, text) = read(&api, &fresh);
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with('\u{3}'), "{text}");
}

#[test]
fn a_log_url_stops_working_when_its_holders_token_is_revoked() {
    let server = server();
    let api = server.api(&server.admin_token());
    let ws = workspace(&api, "revoked");
    let quick = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n";
    upload_configuration(&api, &ws, &[("main.tf", quick)], false);
    let run = create_run(&api, &ws, None, json!({})).id();
    wait_for_run(&api, &run, &["planned"], Duration::from_secs(120));

    let url = log_url(&api, &run);
    assert_eq!(read(&api, &url).0, 200);

    // Revoking the admin's tokens ends the URLs issued to them, however fresh.
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "another-password-1\n").unwrap();
    server.admin(&[
        "user",
        "set-password",
        "admin",
        "--password-file",
        password.to_str().unwrap(),
        "--revoke-tokens",
    ]);
    let (status, text) = read(&api, &url);
    assert_eq!(status, 404, "{text}");

    let api = server.api(&server.admin_token());
    let (status, text) = read(&api, &log_url(&api, &run));
    assert_eq!(status, 200, "{text}");
}
