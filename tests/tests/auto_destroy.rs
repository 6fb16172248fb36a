//! Auto-destroy, as HCP Terraform has it: a scheduled destroy run that the server queues by
//! itself and applies without confirmation, and inactivity durations that workspaces take from
//! their project. The schedule is proven end to end with the built-in runner and the real
//! terraform; the inactivity deadline's arithmetic is the domain rule's unit tests (its
//! shortest duration is an hour).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Server};

const CONFIG: &str = "resource \"terraform_data\" \"a\" {\n  input = \"a\"\n}\n\
                      resource \"terraform_data\" \"b\" {\n  input = \"b\"\n}\n";
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn create_workspace(api: &Api, attributes: Value, project: Option<&str>) -> Value {
    let mut data = json!({"type": "workspaces", "attributes": attributes});
    if let Some(project) = project {
        data["relationships"] = json!({"project": {"data": {"type": "projects", "id": project}}});
    }
    api.post("organizations/default/workspaces", &json!({ "data": data }))
        .expect(201)
        .body["data"]
        .clone()
}

fn patch_workspace(api: &Api, id: &str, attributes: Value) -> Value {
    api.patch(
        &format!("workspaces/{id}"),
        &json!({"data": {"type": "workspaces", "attributes": attributes}}),
    )
    .ok()
    .body["data"]
        .clone()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a time, not {value}"))
        .parse()
        .unwrap()
}

