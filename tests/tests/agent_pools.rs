//! Agent pools: the TFE-shaped API (pools, agent tokens, agents), workspaces in agent
//! execution mode, and runs executed by `terrace listener` processes on a pool's token: they
//! run only there, a listener of another organization's pool never gets them, a listener
//! killed mid-run errors its run within a bounded time, a restarted one takes new work, and
//! several listeners of one pool share its runs, each executed once. On both databases.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::ledger::Ledger;
use terrace_tests::listener::ListenerProcess;
use terrace_tests::runs::{
    create_run, phase_log, upload_configuration, wait_for_run, SilentSource,
};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const QUICK: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n";

fn create_pool(api: &Api, org: &str, name: &str, attributes: Value) -> Reply {
    let mut attributes = attributes;
    attributes["name"] = json!(name);
    api.post(
        &format!("organizations/{org}/agent-pools"),
        &json!({"data": {"type": "agent-pools", "attributes": attributes}}),
    )
}

/// Creates an agent token of the pool; returns (token ID, secret).
fn create_agent_token(api: &Api, pool: &str, description: &str) -> (String, String) {
    let created = api
        .post(
            &format!("agent-pools/{pool}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": description}}}),
        )
        .expect(201);
    let secret = created
        .attr("token")
        .as_str()
        .expect("the secret")
        .to_string();
    (created.id(), secret)
}

fn create_workspace(api: &Api, org: &str, name: &str) -> String {
    api.post(
        &format!("organizations/{org}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
    )
    .expect(201)
    .id()
}

fn use_pool(api: &Api, ws: &str, pool: &str) -> Reply {
    api.patch(
        &format!("workspaces/{ws}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "agent"},
            "relationships": {"agent-pool": {"data": {"type": "agent-pools", "id": pool}}}}}),
    )
}

/// The runner protocol, as a listener speaks it.
fn runner(api: &Api, token: &str, method: &str, path: &str, body: Value) -> Reply {
    api.with_token(token).request(
        method,
        &format!("/api/runner/v1/{path}"),
        Some(serde_json::to_vec(&body).unwrap()),
        "application/json",
    )
}

fn register(api: &Api, token: &str, name: &str) -> Reply {
    runner(
        api,
        token,
        "POST",
        "listeners",
        json!({"name": name, "hostname": format!("{name}.lan"), "version": "test",
            "executor": "local", "capacity": 1}),
    )
}

/// A newly registered listener's ID.
fn listener_id(api: &Api, token: &str, name: &str) -> String {
    let registered = register(api, token, name).expect(201);
    registered.body["listener_id"].as_str().unwrap().to_string()
}

