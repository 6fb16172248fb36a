//! Run tasks, their configuration (HCP Terraform's `tasks` and `workspace-tasks`), over the
//! API as users: creating a task sends its URL a signed test request (a receiver started here
//! answers it; one answering 500 gets the task refused), the HMAC key is never returned and
//! is sealed at rest; tasks are listed, read (with their attachments included), changed and
//! deleted with their attachments; attachments take stages (or the deprecated single stage);
//! the SSRF guard of notification URLs refuses loopback without the site's setting and
//! link-local always; another organization's owner finds nothing and cannot attach a task
//! to his workspace; members need "Manage Run Tasks" or to administer the workspace.

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace, grant_workspace};
use terrace_tests::receiver::Receiver;
use terrace_tests::{both_databases, Api, Db, Server};

const ORG: &str = "default";
const ALLOW: &str = "--allow-private-notification-urls";
const KEY: &str = "task-hmac-key-never-returned-51c0";

/// HMAC-SHA512 (RFC 2104) of `body` keyed by [`KEY`], hex: written out here so the test does
/// not share the server's HMAC code.
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

fn task_body(attributes: Value) -> Value {
    json!({"data": {"type": "tasks", "attributes": attributes}})
}

fn attach_body(task: &str, attributes: Value) -> Value {
    json!({"data": {"type": "workspace-tasks", "attributes": attributes,
        "relationships": {"task": {"data": {"type": "tasks", "id": task}}}}})
}

