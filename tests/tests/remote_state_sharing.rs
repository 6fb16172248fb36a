//! Remote state sharing (HCP Terraform's `global-remote-state`, `project-remote-state` and
//! `remote-state-consumers`):
//! the relationship endpoints' shape and refusals, `include=outputs`, and real remote runs
//! through the built-in listener whose `terraform_remote_state` (backend "remote", with the
//! run's own job token) reads another workspace's outputs only while that workspace shares
//! them with it, never across organizations.

use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace, grant_workspace};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Server};

const ORG: &str = "default";
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const DENIAL: &str = "not authorized to read the state of the workspace 'network'";

fn consumers_path(ws: &str) -> String {
    format!("workspaces/{ws}/relationships/remote-state-consumers")
}

fn linkage(ids: &[&str]) -> Value {
    json!({"data": ids.iter().map(|id| json!({"type": "workspaces", "id": id})).collect::<Vec<_>>()})
}

fn consumers(api: &Api, ws: &str) -> Vec<String> {
    api.get(&consumers_path(ws)).ok().body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect()
}

fn set_global(api: &Api, ws: &str, on: bool) {
    api.patch(
        &format!("workspaces/{ws}"),
        &json!({"data": {"type": "workspaces", "attributes": {"global-remote-state": on}}}),
    )
    .ok();
}

/// Runs the workspace's latest configuration with auto-apply; returns the run's ID and its
/// final status (`applied` or `errored`).
fn run(api: &Api, ws: &str) -> (String, String) {
    let id = create_run(api, ws, None, json!({"auto-apply": true})).id();
    let done = wait_for_run(
        api,
        &id,
        &["applied", "errored", "planned_and_finished"],
        RUN_TIMEOUT,
    );
    (id, done.attr("status").as_str().unwrap().to_string())
}

fn reader_config(hostname: &str, org: &str) -> String {
    format!(
        "data \"terraform_remote_state\" \"network\" {{\n  backend = \"remote\"\n  config = {{\n    \
         hostname     = \"{hostname}\"\n    organization = \"{org}\"\n    workspaces = {{\n      \
         name = \"network\"\n    }}\n  }}\n}}\n\
         output \"vpc\" {{\n  value = data.terraform_remote_state.network.outputs.vpc\n}}\n"
    )
}