/// A job claimed by the listener (waiting up to 5 s): its ID, its run's and its token.
fn claim(api: &Api, token: &str, listener: &str) -> (String, String, String) {
    let claimed = runner(
        api,
        token,
        "POST",
        &format!("listeners/{listener}/claim?wait=5"),
        json!({}),
    )
    .expect(200);
    let field = |name: &str| claimed.body[name].as_str().unwrap().to_string();
    (field("job_id"), field("run_id"), field("token"))
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

both_databases!(agent_pool_api, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());

    // Create, with HCP Terraform's defaults.
    let created = create_pool(&api, "default", "nas", json!({})).expect(201);
    let pool = created.id();
    assert!(pool.starts_with("apool-"), "{pool}");
    assert_eq!(created.body["data"]["type"], "agent-pools");
    assert_eq!(created.attr("name"), "nas");
    assert_eq!(created.attr("organization-scoped"), true);
    assert_eq!(created.attr("agent-count"), 0);
    assert_eq!(
        created.body["data"]["relationships"]["organization"]["data"]["id"],
        "default"
    );

    // Bad input is refused with 4xx, never 5xx.
    create_pool(&api, "default", "nas", json!({})).expect_error(422, "taken");
    create_pool(&api, "default", "no spaces!", json!({})).expect_error(422, "agent pool name");
    api.post(
        "organizations/default/agent-pools",
        &json!({"data": {"type": "agent-pools", "attributes": {}}}),
    )
    .expect_error(422, "name");
    api.post(
        "organizations/default/agent-pools",
        &json!({"data": {"type": "agent-pools", "attributes": {"name": 5}}}),
    )
    .expect(422);
    create_pool(
        &api,
        "default",
        "typed",
        json!({"organization-scoped": "yes"}),
    )
    .expect(422);
    api.post(
        "organizations/default/agent-pools",
        &json!({"data": {"type": "workspaces", "attributes": {"name": "wrong-type"}}}),
    )
    .expect(422);
    api.send_raw("POST", "organizations/default/agent-pools", b"{not json")
        .expect(400);
    create_pool(&api, "nowhere", "nas", json!({})).expect(404);
    api.get("agent-pools/apool-doesnotexist").expect(404);
    api.get("agent-pools/apool-doesnotexist/agents").expect(404);
    api.get("agents/listener-doesnotexist").expect(404);
    api.get("authentication-tokens/at-doesnotexist").expect(404);
    api.post(
        "organizations/default/agent-pools",
        &json!({"data": {"type": "agent-pools", "attributes": {"name": "ghosts"},
            "relationships": {"allowed-workspaces": {"data": [{"type": "workspaces", "id": "ws-nothere"}]}}}}),
    )
    .expect_error(422, "ws-nothere");

    // List, search, show.
    create_pool(&api, "default", "cluster", json!({})).expect(201);
    let listed = api.get("organizations/default/agent-pools").ok();
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2);
    let found = api.get("organizations/default/agent-pools?q=NA").ok();
    assert_eq!(ids(&found), vec![pool.clone()]);
    assert_eq!(
        api.get(&format!("agent-pools/{pool}")).ok().attr("name"),
        "nas"
    );

    // A workspace in agent mode needs a pool of its organization that allows it.
    let ws = create_workspace(&api, "default", "on-nas");
    api.patch(
        &format!("workspaces/{ws}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "agent"}}}),
    )
    .expect_error(422, "agent pool");
    use_pool(&api, &ws, "apool-doesnotexist").expect_error(422, "not found");
    let updated = api
        .patch(
            &format!("agent-pools/{pool}"),
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "basement", "organization-scoped": false}}}),
        )
        .ok();
    assert_eq!(updated.attr("name"), "basement");
    assert_eq!(updated.attr("organization-scoped"), false);
    api.patch(
        &format!("agent-pools/{pool}"),
        &json!({"data": {"type": "agent-pools", "attributes": {"name": "cluster"}}}),
    )
    .expect_error(422, "taken");
    use_pool(&api, &ws, &pool).expect_error(422, "allowed-workspaces");
    let allowed = api
        .patch(
            &format!("agent-pools/{pool}"),
            &json!({"data": {"type": "agent-pools", "relationships": {"allowed-workspaces":
                {"data": [{"type": "workspaces", "id": ws}]}}}}),
        )
        .ok();
    assert_eq!(
        allowed.body["data"]["relationships"]["allowed-workspaces"]["data"][0]["id"],
        ws.as_str()
    );
    let agent_ws = use_pool(&api, &ws, &pool).ok();
    assert_eq!(agent_ws.attr("execution-mode"), "agent");
    assert_eq!(
        agent_ws.body["data"]["relationships"]["agent-pool"]["data"]["id"],
        pool.as_str()
    );
    let shown = api.get(&format!("agent-pools/{pool}")).ok();
    assert_eq!(
        shown.body["data"]["relationships"]["workspaces"]["data"][0]["id"],
        ws.as_str()
    );
    // The workspace that uses the pool cannot be taken off its allowed list.
    api.patch(
        &format!("agent-pools/{pool}"),
        &json!({"data": {"type": "agent-pools", "relationships": {"allowed-workspaces":
            {"data": []}}}}),
    )
    .expect_error(422, "uses this agent pool");
    let kept = api.get(&format!("agent-pools/{pool}")).ok();
    assert_eq!(
        kept.body["data"]["relationships"]["allowed-workspaces"]["data"][0]["id"],
        ws.as_str()
    );
    // The attribute form (go-tfe's agent-pool-id) works too.
    let second = create_workspace(&api, "default", "second");
    api.patch(
        &format!("workspaces/{second}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "agent", "agent-pool-id": pool}}}),
    )
    .expect_error(422, "allowed-workspaces");
    api.patch(
        &format!("workspaces/{second}"),
        &json!({"data": {"type": "workspaces", "attributes": {"agent-pool-id": pool}}}),
    )
    .expect_error(422, "execution-mode agent");
    // An allowed project brings its workspaces in, except excluded ones; a workspace that uses
    // the pool cannot be excluded.
    let project = api.get(&format!("workspaces/{second}")).ok().body["data"]["relationships"]
        ["project"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let scoped = api
        .patch(
            &format!("agent-pools/{pool}"),
            &json!({"data": {"type": "agent-pools", "relationships": {
                "allowed-projects": {"data": [{"type": "projects", "id": project}]},
                "excluded-workspaces": {"data": [{"type": "workspaces", "id": second}]}}}}),
        )
        .ok();
    assert_eq!(
        scoped.body["data"]["relationships"]["allowed-workspaces"]["data"][0]["id"],
        ws.as_str(),
        "a list not named stays"
    );
    use_pool(&api, &second, &pool).expect_error(422, "allowed-projects");
    let third = create_workspace(&api, "default", "third");
    use_pool(&api, &third, &pool).ok();
    api.patch(
        &format!("agent-pools/{pool}"),
        &json!({"data": {"type": "agent-pools", "relationships": {"excluded-workspaces":
            {"data": [{"type": "workspaces", "id": third}]}}}}),
    )
    .expect_error(422, "uses this agent pool");
    api.patch(
        &format!("workspaces/{third}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "remote"}}}),
    )
    .ok();

    // An organization's default execution mode can be agent, with a default pool that is
    // organization-scoped; workspaces that inherit the mode run there.
    let set_default = |mode: &str, pool: Option<&str>| {
        let relationship = match pool {
            Some(id) => json!({"data": {"type": "agent-pools", "id": id}}),
            None => json!({"data": null}),
        };
        api.patch(
            "organizations/default",
            &json!({"data": {"type": "organizations",
                "attributes": {"default-execution-mode": mode},
                "relationships": {"default-agent-pool": relationship}}}),
        )
    };
    set_default("agent", None).expect_error(422, "needs a default agent pool");
    set_default("agent", Some(&pool)).expect_error(422, "not organization-scoped");
    set_default("remote", Some(&pool)).expect_error(422, "must not be specified unless");
    let everywhere = create_pool(&api, "default", "everywhere", json!({}))
        .expect(201)
        .id();
    let org = set_default("agent", Some(&everywhere)).ok();
    assert_eq!(
        org.body["data"]["relationships"]["default-agent-pool"]["data"]["id"],
        everywhere.as_str()
    );
    let inherits = create_workspace(&api, "default", "inherits");
    let shown = api.get(&format!("workspaces/{inherits}")).ok();
    assert_eq!(shown.attr("execution-mode"), "agent");
    assert_eq!(
        shown.body["data"]["relationships"]["agent-pool"]["data"]["id"],
        everywhere.as_str()
    );
    // Its run is claimed by the default pool's listeners.
    upload_configuration(&api, &inherits, &[("main.tf", QUICK)], false);
    let run = create_run(&api, &inherits, None, json!({})).id();
    let (_, everywhere_secret) = create_agent_token(&api, &everywhere, "everywhere");
    let listener = register(&api, &everywhere_secret, "everywhere-1").expect(201);
    let listener = listener.body["listener_id"].as_str().unwrap().to_string();
    let claimed = runner(
        &api,
        &everywhere_secret,
        "POST",
        &format!("listeners/{listener}/claim?wait=5"),
        json!({}),
    )
    .expect(200);
    assert_eq!(claimed.body["run_id"], run.as_str(), "{}", claimed.text);
    let job_token = claimed.body["token"].as_str().unwrap().to_string();
    runner(
        &api,
        &job_token,
        "POST",
        "job/finish",
        json!({"status": "errored", "error": "stopped by the test"}),
    )
    .ok();
    api.delete(&format!("agent-pools/{everywhere}"))
        .expect_error(422, "still used");
    api.patch(
        &format!("agent-pools/{everywhere}"),
        &json!({"data": {"type": "agent-pools", "attributes": {"organization-scoped": false}}}),
    )
    .expect_error(422, "default agent pool");
    // Back to remote: the default pool is released.
    let org = api
        .patch(
            "organizations/default",
            &json!({"data": {"type": "organizations", "attributes": {"default-execution-mode": "remote"}}}),
        )
        .ok();
    assert!(org.body["data"]["relationships"]["default-agent-pool"]["data"].is_null());
    let shown = api.get(&format!("workspaces/{inherits}")).ok();
    assert_eq!(shown.attr("execution-mode"), "remote");
    api.delete(&format!("agent-pools/{everywhere}")).expect(204);

    // A pool in use stays.
    api.delete(&format!("agent-pools/{pool}"))
        .expect_error(422, "still used by workspaces");

    // Agent tokens: the secret once, stored hashed, listed without it.
    api.post(
        &format!("agent-pools/{pool}/authentication-tokens"),
        &json!({"data": {"type": "authentication-tokens", "attributes": {}}}),
    )
    .expect_error(422, "description");
    let (token_id, secret) = create_agent_token(&api, &pool, "basement NAS");
    assert!(secret.starts_with("trc1."), "{secret}");
    let tokens = api
        .get(&format!("agent-pools/{pool}/authentication-tokens"))
        .ok();
    assert_eq!(ids(&tokens), vec![token_id.clone()]);
    assert!(!tokens.text.contains(&secret));
    let token = api.get(&format!("authentication-tokens/{token_id}")).ok();
    assert_eq!(token.attr("description"), "basement NAS");
    assert!(token.attr("token").is_null(), "{}", token.text);

    // The token is an agent token of this pool: it registers a listener, which is then an
    // agent of the pool, and it reaches nothing of the API.
    let registered = register(&api, &secret, "nas-1");
    assert_eq!(registered.status, 201, "{}", registered.text);
    let agent = registered.body["listener_id"].as_str().unwrap().to_string();
    let agents = api.get(&format!("agent-pools/{pool}/agents")).ok();
    assert_eq!(ids(&agents), vec![agent.clone()]);
    let shown = api.get(&format!("agents/{agent}")).ok();
    assert_eq!(shown.attr("name"), "nas-1");
    assert_eq!(shown.attr("status"), "idle");
    assert!(shown.attr("ip-address").is_string(), "{}", shown.text);
    assert!(shown.attr("last-ping-at").is_string(), "{}", shown.text);
    assert_eq!(
        api.get(&format!("agent-pools/{pool}"))
            .ok()
            .attr("agent-count"),
        1
    );
    api.with_token(&secret)
        .get(&format!("agent-pools/{pool}"))
        .expect(404);
    api.with_token(&secret)
        .get("organizations/default")
        .expect(404);
    runner(&api, &secret, "GET", "job", json!({})).expect(403);

    // Another organization sees none of it, and its pool token reaches nothing here.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    for path in [
        format!("agent-pools/{pool}"),
        format!("agent-pools/{pool}/authentication-tokens"),
        format!("agent-pools/{pool}/agents"),
        format!("agents/{agent}"),
        format!("authentication-tokens/{token_id}"),
        "organizations/default/agent-pools".to_string(),
    ] {
        bob.get(&path).expect(404);
    }
    bob.patch(
        &format!("agent-pools/{pool}"),
        &json!({"data": {"type": "agent-pools", "attributes": {"name": "mine"}}}),
    )
    .expect(404);
    bob.post(
        &format!("agent-pools/{pool}/authentication-tokens"),
        &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "mine"}}}),
    )
    .expect(404);
    bob.delete(&format!("authentication-tokens/{token_id}"))
        .expect(404);
    bob.delete(&format!("agent-pools/{pool}")).expect(404);
    let bobs_pool = create_pool(&bob, "bobs", "garage", json!({}))
        .expect(201)
        .id();
    let bobs_ws = create_workspace(&bob, "bobs", "garage-app");
    use_pool(&bob, &bobs_ws, &pool).expect_error(422, "not found");
    use_pool(&bob, &bobs_ws, &bobs_pool).ok();
    let (_, bobs_secret) = create_agent_token(&bob, &bobs_pool, "garage");
    let bobs_listener = register(&api, &bobs_secret, "garage-1");
    assert_eq!(bobs_listener.status, 201, "{}", bobs_listener.text);
    runner(
        &api,
        &bobs_secret,
        "POST",
        &format!("listeners/{agent}/heartbeat"),
        json!({"running": []}),
    )
    .expect(404);
    runner(
        &api,
        &bobs_secret,
        "POST",
        &format!("listeners/{agent}/claim?wait=0"),
        json!({}),
    )
    .expect(404);
    assert_eq!(
        ids(&api.get(&format!("agent-pools/{pool}/agents")).ok()),
        vec![agent.clone()],
        "Bob's listener is not an agent of this pool"
    );

    // A revoked token no longer authenticates.
    api.delete(&format!("authentication-tokens/{token_id}"))
        .expect(204);
    api.get(&format!("authentication-tokens/{token_id}"))
        .expect(404);
    register(&api, &secret, "nas-2").expect(401);

    // Leaving agent execution releases the pool; then the pool can go, with its agents.
    let remote = api
        .patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "remote"}}}),
        )
        .ok();
    assert!(
        remote.body["data"]["relationships"]["agent-pool"]["data"].is_null(),
        "{}",
        remote.text
    );
    api.delete(&format!("agent-pools/{pool}")).expect(204);
    api.get(&format!("agent-pools/{pool}")).expect(404);
    api.get(&format!("agents/{agent}")).expect(404);
});