fn pointer(reply: &terrace_tests::Reply) -> String {
    reply.body["errors"][0]["source"]["pointer"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn listed(api: &Api, path: &str) -> Vec<String> {
    api.get(path).ok().ids()
}

both_databases!(run_tasks_are_configured_as_in_hcp_terraform, |db: Db| {
    let server = Server::builder(db).without_rate_limits().arg(ALLOW).start();
    let alice = server.api(&server.admin_token());
    let receiver = Receiver::start(&[200]);
    let ws = create_workspace(&alice, ORG, "app", None);
    let mut seen = Vec::new();

    // Created after the signed test request was answered 200.
    let created = alice
        .post(
            &format!("organizations/{ORG}/tasks"),
            &task_body(
                json!({"name": "scanner", "url": receiver.url, "category": "task",
                "description": "scans plans", "hmac-key": KEY}),
            ),
        )
        .expect(201);
    let task = created.id();
    assert!(task.starts_with("task-"), "{}", created.text);
    assert_eq!(created.data()["type"], "tasks");
    assert_eq!(
        created.data()["attributes"],
        json!({"name": "scanner", "url": receiver.url, "description": "scans plans",
            "category": "task", "enabled": true, "hmac-key": null,
            "global-configuration": null}),
        "{}",
        created.text
    );
    assert_eq!(
        created.data()["relationships"]["organization"]["data"],
        json!({"type": "organizations", "id": ORG})
    );
    assert_eq!(
        created.data()["relationships"]["agent-pool"]["data"],
        Value::Null
    );
    seen.push(created.text.clone());
    let test = &receiver.wait_for(1)[0];
    assert_eq!(test.body["payload_version"], 1, "{}", test.body);
    assert_eq!(test.body["stage"], "test");
    assert_eq!(test.body["access_token"], "test-token");
    assert_eq!(test.body["organization_name"], ORG);
    assert_eq!(
        test.headers.get("x-tfc-task-signature"),
        Some(&signature(&test.raw)),
        "the test request is signed with the task's key"
    );

    // Sealed at rest: the column holds something, and not the key.
    assert_eq!(
        server.sql(&format!(
            "UPDATE run_tasks SET name = name WHERE id = '{task}' \
             AND hmac_key_ciphertext IS NOT NULL"
        )),
        1
    );
    assert_eq!(
        server.sql(&format!(
            "UPDATE run_tasks SET name = name WHERE hmac_key_ciphertext LIKE '%{KEY}%'"
        )),
        0
    );

    // Read, list, change.
    let shown = alice.get(&format!("tasks/{task}")).ok();
    assert_eq!(shown.attr("name"), "scanner");
    assert_eq!(shown.attr("hmac-key"), &Value::Null);
    seen.push(shown.text.clone());
    assert_eq!(
        listed(&alice, &format!("organizations/{ORG}/tasks")),
        vec![task.clone()]
    );
    let changed = alice
        .patch(
            &format!("tasks/{task}"),
            &task_body(json!({"name": "scanner-2", "enabled": false, "description": "d"})),
        )
        .ok();
    assert_eq!(changed.attr("name"), "scanner-2");
    assert_eq!(changed.attr("enabled"), false);
    assert_eq!(changed.attr("url"), receiver.url.as_str());
    seen.push(changed.text.clone());
    // No URL change, no new test request.
    assert_eq!(receiver.received().len(), 1);

    // Refusals name their attribute.
    let refused = |attributes: Value, want: &str| {
        let reply = alice
            .post(
                &format!("organizations/{ORG}/tasks"),
                &task_body(attributes),
            )
            .expect(422);
        assert_eq!(pointer(&reply), want, "{}", reply.text);
    };
    let url = receiver.url.as_str();
    refused(
        json!({"name": "has space", "url": url, "category": "task"}),
        "/data/attributes/name",
    );
    refused(
        json!({"url": url, "category": "task"}),
        "/data/attributes/name",
    );
    refused(
        json!({"name": "x", "url": url, "category": "policy"}),
        "/data/attributes/category",
    );
    refused(
        json!({"name": "x", "url": "ftp://tasks.example/", "category": "task"}),
        "/data/attributes/url",
    );
    refused(
        json!({"name": "x", "url": "http://169.254.169.254/latest", "category": "task"}),
        "/data/attributes/url",
    );
    // A URL that does not answer the test request with 200 is refused, on creation and on
    // change; the task keeps its URL.
    let failing = Receiver::start(&[500]);
    refused(
        json!({"name": "x", "url": failing.url, "category": "task"}),
        "/data/attributes/url",
    );
    let reply = alice
        .patch(
            &format!("tasks/{task}"),
            &task_body(json!({"url": failing.url})),
        )
        .expect(422);
    assert_eq!(pointer(&reply), "/data/attributes/url");
    assert_eq!(failing.received().len(), 2);
    assert_eq!(
        alice.get(&format!("tasks/{task}")).ok().attr("url"),
        receiver.url.as_str()
    );
    alice
        .post(
            &format!("organizations/{ORG}/tasks"),
            &task_body(json!({"name": "scanner-2", "url": url, "category": "task"})),
        )
        .expect(422);

    // Attachments: stages in the order given (each once), the first as `stage`.
    let attached = alice
        .post(
            &format!("workspaces/{ws}/tasks"),
            &attach_body(
                &task,
                json!({"enforcement-level": "mandatory",
                    "stages": ["pre_plan", "post_plan", "pre_plan"]}),
            ),
        )
        .expect(201);
    let wstask = attached.id();
    assert!(wstask.starts_with("wstask-"), "{}", attached.text);
    assert_eq!(
        attached.data()["attributes"],
        json!({"enforcement-level": "mandatory", "stage": "pre_plan",
            "stages": ["pre_plan", "post_plan"]})
    );
    assert_eq!(
        attached.data()["relationships"]["task"]["data"],
        json!({"type": "tasks", "id": task})
    );
    assert_eq!(
        attached.data()["relationships"]["workspace"]["data"],
        json!({"type": "workspaces", "id": ws})
    );
    // The same task twice is refused; a bad level or stage names its attribute.
    let twice = alice.post(
        &format!("workspaces/{ws}/tasks"),
        &attach_body(&task, json!({"enforcement-level": "advisory"})),
    );
    assert!(matches!(twice.status, 409 | 422), "{}", twice.text);
    let other_ws = create_workspace(&alice, ORG, "other", None);
    for (attributes, want) in [
        (json!({}), "/data/attributes/enforcement-level"),
        (
            json!({"enforcement-level": "strict"}),
            "/data/attributes/enforcement-level",
        ),
        (
            json!({"enforcement-level": "advisory", "stages": ["later"]}),
            "/data/attributes/stages",
        ),
    ] {
        let reply = alice
            .post(
                &format!("workspaces/{other_ws}/tasks"),
                &attach_body(&task, attributes),
            )
            .expect(422);
        assert_eq!(pointer(&reply), want, "{}", reply.text);
    }
    alice
        .post(
            &format!("workspaces/{other_ws}/tasks"),
            &attach_body("task-missing", json!({"enforcement-level": "advisory"})),
        )
        .expect(404);
    // Without stages: post_plan, HCP's default; the deprecated `stage` sets one.
    let defaulted = alice
        .post(
            &format!("workspaces/{other_ws}/tasks"),
            &attach_body(&task, json!({"enforcement-level": "advisory"})),
        )
        .expect(201);
    assert_eq!(defaulted.attr("stages"), &json!(["post_plan"]));
    let deprecated = alice
        .patch(
            &format!("workspaces/{other_ws}/tasks/{}", defaulted.id()),
            &json!({"data": {"type": "workspace-tasks", "attributes": {"stage": "pre_apply"}}}),
        )
        .ok();
    assert_eq!(deprecated.attr("stages"), &json!(["pre_apply"]));
    assert_eq!(deprecated.attr("stage"), "pre_apply");
    assert_eq!(deprecated.attr("enforcement-level"), "advisory");

    assert_eq!(
        listed(&alice, &format!("workspaces/{ws}/tasks")),
        vec![wstask.clone()]
    );
    let read = alice.get(&format!("workspaces/{ws}/tasks/{wstask}")).ok();
    assert_eq!(read.attr("enforcement-level"), "mandatory");
    alice
        .get(&format!("workspaces/{other_ws}/tasks/{wstask}"))
        .expect(404);
    let updated = alice
        .patch(
            &format!("workspaces/{ws}/tasks/{wstask}"),
            &json!({"data": {"type": "workspace-tasks",
                "attributes": {"enforcement-level": "advisory", "stages": ["post_apply"]}}}),
        )
        .ok();
    assert_eq!(
        updated.data()["attributes"],
        json!({"enforcement-level": "advisory", "stage": "post_apply", "stages": ["post_apply"]})
    );

    // The task with its attachments included.
    let with = alice
        .get(&format!("tasks/{task}?include=workspace_tasks"))
        .ok();
    let mut related: Vec<String> = with.data()["relationships"]["workspace-tasks"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    related.sort();
    let mut want = vec![wstask.clone(), defaulted.id()];
    want.sort();
    assert_eq!(related, want, "{}", with.text);
    assert_eq!(with.body["included"].as_array().unwrap().len(), 2);
    assert_eq!(with.body["included"][0]["type"], "workspace-tasks");
    seen.push(with.text.clone());

    // Another organization's owner finds nothing, and cannot attach Alice's task.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bob-corp", "email": "b@bob.example"}}}),
    )
    .expect(201);
    let bob_ws = create_workspace(&bob, "bob-corp", "bobs", None);
    bob.get(&format!("tasks/{task}")).expect(404);
    bob.patch(
        &format!("tasks/{task}"),
        &task_body(json!({"name": "mine"})),
    )
    .expect(404);
    bob.delete(&format!("tasks/{task}")).expect(404);
    bob.get(&format!("organizations/{ORG}/tasks")).expect(404);
    bob.get(&format!("workspaces/{ws}/tasks")).expect(404);
    bob.get(&format!("workspaces/{ws}/tasks/{wstask}"))
        .expect(404);
    bob.delete(&format!("workspaces/{ws}/tasks/{wstask}"))
        .expect(404);
    bob.post(
        &format!("workspaces/{bob_ws}/tasks"),
        &attach_body(&task, json!({"enforcement-level": "mandatory"})),
    )
    .expect(404);
    assert!(listed(&bob, &format!("workspaces/{bob_ws}/tasks")).is_empty());
    // Nor can Alice attach Bob's task to her workspace.
    let bob_receiver = Receiver::start(&[200]);
    let bobs_task = bob
        .post(
            "organizations/bob-corp/tasks",
            &task_body(json!({"name": "bobs", "url": bob_receiver.url, "category": "task"})),
        )
        .expect(201)
        .id();
    alice
        .post(
            &format!("workspaces/{ws}/tasks"),
            &attach_body(&bobs_task, json!({"enforcement-level": "mandatory"})),
        )
        .expect(404);

    // Members: the organization's tasks take manage-run-tasks; attaching one, administering
    // the workspace.
    let plain = {
        let team = create_team(&alice, ORG, "plain", json!({}));
        let token = server.user_token("carol");
        add_member(&alice, ORG, &team, "carol");
        grant_workspace(&alice, &team, &ws, json!({"access": "write"}));
        server.api(&token)
    };
    plain
        .post(
            &format!("organizations/{ORG}/tasks"),
            &task_body(json!({"name": "c", "url": url, "category": "task"})),
        )
        .expect(403);
    plain.get(&format!("tasks/{task}")).expect(403);
    plain.get(&format!("organizations/{ORG}/tasks")).expect(403);
    assert_eq!(
        plain.get(&format!("organizations/{ORG}")).ok().body["data"]["attributes"]["permissions"]
            ["can-manage-run-tasks"],
        false
    );
    // A writer reads the workspace's attachments but does not change them.
    assert_eq!(
        listed(&plain, &format!("workspaces/{ws}/tasks")),
        vec![wstask.clone()]
    );
    plain
        .delete(&format!("workspaces/{ws}/tasks/{wstask}"))
        .expect(403);
    assert_eq!(
        plain.get(&format!("workspaces/{ws}")).ok().body["data"]["attributes"]["permissions"]
            ["can-manage-run-tasks"],
        false
    );
    let runners = {
        let team = create_team(&alice, ORG, "runtasks", json!({"manage-run-tasks": true}));
        let token = server.user_token("dave");
        add_member(&alice, ORG, &team, "dave");
        server.api(&token)
    };
    assert_eq!(
        runners.get(&format!("organizations/{ORG}")).ok().body["data"]["attributes"]["permissions"]
            ["can-manage-run-tasks"],
        true
    );
    let daves = runners
        .post(
            &format!("organizations/{ORG}/tasks"),
            &task_body(json!({"name": "daves", "url": url, "category": "task"})),
        )
        .expect(201)
        .id();
    runners.delete(&format!("tasks/{daves}")).expect(204);
    // A workspace administrator attaches (the task's ID is all it takes).
    let admins = {
        let team = create_team(&alice, ORG, "admins", json!({}));
        let token = server.user_token("erin");
        add_member(&alice, ORG, &team, "erin");
        grant_workspace(&alice, &team, &other_ws, json!({"access": "admin"}));
        server.api(&token)
    };
    assert_eq!(
        admins.get(&format!("workspaces/{other_ws}")).ok().body["data"]["attributes"]
            ["permissions"]["can-manage-run-tasks"],
        true
    );
    admins
        .delete(&format!("workspaces/{other_ws}/tasks/{}", defaulted.id()))
        .expect(204);

    // Deleting the task detaches it everywhere.
    alice.delete(&format!("tasks/{task}")).expect(204);
    alice.get(&format!("tasks/{task}")).expect(404);
    alice
        .get(&format!("workspaces/{ws}/tasks/{wstask}"))
        .expect(404);
    assert!(listed(&alice, &format!("workspaces/{ws}/tasks")).is_empty());

    for text in seen {
        assert!(!text.contains(KEY), "{text}");
    }
});

/// Without the site's setting, a task may not point at loopback (nor at this server).
#[test]
fn loopback_task_urls_need_the_sites_setting() {
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let alice = server.api(&server.admin_token());
    let receiver = Receiver::start(&[200]);
    let reply = alice
        .post(
            &format!("organizations/{ORG}/tasks"),
            &task_body(json!({"name": "local", "url": receiver.url, "category": "task"})),
        )
        .expect(422);
    assert_eq!(pointer(&reply), "/data/attributes/url", "{}", reply.text);
    assert!(reply.text.contains("loopback"), "{}", reply.text);
    assert!(receiver.received().is_empty());
}
