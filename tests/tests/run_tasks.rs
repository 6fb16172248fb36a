//! Run tasks during a run, end to end: task services started here follow HCP Terraform's
//! contract (check `X-TFC-Task-Signature`, answer 200, then PATCH the callback URL with the
//! request's access token: `running`, then `passed` or `failed`), and the real terraform CLI
//! runs remotely through the built-in listener. A mandatory post-plan failure stops
//! `apply -auto-approve` before the apply; an advisory one only warns; a passing pre-plan
//! task lets the plan proceed; forged callbacks change nothing; a silent service errors its
//! result at the deadline and the run with it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::access::create_workspace;
use terrace_tests::receiver::{Received, Receiver};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, strip_ansi, Api, Db, Server, Terraform};

const ORG: &str = "default";
const ALLOW: &str = "--allow-private-notification-urls";
const KEY: &str = "task-hmac-key";
const CONFIG: &str = "resource \"terraform_data\" \"note\" {\n  input = \"hello\"\n}\n";

/// HMAC-SHA512 (RFC 2104) of `body` keyed by [`KEY`], hex: written out here so the test
/// does not share the server's HMAC code.
fn signature(body: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    let mut key = [0u8; 128];
    key[..KEY.len()].copy_from_slice(KEY.as_bytes());
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha512::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha512::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

/// A task service: the requests it got (the run task's test request aside), what went wrong
/// on its side, and the plan JSON it read.
struct TaskService {
    receiver: Arc<Receiver>,
    problems: Arc<Mutex<Vec<String>>>,
    plans_read: Arc<Mutex<Vec<Value>>>,
}

impl TaskService {
    /// `verdict`: `Some("passed" | "failed")`, or `None` for a service that never calls back.
    fn start(api: &Api, verdict: Option<&'static str>) -> TaskService {
        let receiver = Arc::new(Receiver::start(&[200]));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let plans_read = Arc::new(Mutex::new(Vec::new()));
        let (r, p, plans, api) = (
            receiver.clone(),
            problems.clone(),
            plans_read.clone(),
            api.clone(),
        );
        std::thread::spawn(move || {
            let mut handled = 0;
            loop {
                let got = r.received();
                for request in &got[handled..] {
                    serve(request, &api, verdict, &p, &plans);
                }
                handled = got.len();
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        TaskService {
            receiver,
            problems,
            plans_read,
        }
    }

    fn url(&self) -> &str {
        &self.receiver.url
    }

    /// The run requests (not the test request of the task's creation).
    fn requests(&self) -> Vec<Received> {
        self.receiver
            .received()
            .into_iter()
            .filter(|r| r.body["access_token"] != "test-token")
            .collect()
    }

    fn wait_for_requests(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} requests, not {n}", got.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn assert_no_problems(&self) {
        let problems = self.problems.lock().unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

/// What a service does with one request, as HCP's contract has it: the signature checked
/// (the 200 is the receiver's), then the callback with the request's token.
fn serve(
    request: &Received,
    api: &Api,
    verdict: Option<&str>,
    problems: &Mutex<Vec<String>>,
    plans: &Mutex<Vec<Value>>,
) {
    let body = &request.body;
    if request.headers.get("x-tfc-task-signature") != Some(&signature(&request.raw)) {
        problems
            .lock()
            .unwrap()
            .push(format!("a bad signature on {body}"));
    }
    let token = body["access_token"].as_str().unwrap_or_default();
    if token == "test-token" {
        return;
    }
    let Some(verdict) = verdict else { return };
    let callback = body["task_result_callback_url"]
        .as_str()
        .unwrap()
        .to_string();
    let service = api.with_token(token);
    let patch = |status: &str, message: &str| {
        let reply = service.send_json(
            "PATCH",
            &callback,
            &json!({"data": {"type": "task-results", "attributes": {
                "status": status, "message": message, "url": "https://scanner.example/r/1"},
                "relationships": {"outcomes": {"data": [{"type": "task-result-outcomes",
                    "attributes": {"outcome-id": "o-1", "description": "a finding"}}]}}}}),
        );
        if reply.status != 200 {
            problems.lock().unwrap().push(format!(
                "the {status} callback got {}: {}",
                reply.status, reply.text
            ));
        }
    };
    patch("running", "scanning");
    // From the post-plan stage on, the plan is there to read, with the same token.
    if let Some(url) = body["plan_json_api_url"].as_str() {
        let reply = service.get(url);
        if reply.status == 200 {
            plans.lock().unwrap().push(reply.body.clone());
        } else {
            problems.lock().unwrap().push(format!(
                "reading the plan got {}: {}",
                reply.status, reply.text
            ));
        }
    }
    let message = if verdict == "passed" {
        "no findings"
    } else {
        "3 findings: the plan opens port 22 to the world"
    };
    patch(verdict, message);
}

/// Creates a task pointing at `service` and attaches it to the workspace.
fn add_task(api: &Api, ws: &str, name: &str, url: &str, level: &str, stages: &[&str]) -> String {
    let task = api
        .post(
            &format!("organizations/{ORG}/tasks"),
            &json!({"data": {"type": "tasks", "attributes": {
                "name": name, "url": url, "category": "task", "hmac-key": KEY,
                "enabled": true}}}),
        )
        .expect(201)
        .id();
    api.post(
        &format!("workspaces/{ws}/tasks"),
        &json!({"data": {"type": "workspace-tasks",
            "attributes": {"enforcement-level": level, "stages": stages},
            "relationships": {"task": {"data": {"type": "tasks", "id": task}}}}}),
    )
    .expect(201);
    task
}

fn cloud_block(server: &Server, workspace: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    \
         workspaces {{\n      name = \"{workspace}\"\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

/// A CLI workspace (made by `init`) and its ID.
fn cli_workspace(server: &Server, api: &Api, token: &str, name: &str) -> (Terraform, String) {
    let tf = Terraform::new(server, token);
    tf.write("main.tf", &format!("{}{CONFIG}", cloud_block(server, name)));
    tf.ok(&["init", "-input=false"]);
    let ws = api
        .get(&format!("organizations/{ORG}/workspaces/{name}"))
        .ok()
        .id();
    (tf, ws)
}

fn latest_run(api: &Api, ws: &str) -> Value {
    api.get(&format!("workspaces/{ws}/runs")).ok().body["data"][0].clone()
}

fn state_versions(api: &Api, ws: &str) -> usize {
    api.get(&format!("workspaces/{ws}/state-versions"))
        .ok()
        .body["data"]
        .as_array()
        .map_or(0, Vec::len)
}

both_databases!(
    a_mandatory_post_plan_failure_stops_the_apply_and_an_advisory_one_warns,
    |db: Db| {
        let server = Server::builder(db).args(&[ALLOW]).start();
        let token = server.admin_token();
        let api = server.api(&token);

        // Mandatory: the apply never happens.
        let (tf, ws) = cli_workspace(&server, &api, &token, "guarded");
        let strict = TaskService::start(&api, Some("failed"));
        add_task(
            &api,
            &ws,
            "port-scanner",
            strict.url(),
            "mandatory",
            &["post_plan"],
        );
        let out = strip_ansi(&tf.fails(&["apply", "-auto-approve", "-input=false"]));
        assert!(out.contains("Post-plan Tasks"), "{out}");
        assert!(out.contains("port-scanner"), "{out}");
        assert!(out.contains("Failed (Mandatory)"), "{out}");
        assert!(out.contains("3 findings"), "{out}");
        let run = latest_run(&api, &ws);
        let run_id = run["id"].as_str().unwrap();
        let shown = wait_for_run(&api, run_id, &["errored"], Duration::from_secs(60));
        assert!(
            shown.attr("status-timestamps")["post-plan-running-at"].is_string(),
            "{}",
            shown.text
        );
        assert_eq!(state_versions(&api, &ws), 0, "nothing was applied");
        let apply = api.get(&format!("runs/{run_id}/apply")).ok();
        assert_eq!(apply.attr("status"), "unreachable", "{}", apply.text);

        // The request: HCP's payload, signed.
        let got = strict.wait_for_requests(1);
        assert_eq!(got.len(), 1);
        let body = &got[0].body;
        assert_eq!(body["payload_version"], 1);
        assert_eq!(body["stage"], "post_plan");
        assert_eq!(body["run_id"], run_id);
        assert_eq!(body["workspace_id"], ws.as_str());
        assert_eq!(body["workspace_name"], "guarded");
        assert_eq!(body["organization_name"], ORG);
        assert_eq!(body["task_result_enforcement_level"], "mandatory");
        assert_eq!(body["is_speculative"], false);
        assert_eq!(body["capabilities"]["outcomes"], true);
        assert_eq!(body["run_created_by"], "admin");
        let plan_id = shown.body["data"]["relationships"]["plan"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(body["plan_json_api_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v2/plans/{plan_id}/json-output")));
        let result_id = body["task_result_id"].as_str().unwrap();
        assert!(body["task_result_callback_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v2/task-results/{result_id}/callback")));
        assert_eq!(got[0].headers["content-type"], "application/json");
        strict.assert_no_problems();
        let plans = strict.plans_read.lock().unwrap().clone();
        assert_eq!(plans.len(), 1);
        assert!(plans[0]["resource_changes"].is_array(), "{}", plans[0]);

        // What the API shows of it.
        let stages = api
            .get(&format!("runs/{run_id}/task-stages?include=task_results"))
            .ok();
        assert_eq!(
            stages.body["data"].as_array().unwrap().len(),
            1,
            "{}",
            stages.text
        );
        let stage = &stages.body["data"][0];
        assert_eq!(stage["type"], "task-stages");
        assert_eq!(stage["attributes"]["stage"], "post_plan");
        assert_eq!(stage["attributes"]["status"], "failed");
        assert_eq!(stage["attributes"]["actions"]["is-overridable"], false);
        assert_eq!(
            stage["relationships"]["task-results"]["data"][0]["id"],
            result_id
        );
        let result = api.get(&format!("task-results/{result_id}")).ok();
        assert_eq!(result.attr("status"), "failed");
        assert_eq!(result.attr("task-name"), "port-scanner");
        assert_eq!(result.attr("workspace-task-enforcement-level"), "mandatory");
        assert_eq!(result.attr("url"), "https://scanner.example/r/1");
        assert_eq!(result.attr("outcomes")[0]["outcome-id"], "o-1");
        assert!(result.attr("status-timestamps")["failed-at"].is_string());
        let with_run = api.get(&format!("runs/{run_id}?include=task_stages")).ok();
        assert_eq!(
            with_run.body["data"]["relationships"]["task-stages"]["data"][0]["id"],
            stage["id"]
        );
        assert_eq!(with_run.body["included"][0]["type"], "task-stages");
        // Nothing to override: run tasks never await one.
        api.post(
            &format!(
                "task-stages/{}/actions/override",
                stage["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .expect(409);

        // Advisory: the apply goes on, the failure shows.
        let (tf, ws) = cli_workspace(&server, &api, &token, "warned");
        let lenient = TaskService::start(&api, Some("failed"));
        add_task(
            &api,
            &ws,
            "style-linter",
            lenient.url(),
            "advisory",
            &["post_plan"],
        );
        // And a gate before the apply and a check after it, which pass.
        let gate = TaskService::start(&api, Some("passed"));
        add_task(
            &api,
            &ws,
            "deploy-gate",
            gate.url(),
            "mandatory",
            &["pre_apply", "post_apply"],
        );
        let out = strip_ansi(&tf.ok(&["apply", "-auto-approve", "-input=false"]));
        assert!(out.contains("style-linter"), "{out}");
        assert!(out.contains("Failed (Advisory)"), "{out}");
        assert!(out.contains("Passed with advisory failures"), "{out}");
        assert!(out.contains("Apply complete!"), "{out}");
        let run = latest_run(&api, &ws);
        assert_eq!(run["attributes"]["status"], "applied", "{run}");
        assert_eq!(state_versions(&api, &ws), 1);
        lenient.assert_no_problems();
        assert!(out.contains("Pre-apply Tasks"), "{out}");
        let run_id = run["id"].as_str().unwrap();
        assert!(run["attributes"]["status-timestamps"]["pre-apply-completed-at"].is_string());
        let got = gate.wait_for_requests(2);
        let stages: Vec<&str> = got
            .iter()
            .map(|r| r.body["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["pre_apply", "post_apply"]);
        // Post-apply tasks run after the apply and leave the run applied.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listed = api.get(&format!("runs/{run_id}/task-stages")).ok();
            let statuses: Vec<(String, String)> = listed.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["attributes"]["stage"].as_str().unwrap().to_string(),
                        s["attributes"]["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let want = [
                ("post_plan", "passed"),
                ("pre_apply", "passed"),
                ("post_apply", "passed"),
            ];
            if statuses
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .eq(want)
            {
                break;
            }
            assert!(Instant::now() < deadline, "{statuses:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            api.get(&format!("runs/{run_id}")).ok().attr("status"),
            "applied"
        );
        gate.assert_no_problems();
    }
);

both_databases!(a_passing_pre_plan_task_lets_the_plan_proceed, |db: Db| {
    let server = Server::builder(db).args(&[ALLOW]).start();
    let token = server.admin_token();
    let api = server.api(&token);
    let (tf, ws) = cli_workspace(&server, &api, &token, "checked");
    let service = TaskService::start(&api, Some("passed"));
    add_task(
        &api,
        &ws,
        "policy-gate",
        service.url(),
        "mandatory",
        &["pre_plan"],
    );
    let out = strip_ansi(&tf.ok(&["plan", "-input=false"]));
    assert!(out.contains("Pre-plan Tasks"), "{out}");
    assert!(
        out.contains("All tasks completed! 1 passed, 0 failed"),
        "{out}"
    );
    assert!(out.contains("policy-gate"), "{out}");
    assert!(out.contains("Plan: 1 to add"), "{out}");
    let got = service.wait_for_requests(1);
    assert_eq!(got[0].body["stage"], "pre_plan");
    assert_eq!(got[0].body["is_speculative"], true);
    assert!(got[0].body["plan_json_api_url"].is_null());
    service.assert_no_problems();
    // A speculative plan: not in the workspace's default run list, so by the request's ID.
    let run_id = got[0].body["run_id"].as_str().unwrap();
    let run = wait_for_run(
        &api,
        run_id,
        &["planned_and_finished"],
        Duration::from_secs(60),
    );
    let stamps = run.attr("status-timestamps");
    assert!(stamps["pre-plan-running-at"].is_string(), "{stamps}");
    assert!(stamps["pre-plan-completed-at"].is_string(), "{stamps}");
    assert_eq!(
        run.body["data"]["relationships"]["workspace"]["data"]["id"],
        ws.as_str()
    );
});

both_databases!(
    forged_callbacks_change_nothing_and_a_silent_service_errors_the_run,
    |db: Db| {
        let server = Server::builder(db)
            .args(&[ALLOW])
            .env("TERRACE_RUN_TASK_TIMEOUT_SECONDS", "15")
            .start();
        let token = server.admin_token();
        let api = server.api(&token);
        let ws = create_workspace(&api, ORG, "waiting", None);
        upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
        let silent = TaskService::start(&api, None);
        add_task(
            &api,
            &ws,
            "silent-a",
            silent.url(),
            "mandatory",
            &["pre_plan"],
        );
        add_task(
            &api,
            &ws,
            "silent-b",
            silent.url(),
            "advisory",
            &["pre_plan"],
        );
        let run = create_run(&api, &ws, None, json!({}));
        let run_id = run.id();
        // The stages exist from the run's creation.
        assert_eq!(
            run.body["data"]["relationships"]["task-stages"]["data"]
                .as_array()
                .map(Vec::len),
            Some(1),
            "{}",
            run.text
        );
        let got = silent.wait_for_requests(2);
        assert_eq!(
            api.get(&format!("runs/{run_id}")).ok().attr("status"),
            "pre_plan_running"
        );
        let (a, b) = (&got[0].body, &got[1].body);
        let callback = |body: &Value| {
            body["task_result_callback_url"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let passed = json!({"data": {"type": "task-results",
            "attributes": {"status": "passed", "message": "forged"}}});

        // No token, a wrong one, a user's, the other result's: refused, nothing changes.
        server
            .anonymous()
            .send_json("PATCH", &callback(a), &passed)
            .expect(401);
        api.with_token("not-a-token")
            .send_json("PATCH", &callback(a), &passed)
            .expect(401);
        let other = api
            .with_token(b["access_token"].as_str().unwrap())
            .send_json("PATCH", &callback(a), &passed);
        assert!(matches!(other.status, 403 | 404), "{}", other.text);
        api.send_json("PATCH", &callback(a), &passed).expect(404);
        // The right token with a status a service cannot set.
        let own = api.with_token(a["access_token"].as_str().unwrap());
        own.send_json(
            "PATCH",
            &callback(a),
            &json!({"data": {"type": "task-results", "attributes": {"status": "errored"}}}),
        )
        .expect(422);
        // A token of a result reads nothing else.
        own.get(&format!("runs/{run_id}")).expect(404);
        own.get(&format!("workspaces/{ws}")).expect(404);
        for body in [a, b] {
            let id = body["task_result_id"].as_str().unwrap();
            let shown = api.get(&format!("task-results/{id}")).ok();
            assert_eq!(shown.attr("status"), "pending", "{}", shown.text);
            assert_eq!(shown.attr("message"), "");
        }

        // The deadline passes: both results error, the mandatory one fails the stage and
        // the run; the plan never runs.
        let shown = wait_for_run(&api, &run_id, &["errored"], Duration::from_secs(90));
        assert!(shown.attr("status-timestamps")["pre-plan-running-at"].is_string());
        let stages = api
            .get(&format!("runs/{run_id}/task-stages?include=task_results"))
            .ok();
        assert_eq!(
            stages.body["data"][0]["attributes"]["status"], "failed",
            "{}",
            stages.text
        );
        let statuses: BTreeSet<&str> = stages.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["attributes"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, BTreeSet::from(["errored"]));
        let plan = api.get(&format!("runs/{run_id}/plan")).ok();
        assert_eq!(plan.attr("status"), "unreachable", "{}", plan.text);
        // A callback after the end is refused (the token is gone with its result's wait).
        let late = own.send_json("PATCH", &callback(a), &passed);
        assert!(matches!(late.status, 401 | 409), "{}", late.text);
        assert_eq!(silent.requests().len(), 2, "one request per result");

        // A run waiting for its tasks can be canceled: its stage is canceled with it.
        let run = create_run(&api, &ws, None, json!({}));
        let run_id = run.id();
        silent.wait_for_requests(4);
        let waiting = api.get(&format!("runs/{run_id}")).ok();
        assert_eq!(waiting.attr("status"), "pre_plan_running");
        assert_eq!(waiting.attr("actions")["is-cancelable"], true);
        api.post(&format!("runs/{run_id}/actions/cancel"), &json!({}))
            .expect(202);
        wait_for_run(&api, &run_id, &["canceled"], Duration::from_secs(30));
        let stages = api.get(&format!("runs/{run_id}/task-stages")).ok();
        assert_eq!(
            stages.body["data"][0]["attributes"]["status"], "canceled",
            "{}",
            stages.text
        );
        silent.assert_no_problems();
    }
);

/// A task service that answers its creation's test request and then never answers a run's
/// request (the connection stays open): when each run request arrived.
fn stalling_service() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let kept = arrivals.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let kept = kept.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // Enough of the request to tell the test request (headers + body are small).
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains("\"access_token\"") {
                        break;
                    }
                }
                if String::from_utf8_lossy(&seen).contains("\"test-token\"") {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                kept.lock().unwrap().push(Instant::now());
                std::thread::sleep(Duration::from_secs(120));
            });
        }
    });
    (url, arrivals)
}

/// Requests go out several at a time: a tenant whose service holds every request open (up
/// to the server's 15 s limit on each) does not delay another organization's run tasks.
#[test]
fn a_stalling_service_does_not_hold_up_another_organizations_tasks() {
    let server = Server::builder(Db::Sqlite).args(&[ALLOW]).start();
    let token = server.admin_token();
    let api = server.api(&token);
    let (stalling_url, arrivals) = stalling_service();
    // The stalling tenant: several runs, each waiting on its service.
    let mut stalled = Vec::new();
    for i in 0..3 {
        let ws = create_workspace(&api, ORG, &format!("slow-{i}"), None);
        upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
        add_task(
            &api,
            &ws,
            &format!("slow-{i}"),
            &stalling_url,
            "mandatory",
            &["pre_plan"],
        );
        stalled.push(ws);
    }
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "other", "email": "o@example.com"}}}),
    )
    .expect(201);
    let other = create_workspace(&api, "other", "quick", None);
    upload_configuration(&api, &other, &[("main.tf", CONFIG)], false);
    let quick = TaskService::start(&api, Some("passed"));
    let task = api
        .post(
            "organizations/other/tasks",
            &json!({"data": {"type": "tasks", "attributes": {
                "name": "quick", "url": quick.url(), "category": "task", "hmac-key": KEY}}}),
        )
        .expect(201)
        .id();
    api.post(
        &format!("workspaces/{other}/tasks"),
        &json!({"data": {"type": "workspace-tasks",
            "attributes": {"enforcement-level": "mandatory", "stages": ["pre_plan"]},
            "relationships": {"task": {"data": {"type": "tasks", "id": task}}}}}),
    )
    .expect(201);

    for ws in &stalled {
        create_run(&api, ws, None, json!({}));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < stalled.len() {
        assert!(
            Instant::now() < deadline,
            "the stalling service got no requests"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let first_stall = arrivals.lock().unwrap()[0];
    create_run(&api, &other, None, json!({}));
    quick.wait_for_requests(1);
    // One at a time, the quick request would wait for each stalled one's 15 s limit.
    let waited = first_stall.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "the other organization's request came {waited:?} after the stalled ones"
    );
    let stage_passed = Instant::now() + Duration::from_secs(60);
    loop {
        let status = latest_run(&api, &other)["attributes"]["status"].clone();
        if status != "pre_plan_running" && status != "pending" {
            break;
        }
        assert!(Instant::now() < stage_passed, "the quick task never passed");
        std::thread::sleep(Duration::from_millis(200));
    }
    quick.assert_no_problems();
}