fn destroy_runs(api: &Api, ws: &str) -> Vec<Value> {
    api.get(&format!("workspaces/{ws}/runs?filter[operation]=destroy"))
        .ok()
        .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

both_databases!(a_scheduled_destroy_empties_the_state_once, |db: Db| {
    let server = Server::builder(db)
        .env("TERRACE_AUTO_DESTROY_CHECK_SECONDS", "1")
        .start();
    let api = server.api(&server.admin_token());
    let ws = create_workspace(&api, json!({"name": "ephemeral"}), None)["id"]
        .as_str()
        .unwrap()
        .to_string();
    upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
    let run = create_run(&api, &ws, None, json!({"auto-apply": true})).id();
    wait_for_run(&api, &run, &["applied"], RUN_TIMEOUT);
    let shown = api.get(&format!("workspaces/{ws}")).ok();
    assert_eq!(shown.attr("resource-count"), 2, "{}", shown.text);

    // A schedule in the future queues nothing.
    let later = Utc::now() + chrono::Duration::hours(2);
    let patched = patch_workspace(&api, &ws, json!({"auto-destroy-at": later.to_rfc3339()}));
    assert_eq!(
        time(&patched["attributes"]["auto-destroy-at"]).timestamp(),
        later.timestamp()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(destroy_runs(&api, &ws), Vec::<Value>::new());

    // A schedule that has come: a destroy run, queued by no one, applied without confirmation.
    let past = Utc::now() - chrono::Duration::seconds(1);
    patch_workspace(&api, &ws, json!({"auto-destroy-at": past.to_rfc3339()}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let destroy = loop {
        if let Some(run) = destroy_runs(&api, &ws).into_iter().next() {
            break run;
        }
        assert!(Instant::now() < deadline, "no destroy run was queued");
        std::thread::sleep(Duration::from_millis(300));
    };
    let id = destroy["id"].as_str().unwrap();
    assert_eq!(destroy["attributes"]["is-destroy"], true, "{destroy}");
    assert_eq!(destroy["attributes"]["auto-apply"], true, "{destroy}");
    assert!(
        destroy["attributes"]["message"]
            .as_str()
            .unwrap()
            .contains("auto-destroy"),
        "{destroy}"
    );
    assert_eq!(
        destroy["relationships"]["created-by"]["data"],
        Value::Null,
        "{destroy}"
    );
    wait_for_run(&api, id, &["applied"], RUN_TIMEOUT);
    let shown = api.get(&format!("workspaces/{ws}")).ok();
    assert_eq!(shown.attr("resource-count"), 0, "{}", shown.text);
    assert_eq!(
        shown.attr("auto-destroy-at"),
        &Value::Null,
        "{}",
        shown.text
    );

    // The workspace stays, and the schedule queued one run only.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(destroy_runs(&api, &ws).len(), 1);
});

both_databases!(
    workspaces_take_their_projects_inactivity_duration,
    |db: Db| {
        let server = Server::start(db);
        let api = server.api(&server.admin_token());
        let project = api
            .post(
                "organizations/default/projects",
                &json!({"data": {"type": "projects", "attributes": {
                "name": "sandboxes", "auto-destroy-activity-duration": "3d"}}}),
            )
            .expect(201);
        assert_eq!(project.attr("auto-destroy-activity-duration"), "3d");
        let project = project.id();

        // A new workspace inherits: the deadline is 3 days after its creation (it has no state).
        let inheriting = create_workspace(&api, json!({"name": "inheriting"}), Some(&project));
        let attributes = &inheriting["attributes"];
        assert_eq!(attributes["inherits-project-auto-destroy"], true);
        assert_eq!(attributes["auto-destroy-activity-duration"], "3d");
        assert_eq!(
            time(&attributes["auto-destroy-at"]) - time(&attributes["created-at"]),
            chrono::Duration::days(3)
        );
        let id = inheriting["id"].as_str().unwrap();

        // The project's change reaches it; removing the project's removes the deadline.
        let set_project = |duration: Value| {
            api.patch(
                &format!("projects/{project}"),
                &json!({"data": {"type": "projects", "attributes": {
                "auto-destroy-activity-duration": duration}}}),
            )
            .ok();
        };
        set_project(json!("12h"));
        let shown = api.get(&format!("workspaces/{id}")).ok();
        assert_eq!(shown.attr("auto-destroy-activity-duration"), "12h");
        set_project(Value::Null);
        let shown = api.get(&format!("workspaces/{id}")).ok();
        assert_eq!(shown.attr("auto-destroy-activity-duration"), &Value::Null);
        assert_eq!(shown.attr("auto-destroy-at"), &Value::Null);
        set_project(json!("3d"));

        // Its own duration overrides the project's; null then removes it (still not inheriting).
        let own = patch_workspace(&api, id, json!({"auto-destroy-activity-duration": "14d"}));
        assert_eq!(own["attributes"]["inherits-project-auto-destroy"], false);
        assert_eq!(own["attributes"]["auto-destroy-activity-duration"], "14d");
        let none = patch_workspace(&api, id, json!({"auto-destroy-activity-duration": null}));
        assert_eq!(
            none["attributes"]["auto-destroy-activity-duration"],
            Value::Null
        );
        assert_eq!(none["attributes"]["auto-destroy-at"], Value::Null);
        let back = patch_workspace(&api, id, json!({"inherits-project-auto-destroy": true}));
        assert_eq!(back["attributes"]["auto-destroy-activity-duration"], "3d");

        // Refused, changing nothing: durations that are not 1-9999 hours or days, and a duration
        // of its own while inheriting.
        for bad in ["0d", "3w", "10000h", "d", "1.5d", ""] {
            api.patch(
                &format!("workspaces/{id}"),
                &json!({"data": {"type": "workspaces", "attributes": {
                "auto-destroy-activity-duration": bad, "inherits-project-auto-destroy": false}}}),
            )
            .expect_error(422, "like 24h or 14d");
            api.patch(
                &format!("projects/{project}"),
                &json!({"data": {"type": "projects", "attributes": {
                "auto-destroy-activity-duration": bad}}}),
            )
            .expect_error(422, "like 24h or 14d");
        }
        api.patch(
            &format!("workspaces/{id}"),
            &json!({"data": {"type": "workspaces", "attributes": {
            "auto-destroy-activity-duration": "2d", "inherits-project-auto-destroy": true}}}),
        )
        .expect_error(422, "inherits-project-auto-destroy to false");
        let shown = api.get(&format!("workspaces/{id}")).ok();
        assert_eq!(shown.attr("auto-destroy-activity-duration"), "3d");
        assert_eq!(shown.attr("inherits-project-auto-destroy"), true);
        let shown = api.get(&format!("projects/{project}")).ok();
        assert_eq!(shown.attr("auto-destroy-activity-duration"), "3d");

        // A workspace with its own setting at creation does not inherit.
        let standalone = create_workspace(
            &api,
            json!({"name": "standalone", "auto-destroy-activity-duration": "2h"}),
            Some(&project),
        );
        assert_eq!(
            standalone["attributes"]["inherits-project-auto-destroy"],
            false
        );
        assert_eq!(
            standalone["attributes"]["auto-destroy-activity-duration"],
            "2h"
        );
    }
);