/// The pool's agents as (name, status).
fn agents(api: &Api, pool: &str) -> Vec<(String, String)> {
    api.get(&format!("agent-pools/{pool}/agents")).ok().body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attributes"]["name"].as_str().unwrap().to_string(),
                a["attributes"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn wait_for_agents(api: &Api, pool: &str, expected: &[(&str, &str)], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let found = agents(api, pool);
        let wanted: Vec<(String, String)> = expected
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        if found == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agents of {pool} are {found:?}, waiting for {wanted:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

both_databases!(runs_execute_on_the_pools_listeners, |db: Db| {
    // No built-in listener: only listeners that dial in execute runs.
    let server = Server::builder(db).arg("--no-listener").start();
    let api = server.api(&server.admin_token());
    let pool = create_pool(&api, "default", "nas", json!({}))
        .expect(201)
        .id();
    let (_, secret) = create_agent_token(&api, &pool, "NAS");

    // Another organization's pool, with a listener connected.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    let bobs_pool = create_pool(&bob, "bobs", "garage", json!({}))
        .expect(201)
        .id();
    let (_, bobs_secret) = create_agent_token(&bob, &bobs_pool, "garage");
    let bobs_listener = ListenerProcess::start(&server, &bobs_secret, "garage-1");

    // A run on an agent-mode workspace waits for its pool: Bob's listener does not take it.
    let ws = create_workspace(&api, "default", "on-nas");
    use_pool(&api, &ws, &pool).ok();
    upload_configuration(&api, &ws, &[("main.tf", QUICK)], false);
    let run = create_run(&api, &ws, None, json!({})).id();
    std::thread::sleep(Duration::from_secs(5));
    let waiting = api.get(&format!("runs/{run}")).ok();
    assert_eq!(waiting.attr("status"), "plan_queued", "{}", waiting.text);
    // Its plan log, which the CLI prints while it waits, says why.
    let why = "Waiting: no agent of the agent pool \"nas\" is connected";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !phase_log(&api, &run, "plan").contains(why) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            phase_log(&api, &run, "plan")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_for_agents(
        &bob,
        &bobs_pool,
        &[("garage-1", "idle")],
        Duration::from_secs(5),
    );

    // The pool's own listener plans and applies it.
    let mut nas = ListenerProcess::start(&server, &secret, "nas-1");
    wait_for_run(&api, &run, &["planned"], Duration::from_secs(120));
    // The runner's log continues behind that line.
    let plan_log = phase_log(&api, &run, "plan");
    assert!(plan_log.starts_with(why), "{plan_log}");
    assert_eq!(plan_log.matches(why).count(), 1, "{plan_log}");
    assert!(plan_log.contains("1 to add"), "{plan_log}");
    api.post(&format!("runs/{run}/actions/apply"), &json!({}))
        .expect(202);
    wait_for_run(&api, &run, &["applied"], Duration::from_secs(120));
    assert!(
        phase_log(&api, &run, "apply").contains("Apply complete!"),
        "{}",
        phase_log(&api, &run, "apply")
    );
    assert!(nas.log().contains(&run), "nas-1 ran it:\n{}", nas.log());
    wait_for_agents(&api, &pool, &[("nas-1", "idle")], Duration::from_secs(15));

    // A run that blocks in its plan: the agent is busy. Then the listener dies outright.
    let silent = SilentSource::new();
    let stuck_ws = create_workspace(&api, "default", "stuck");
    use_pool(&api, &stuck_ws, &pool).ok();
    upload_configuration(
        &api,
        &stuck_ws,
        &[("main.tf", silent.configuration().as_str())],
        false,
    );
    let stuck = create_run(&api, &stuck_ws, None, json!({})).id();
    let held = silent.accept();
    wait_for_agents(&api, &pool, &[("nas-1", "busy")], Duration::from_secs(15));
    let killed = Instant::now();
    nas.kill();
    let ended = wait_for_run(&api, &stuck, &["errored"], Duration::from_secs(100));
    assert!(
        killed.elapsed() < Duration::from_secs(90),
        "the run was errored {:?} after the listener died",
        killed.elapsed()
    );
    let log = phase_log(&api, &stuck, "plan");
    assert!(
        log.contains("stopped responding"),
        "the log says why: {log}\n{}",
        ended.text
    );
    drop(held);
    assert_eq!(
        api.get(&format!("workspaces/{stuck_ws}"))
            .ok()
            .attr("locked"),
        false
    );

    // A restarted listener takes the next run.
    let restarted = ListenerProcess::start(&server, &secret, "nas-2");
    upload_configuration(&api, &stuck_ws, &[("main.tf", QUICK)], false);
    let next = create_run(&api, &stuck_ws, None, json!({})).id();
    wait_for_run(&api, &next, &["planned"], Duration::from_secs(120));
    assert!(restarted.log().contains(&next), "{}", restarted.log());

    // Bob's listener never ran any of it.
    assert!(
        !bobs_listener.log().contains("starting a runner"),
        "{}",
        bobs_listener.log()
    );
});

both_databases!(listeners_of_one_pool_share_its_work, |db: Db| {
    let server = Server::builder(db).arg("--no-listener").start();
    let api = server.api(&server.admin_token());
    let pool = create_pool(&api, "default", "fleet", json!({}))
        .expect(201)
        .id();
    let (_, secret) = create_agent_token(&api, &pool, "fleet");
    // Three replicas of one listener, as a Deployment would run them, capacity 1 each.
    let listeners: Vec<ListenerProcess> = (1..=3)
        .map(|n| ListenerProcess::start(&server, &secret, &format!("fleet-{n}")))
        .collect();

    // Each apply reports "RUN_ID JOB_DIR" to a ledger (the job directory is in its
    // listener's work dir). Over the network: a run may write nothing outside its job.
    let ledger = Ledger::start();
    let config = format!(
        "resource \"terraform_data\" \"marker\" {{\n  triggers_replace = timestamp()\n  provisioner \"local-exec\" {{\n    command = \"curl -sf --data-binary \\\"$TFC_RUN_ID $PWD\\\" {}\"\n  }}\n}}\n",
        ledger.url
    );
    let mut queued = Vec::new();
    for n in 0..4 {
        let ws = create_workspace(&api, "default", &format!("fleet-ws-{n}"));
        use_pool(&api, &ws, &pool).ok();
        upload_configuration(&api, &ws, &[("main.tf", config.as_str())], false);
        for _ in 0..2 {
            queued.push(create_run(&api, &ws, None, json!({"auto-apply": true})).id());
        }
    }
    for run in &queued {
        wait_for_run(&api, run, &["applied"], Duration::from_secs(240));
    }

    let text = ledger.entries().join("\n");
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once(' ').expect("RUN_ID DIR"))
        .collect();
    for run in &queued {
        assert_eq!(
            lines.iter().filter(|(r, _)| r == run).count(),
            1,
            "{run} was not applied exactly once:\n{text}"
        );
    }
    assert_eq!(lines.len(), queued.len(), "{text}");
    let busy = listeners
        .iter()
        .filter(|l| {
            let dir = l.dir().display().to_string();
            lines.iter().any(|(_, d)| d.starts_with(&dir))
        })
        .count();
    assert!(busy >= 2, "one listener did all the work:\n{text}");
});

/// The gzip'd tarball's bytes, unpacked (enough to search for a marker).
fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip'd tarball");
    String::from_utf8_lossy(&out).into_owned()
}

both_databases!(job_tokens_reach_only_their_own_job, |db: Db| {
    let server = Server::builder(db).arg("--no-listener").start();
    let api = server.api(&server.admin_token());
    let pool = create_pool(&api, "default", "raw", json!({}))
        .expect(201)
        .id();
    let (_, secret) = create_agent_token(&api, &pool, "raw");
    let mut runs = Vec::new();
    for name in ["first", "second"] {
        let ws = create_workspace(&api, "default", name);
        use_pool(&api, &ws, &pool).ok();
        let config = format!("# marker-{name}\n{QUICK}");
        upload_configuration(&api, &ws, &[("main.tf", config.as_str())], false);
        runs.push(create_run(&api, &ws, None, json!({})).id());
    }

    // A listener claims both jobs, as `terrace listener` would.
    let listener = listener_id(&api, &secret, "raw-1");
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let (_, run, token) = claim(&api, &secret, &listener);
        jobs.push((run, token));
    }
    jobs.sort_by_key(|(run, _)| runs.iter().position(|r| r == run).unwrap());
    assert_eq!(
        jobs.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        runs
    );

    // Each token gets its own job's spec and configuration, nothing of the other's.
    for (index, (run, token)) in jobs.iter().enumerate() {
        let spec = runner(&api, token, "GET", "job", json!(null)).expect(200);
        assert_eq!(spec.body["run_id"], run.as_str(), "{}", spec.text);
        let tarball = api
            .with_token(token)
            .raw("GET", "/api/runner/v1/job/configuration", None);
        assert_eq!(tarball.status(), 200);
        let tarball = tarball.bytes().unwrap();
        let (own, other) = if index == 0 {
            ("marker-first", "marker-second")
        } else {
            ("marker-second", "marker-first")
        };
        let content = gunzip(&tarball);
        assert!(content.contains(own) && !content.contains(other));
        // Nothing of the TFE API, and no listener's part.
        let api_as_job = api.with_token(token);
        for path in [
            format!("runs/{run}"),
            "organizations/default/workspaces".into(),
        ] {
            let reply = api_as_job.get(&path);
            assert!(
                [401, 404].contains(&reply.status),
                "{path} with a job token: {} {}",
                reply.status,
                reply.text
            );
        }
        runner(
            &api,
            token,
            "POST",
            "listeners",
            json!({"name": "x", "hostname": "x",
            "version": "x", "executor": "local", "capacity": 1}),
        )
        .expect(403);
    }

    // The token dies with its job.
    let (_, first_token) = &jobs[0];
    runner(
        &api,
        first_token,
        "POST",
        "job/finish",
        json!({"status": "errored", "error": "stopped by the test"}),
    )
    .ok();
    runner(&api, first_token, "GET", "job", json!(null)).expect(401);
    let (_, second_token) = &jobs[1];
    runner(&api, second_token, "GET", "job", json!(null)).expect(200);

    // With its workspaces gone to local execution, the pool still runs a job: it stays.
    for ws in ["first", "second"] {
        api.patch(
            &format!("organizations/default/workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "local"}}}),
        )
        .ok();
    }
    api.delete(&format!("agent-pools/{pool}"))
        .expect_error(422, "runs waiting for its agents");
    runner(
        &api,
        second_token,
        "POST",
        "job/finish",
        json!({"status": "errored", "error": "stopped by the test"}),
    )
    .ok();
    api.delete(&format!("agent-pools/{pool}")).expect(204);
});

// A heartbeat tells a listener to kill the runners of its jobs that ended without them
// (force-canceled), never one whose runner just reported the end itself (its process is about
// to exit; killing it could cut its report short), and never reveals anything of a job that
// is not the listener's own.
both_databases!(
    heartbeats_kill_only_runners_of_jobs_ended_without_them,
    |db: Db| {
        let server = Server::builder(db).arg("--no-listener").start();
        let api = server.api(&server.admin_token());
        let pool = create_pool(&api, "default", "beat", json!({}))
            .expect(201)
            .id();
        let (_, secret) = create_agent_token(&api, &pool, "beat");
        for name in ["reported", "forced"] {
            let ws = create_workspace(&api, "default", name);
            use_pool(&api, &ws, &pool).ok();
            upload_configuration(&api, &ws, &[("main.tf", QUICK)], false);
            create_run(&api, &ws, None, json!({}));
        }
        let listener = listener_id(&api, &secret, "beat-1");
        let jobs: Vec<_> = (0..2).map(|_| claim(&api, &secret, &listener)).collect();
        let (reported, _, reported_token) = &jobs[0];
        let (forced, forced_run, _) = &jobs[1];
        let running = json!({"running": [reported, forced]});
        let heartbeat = |listener: &str| {
            runner(
                &api,
                &secret,
                "POST",
                &format!("listeners/{listener}/heartbeat"),
                running.clone(),
            )
            .expect(200)
            .body
        };

        // The first runner reports its end; its process has not exited yet.
        runner(
            &api,
            reported_token,
            "POST",
            "job/finish",
            json!({"status": "errored", "error": "stopped by the test"}),
        )
        .ok();
        let beat = heartbeat(&listener);
        assert_eq!(beat["force_cancel"], json!([]), "{beat}");
        assert_eq!(beat["cancel"], json!([]), "{beat}");

        // Another listener of the pool claiming those jobs learns nothing of them: it must stop
        // whatever it runs under those IDs.
        let other = listener_id(&api, &secret, "beat-2");
        let beat = heartbeat(&other);
        assert_eq!(beat["force_cancel"], json!([reported, forced]), "{beat}");

        // A site admin force-cancels the second run: its runner must die at once.
        api.post(
            &format!("admin/runs/{forced_run}/actions/force-cancel"),
            &json!({}),
        )
        .expect(202);
        let beat = heartbeat(&listener);
        assert_eq!(beat["force_cancel"], json!([forced]), "{beat}");
    }
);
