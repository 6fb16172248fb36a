//! Run triggers (HCP Terraform's `run-triggers`): the API's shape and its refusals, another
//! organization's owner finding nothing to aim at, who among the organization's members sees
//! and deletes a trigger, and a chain A → B → C run end to end through the built-in listener:
//! one apply of A queues exactly one run in B, whose apply queues exactly one in C, each
//! naming its source.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace, grant_workspace};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Server};

const ORG: &str = "default";
const CONFIG: &str = "resource \"terraform_data\" \"link\" {\n  input = \"chain\"\n}\n";
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

fn trigger_body(source: &str) -> Value {
    json!({"data": {"type": "run-triggers", "relationships": {
        "sourceable": {"data": {"type": "workspaces", "id": source}}}}})
}

fn create_trigger(api: &Api, target: &str, source: &str) -> String {
    api.post(
        &format!("workspaces/{target}/run-triggers"),
        &trigger_body(source),
    )
    .expect(201)
    .id()
}

fn listed(api: &Api, workspace: &str, kind: &str) -> Vec<String> {
    api.get(&format!(
        "workspaces/{workspace}/run-triggers?filter[run-trigger][type]={kind}"
    ))
    .ok()
    .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn runs_of(api: &Api, workspace: &str) -> Vec<Value> {
    api.get(&format!("workspaces/{workspace}/runs")).ok().body["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// The one run a trigger queued in `workspace`, once there is one.
fn wait_for_first_run(api: &Api, workspace: &str) -> Value {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let runs = runs_of(api, workspace);
        if let Some(run) = runs.first() {
            return run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no run was queued in {workspace}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

both_databases!(the_api_has_hcp_terraforms_shape_and_refusals, |db: Db| {
    // Forty-odd workspaces in a few seconds: the limit under test is the server's 20 sources.
    let server = Server::builder(db).without_rate_limits().start();
    let api = server.api(&server.admin_token());
    let target = create_workspace(&api, ORG, "app", None);
    let source = create_workspace(&api, ORG, "network", None);
    let other = create_workspace(&api, ORG, "dns", None);

    let created = api
        .post(
            &format!("workspaces/{target}/run-triggers"),
            &trigger_body(&source),
        )
        .expect(201);
    let id = created.id();
    assert!(id.starts_with("rt-"), "{id}");
    let data = created.data();
    assert_eq!(data["type"], "run-triggers");
    assert_eq!(data["attributes"]["workspace-name"], "app");
    assert_eq!(data["attributes"]["sourceable-name"], "network");
    assert!(data["attributes"]["created-at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        data["relationships"]["workspace"]["data"],
        json!({"type": "workspaces", "id": target})
    );
    assert_eq!(
        data["relationships"]["sourceable"]["data"],
        json!({"type": "workspaces", "id": source})
    );
    // Read back exactly as created (go-tfe compares them whole).
    let shown = api.get(&format!("run-triggers/{id}")).ok();
    assert_eq!(shown.body["data"], created.body["data"]);

    // Inbound lists a target's sources, outbound a source's targets, paginated.
    let second = create_trigger(&api, &target, &other);
    assert_eq!(
        listed(&api, &target, "inbound"),
        vec![id.clone(), second.clone()]
    );
    assert_eq!(listed(&api, &source, "outbound"), vec![id.clone()]);
    assert!(listed(&api, &target, "outbound").is_empty());
    assert!(listed(&api, &source, "inbound").is_empty());
    let page = api
        .get(&format!(
            "workspaces/{target}/run-triggers?filter[run-trigger][type]=inbound&page[number]=2&page[size]=1"
        ))
        .ok();
    assert_eq!(page.body["data"][0]["id"], second.as_str());
    assert_eq!(page.body["meta"]["pagination"]["total-count"], 2);
    assert_eq!(page.body["meta"]["pagination"]["current-page"], 2);
    let unpaged = api
        .get(&format!(
            "workspaces/{target}/run-triggers?filter[run-trigger][type]=inbound"
        ))
        .ok();
    assert_eq!(unpaged.body["meta"]["pagination"]["current-page"], 1);
    assert_eq!(unpaged.body["data"][0], created.body["data"]);

    // The filter is required and is one of two words.
    api.get(&format!("workspaces/{target}/run-triggers"))
        .expect_error(422, "filter[run-trigger][type] is required");
    api.get(&format!(
        "workspaces/{target}/run-triggers?filter[run-trigger][type]=sideways"
    ))
    .expect_error(422, "inbound or outbound");

    // Refusals, each a JSON:API error that says what is wrong.
    let path = format!("workspaces/{target}/run-triggers");
    api.post(&path, &trigger_body(&source))
        .expect_error(422, "already has a run trigger from workspace network");
    api.post(
        &format!("workspaces/{source}/run-triggers"),
        &trigger_body(&source),
    )
    .expect_error(422, "cannot trigger runs in itself");
    let missing = api
        .post(&path, &json!({"data": {"type": "run-triggers"}}))
        .expect_error(422, "needs its source workspace");
    assert_eq!(
        missing.body["errors"][0]["source"]["pointer"],
        "/data/relationships/sourceable/data"
    );
    api.post(
        &path,
        &json!({"data": {"type": "run-triggers", "relationships": {
            "sourceable": {"data": {"type": "projects", "id": source}}}}}),
    )
    .expect_error(422, "is a workspace");
    api.post(&path, &json!({"data": {"type": "workspaces"}}))
        .expect_error(422, "run-triggers");
    api.post(&path, &trigger_body("ws-doesnotexist"))
        .expect_error(404, "not found");
    api.post(
        "workspaces/ws-doesnotexist/run-triggers",
        &trigger_body(&source),
    )
    .expect_error(404, "not found");
    api.get("run-triggers/rt-doesnotexist")
        .expect_error(404, "not found");
    api.delete("run-triggers/rt-doesnotexist")
        .expect_error(404, "not found");

    // HCP Terraform's limit: 20 source workspaces per target.
    let crowded = create_workspace(&api, ORG, "crowded", None);
    for n in 0..20 {
        let source = create_workspace(&api, ORG, &format!("source-{n}"), None);
        create_trigger(&api, &crowded, &source);
    }
    let one_too_many = create_workspace(&api, ORG, "source-20", None);
    api.post(
        &format!("workspaces/{crowded}/run-triggers"),
        &trigger_body(&one_too_many),
    )
    .expect_error(422, "already has 20 source workspaces");
    assert_eq!(listed(&api, &crowded, "inbound").len(), 20);
    // ...which one of them may still have as a target of its own.
    create_trigger(&api, &one_too_many, &crowded);

    // Deleting.
    api.delete(&format!("run-triggers/{second}")).expect(204);
    api.get(&format!("run-triggers/{second}")).expect(404);
    api.delete(&format!("run-triggers/{second}")).expect(404);
    assert_eq!(listed(&api, &target, "inbound"), vec![id.clone()]);

    // Deleting a workspace deletes its triggers, both ways.
    let downstream = create_workspace(&api, ORG, "downstream", None);
    let outbound = create_trigger(&api, &downstream, &source);
    let inbound = create_trigger(&api, &source, &other);
    api.delete(&format!("workspaces/{source}")).expect(204);
    for gone in [&id, &outbound, &inbound] {
        api.get(&format!("run-triggers/{gone}")).expect(404);
    }
    assert!(listed(&api, &target, "inbound").is_empty());
    assert!(listed(&api, &downstream, "inbound").is_empty());
    assert!(listed(&api, &other, "outbound").is_empty());
});

both_databases!(another_organization_finds_nothing_to_aim_at, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.user_token("alice"));
    alice
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": "alice-corp", "email": "a@alice.example"}}}),
        )
        .expect(201);
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bob-corp", "email": "b@bob.example"}}}),
    )
    .expect(201);
    let a_target = create_workspace(&alice, "alice-corp", "app", None);
    let a_source = create_workspace(&alice, "alice-corp", "network", None);
    let trigger = create_trigger(&alice, &a_target, &a_source);
    let b_ws = create_workspace(&bob, "bob-corp", "bob-app", None);
    let b_other = create_workspace(&bob, "bob-corp", "bob-network", None);
    // Control: Bob can make triggers between his own workspaces.
    create_trigger(&bob, &b_ws, &b_other);

    // From Alice's workspace into his, into hers from his, and between two of hers.
    let attacks = [
        (format!("workspaces/{b_ws}/run-triggers"), a_source.clone()),
        (format!("workspaces/{a_target}/run-triggers"), b_ws.clone()),
        (
            format!("workspaces/{a_target}/run-triggers"),
            a_source.clone(),
        ),
    ];
    for (path, source) in &attacks {
        let reply = bob
            .post(path, &trigger_body(source))
            .expect_error(404, "not found");
        for secret in ["alice-corp", "network", "\"app\"", a_target.as_str()] {
            assert!(!reply.text.contains(secret), "{path}: {}", reply.text);
        }
    }
    for kind in ["inbound", "outbound"] {
        for ws in [&a_target, &a_source] {
            bob.get(&format!(
                "workspaces/{ws}/run-triggers?filter[run-trigger][type]={kind}"
            ))
            .expect_error(404, "not found");
        }
    }
    // Without the filter too: the workspace is unknown before the filter is looked at.
    bob.get(&format!("workspaces/{a_target}/run-triggers"))
        .expect_error(404, "not found");
    bob.get(&format!("run-triggers/{trigger}"))
        .expect_error(404, "not found");
    bob.delete(&format!("run-triggers/{trigger}"))
        .expect_error(404, "not found");
    // Nothing changed on Alice's side, and her triggers never name Bob's workspaces.
    let shown = alice.get(&format!("run-triggers/{trigger}")).ok();
    assert_eq!(shown.attr("sourceable-name"), "network");
    assert_eq!(listed(&alice, &a_target, "inbound"), vec![trigger.clone()]);
    assert!(listed(&alice, &a_source, "inbound").is_empty());
    assert_eq!(listed(&bob, &b_other, "outbound").len(), 1);

    // Inside the organization: a trigger is seen by who reads both its workspaces, created
    // and deleted by the target's administrators who read the source.
    let members = |name: &str, grants: &[(&str, &str)]| {
        let token = server.user_token(name);
        let team = create_team(&alice, "alice-corp", &format!("team-{name}"), json!({}));
        add_member(&alice, "alice-corp", &team, name);
        for (ws, level) in grants {
            grant_workspace(&alice, &team, ws, json!({"access": level}));
        }
        server.api(&token)
    };
    let target_only = members("carol", &[(&a_target, "admin")]);
    let both_readers = members("dave", &[(&a_target, "read"), (&a_source, "read")]);
    let admin = members("erin", &[(&a_target, "admin"), (&a_source, "read")]);
    target_only
        .get(&format!("run-triggers/{trigger}"))
        .expect(404);
    assert!(listed(&target_only, &a_target, "inbound").is_empty());
    target_only
        .delete(&format!("run-triggers/{trigger}"))
        .expect(404);
    target_only
        .post(
            &format!("workspaces/{a_target}/run-triggers"),
            &trigger_body(&a_source),
        )
        .expect_error(404, "not found");
    both_readers.get(&format!("run-triggers/{trigger}")).ok();
    assert_eq!(
        listed(&both_readers, &a_target, "inbound"),
        vec![trigger.clone()]
    );
    both_readers
        .delete(&format!("run-triggers/{trigger}"))
        .expect_error(403, "not allowed");
    let third = create_workspace(&alice, "alice-corp", "third", None);
    both_readers
        .post(
            &format!("workspaces/{a_target}/run-triggers"),
            &trigger_body(&a_source),
        )
        .expect_error(403, "not allowed");
    admin.delete(&format!("run-triggers/{trigger}")).expect(204);
    // The deletion is in Alice's organization's audit trail (found through the trigger).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let trail = alice.get("organizations/alice-corp/audit-trail").ok();
        let found = trail.body["data"].as_array().unwrap().iter().any(|e| {
            e["resource"]["meta"]["route"] == "DELETE /api/v2/run-triggers/:run_trigger_id"
                && e["resource"]["id"] == trigger.as_str()
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not in the trail: {}",
            trail.text
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    create_trigger(&admin, &a_target, &a_source);
    admin
        .post(
            &format!("workspaces/{a_target}/run-triggers"),
            &trigger_body(&third),
        )
        .expect_error(404, "not found");
});

both_databases!(a_chain_runs_each_link_once_per_apply, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    let a = create_workspace(&api, ORG, "chain-a", None);
    let b = create_workspace(&api, ORG, "chain-b", None);
    let c = create_workspace(&api, ORG, "chain-c", None);
    // D follows A too, with auto-apply but not auto-apply-run-trigger: its run waits.
    let d = create_workspace(&api, ORG, "chain-d", None);
    for (ws, attributes) in [
        (&b, json!({"auto-apply-run-trigger": true})),
        (&c, json!({"auto-apply-run-trigger": true})),
        (&d, json!({"auto-apply": true})),
    ] {
        api.patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": attributes}}),
        )
        .ok();
    }
    for ws in [&a, &b, &c, &d] {
        upload_configuration(&api, ws, &[("main.tf", CONFIG)], false);
    }
    create_trigger(&api, &b, &a);
    create_trigger(&api, &c, &b);
    create_trigger(&api, &d, &a);

    let first = create_run(&api, &a, None, json!({"auto-apply": true})).id();
    wait_for_run(&api, &first, &["applied"], RUN_TIMEOUT);

    let b_run = wait_for_first_run(&api, &b);
    let b_id = b_run["id"].as_str().unwrap().to_string();
    assert_eq!(
        b_run["attributes"]["message"],
        format!("Triggered by run {first} from workspace {ORG}/chain-a")
    );
    assert_eq!(b_run["attributes"]["source"], "tfe-run-trigger");
    assert_eq!(b_run["attributes"]["trigger-reason"], "run_trigger");
    wait_for_run(&api, &b_id, &["applied"], RUN_TIMEOUT);

    let c_run = wait_for_first_run(&api, &c);
    let c_id = c_run["id"].as_str().unwrap().to_string();
    assert_eq!(
        c_run["attributes"]["message"],
        format!("Triggered by run {b_id} from workspace {ORG}/chain-b")
    );
    wait_for_run(&api, &c_id, &["applied"], RUN_TIMEOUT);

    let d_run = wait_for_first_run(&api, &d);
    let d_id = d_run["id"].as_str().unwrap().to_string();
    assert_eq!(
        d_run["attributes"]["message"],
        format!("Triggered by run {first} from workspace {ORG}/chain-a")
    );
    let planned = wait_for_run(&api, &d_id, &["planned"], RUN_TIMEOUT);
    assert_eq!(planned.attr("auto-apply"), false);

    // C has no targets: the chain ends. Each link ran exactly once.
    std::thread::sleep(Duration::from_secs(3));
    for (ws, name) in [(&a, "A"), (&b, "B"), (&c, "C"), (&d, "D")] {
        let runs = runs_of(&api, ws);
        assert_eq!(runs.len(), 1, "{name} has {} runs: {runs:?}", runs.len());
    }
    assert_eq!(runs_of(&api, &d)[0]["attributes"]["status"], "planned");
});