both_databases!(the_relationship_has_hcp_terraforms_shape, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    let network = create_workspace(&api, ORG, "network", None);
    let app = create_workspace(&api, ORG, "app", None);
    let web = create_workspace(&api, ORG, "web", None);
    // HCP Terraform's default for new workspaces: not shared with the organization.
    let shown = api.get(&format!("workspaces/{network}")).ok();
    assert_eq!(shown.attr("global-remote-state"), false);

    assert!(consumers(&api, &network).is_empty());
    api.post(&consumers_path(&network), &linkage(&[&app, &web]))
        .expect(204);
    // Adding again changes nothing.
    api.post(&consumers_path(&network), &linkage(&[&app]))
        .expect(204);
    let listed = api.get(&consumers_path(&network)).ok();
    assert_eq!(listed.body["meta"]["pagination"]["total-count"], 2);
    let data = listed.body["data"].as_array().unwrap();
    assert_eq!(data[0]["type"], "workspaces");
    // Rendered as the organization's workspace list renders them (go-tfe compares whole).
    let all = api.get(&format!("organizations/{ORG}/workspaces")).ok();
    for item in data {
        let same = all.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == item["id"])
            .unwrap();
        assert_eq!(item, same);
    }
    let page = api
        .get(&format!(
            "{}?page[number]=2&page[size]=1",
            consumers_path(&network)
        ))
        .ok();
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["meta"]["pagination"]["current-page"], 2);

    // PATCH replaces, DELETE removes (unknown ones are ignored).
    api.patch(&consumers_path(&network), &linkage(&[&web]))
        .expect(204);
    assert_eq!(consumers(&api, &network), vec![web.clone()]);
    api.send_json("DELETE", &consumers_path(&network), &linkage(&[&web, &app]))
        .expect(204);
    assert!(consumers(&api, &network).is_empty());

    // Refusals name the field.
    let path = consumers_path(&network);
    let empty = api
        .post(&path, &json!({"data": []}))
        .expect_error(422, "at least one workspace");
    assert_eq!(empty.body["errors"][0]["source"]["pointer"], "/data");
    api.post(&path, &json!({}))
        .expect_error(422, "at least one workspace");
    let wrong = api
        .post(&path, &json!({"data": [{"type": "projects", "id": app}]}))
        .expect_error(422, "is a workspace");
    assert_eq!(wrong.body["errors"][0]["source"]["pointer"], "/data/0/type");
    api.post(&path, &linkage(&["ws-doesnotexist"]))
        .expect_error(422, "not found");
    api.patch(&path, &linkage(&[&network]))
        .expect_error(422, "its own state");
    api.post(&consumers_path("ws-doesnotexist"), &linkage(&[&app]))
        .expect_error(404, "not found");
    api.send_raw("POST", &path, b"{not json").expect(400);

    // Readers read the list, only administrators change it.
    let reader = {
        let token = server.user_token("rita");
        let team = create_team(&api, ORG, "readers", json!({}));
        add_member(&api, ORG, &team, "rita");
        grant_workspace(&api, &team, &network, json!({"access": "read"}));
        server.api(&token)
    };
    api.post(&path, &linkage(&[&app])).expect(204);
    assert_eq!(consumers(&reader, &network), vec![app.clone()]);
    reader
        .post(&path, &linkage(&[&web]))
        .expect_error(403, "not allowed");
    reader
        .send_json("DELETE", &path, &linkage(&[&app]))
        .expect_error(403, "not allowed");

    // Deleting a consumer deletes its row.
    api.delete(&format!("workspaces/{app}")).expect(204);
    assert!(consumers(&api, &network).is_empty());

    // Another organization: its workspaces cannot be added, its owner sees nothing of ours.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bob-corp", "email": "b@bob.example"}}}),
    )
    .expect(201);
    let bobs = create_workspace(&bob, "bob-corp", "bob-app", None);
    let refused = api
        .post(&path, &linkage(&[&bobs]))
        .expect_error(422, "not found");
    assert!(!refused.text.contains("bob-app"), "{}", refused.text);
    for reply in [
        bob.get(&path),
        bob.post(&path, &linkage(&[&bobs])),
        bob.patch(&path, &linkage(&[&bobs])),
        bob.send_json("DELETE", &path, &linkage(&[&web])),
    ] {
        let reply = reply.expect_error(404, "not found");
        assert!(!reply.text.contains("network"), "{}", reply.text);
    }
    bob.post(&consumers_path(&bobs), &linkage(&[&web]))
        .expect_error(422, "not found");
    assert!(consumers(&bob, &bobs).is_empty());
});

both_databases!(runs_read_shared_state_only, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    let network = create_workspace(&api, ORG, "network", None);
    let app = create_workspace(&api, ORG, "app", None);
    upload_configuration(
        &api,
        &network,
        &[(
            "main.tf",
            "output \"vpc\" {\n  value = \"vpc-123\"\n}\n\
             output \"secret\" {\n  value     = \"hunter2\"\n  sensitive = true\n}\n",
        )],
        false,
    );
    let (_, status) = run(&api, &network);
    assert_eq!(status, "applied");

    // include=outputs on the workspace: its current outputs, sensitive values hidden.
    let shown = api
        .get(&format!("workspaces/{network}?include=outputs"))
        .ok();
    let included = shown.body["included"].as_array().unwrap();
    let output = |name: &str| {
        included
            .iter()
            .find(|o| o["type"] == "workspace-outputs" && o["attributes"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {}", shown.text))
            .clone()
    };
    assert_eq!(output("vpc")["attributes"]["value"], "vpc-123");
    assert_eq!(output("secret")["attributes"]["sensitive"], true);
    assert_eq!(output("secret")["attributes"]["value"], Value::Null);
    assert!(!shown.text.contains("hunter2"));
    assert_eq!(
        shown.data()["relationships"]["outputs"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // ...and on the list, each workspace with its own (none before a state).
    let listed = api
        .get(&format!("organizations/{ORG}/workspaces?include=outputs"))
        .ok();
    let named = |id: &str| {
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id)
            .unwrap()["relationships"]["outputs"]["data"]
            .clone()
    };
    assert_eq!(
        named(&network),
        shown.data()["relationships"]["outputs"]["data"]
    );
    assert_eq!(named(&app), json!([]));
    let listed_outputs = listed.body["included"].as_array().unwrap();
    assert_eq!(listed_outputs.len(), 2, "{}", listed.text);
    assert!(!listed.text.contains("hunter2"));

    upload_configuration(
        &api,
        &app,
        &[("main.tf", &reader_config(&server.hostname, ORG))],
        false,
    );
    let refused = |why: &str| {
        let (id, status) = run(&api, &app);
        let log = phase_log(&api, &id, "plan");
        assert_eq!(status, "errored", "{why}: {log}");
        assert!(log.contains(DENIAL), "{why}: {log}");
    };
    let app_vpc = || {
        let outputs = api
            .get(&format!("workspaces/{app}/current-state-version-outputs"))
            .ok();
        outputs.body["data"][0]["attributes"]["value"].clone()
    };
    refused("neither shared nor a consumer");

    api.post(&consumers_path(&network), &linkage(&[&app]))
        .expect(204);
    let (id, status) = run(&api, &app);
    assert_eq!(status, "applied", "{}", phase_log(&api, &id, "plan"));
    assert_eq!(app_vpc(), "vpc-123");

    api.send_json("DELETE", &consumers_path(&network), &linkage(&[&app]))
        .expect(204);
    refused("no longer a consumer");

    // A new value in the source, so that the next read shows in the consumer's outputs.
    upload_configuration(
        &api,
        &network,
        &[("main.tf", "output \"vpc\" {\n  value = \"vpc-456\"\n}\n")],
        false,
    );
    assert_eq!(run(&api, &network).1, "applied");
    set_global(&api, &network, true);
    let (id, status) = run(&api, &app);
    assert_eq!(status, "applied", "{}", phase_log(&api, &id, "plan"));
    assert_eq!(app_vpc(), "vpc-456");

    // Shared with its project instead (exclusive with the organization): runs of the
    // project's workspaces read it, those of another project do not.
    let sharing = |attributes: Value| {
        api.patch(
            &format!("workspaces/{network}"),
            &json!({"data": {"type": "workspaces", "attributes": attributes}}),
        )
    };
    sharing(json!({"global-remote-state": true, "project-remote-state": true})).expect_error(
        422,
        "Project remote state cannot be enabled when global remote state sharing is enabled",
    );
    let shown = sharing(json!({"global-remote-state": false, "project-remote-state": true})).ok();
    assert_eq!(shown.attr("project-remote-state"), true);
    assert!(consumers(&api, &network).contains(&app));
    // The same outputs as before: read, and nothing to change.
    let (id, status) = run(&api, &app);
    assert_eq!(
        status,
        "planned_and_finished",
        "{}",
        phase_log(&api, &id, "plan")
    );
    let other_project = api
        .post(
            &format!("organizations/{ORG}/projects"),
            &json!({"data": {"type": "projects", "attributes": {"name": "other"}}}),
        )
        .expect(201)
        .id();
    let stranger = create_workspace(&api, ORG, "stranger", Some(&other_project));
    upload_configuration(
        &api,
        &stranger,
        &[("main.tf", &reader_config(&server.hostname, ORG))],
        false,
    );
    let (id, status) = run(&api, &stranger);
    let log = phase_log(&api, &id, "plan");
    assert_eq!(status, "errored", "{log}");
    assert!(log.contains(DENIAL), "{log}");
    assert!(!consumers(&api, &network).contains(&stranger));

    // Another organization's run never reads it, shared with its organization or not.
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "elsewhere", "email": "e@example.com"}}}),
    )
    .expect(201);
    let outsider = create_workspace(&api, "elsewhere", "outsider", None);
    upload_configuration(
        &api,
        &outsider,
        &[("main.tf", &reader_config(&server.hostname, ORG))],
        false,
    );
    let (id, status) = run(&api, &outsider);
    let log = phase_log(&api, &id, "plan");
    assert_eq!(status, "errored", "{log}");
    assert!(!log.contains("vpc-123"), "{log}");
    // Users' own tokens keep their permissions: the administrator still reads it.
    api.get(&format!("workspaces/{network}/current-state-version"))
        .ok();
});
