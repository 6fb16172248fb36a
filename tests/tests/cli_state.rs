//! The terraform CLI keeping state in Terrace through a `cloud {}` block with local execution
//! (the organization's default execution mode set to `local`): every flow a user runs, on
//! SQLite and on PostgreSQL. Remote execution has its own tests (cli_runs.rs).

use serde_json::{json, Value};
use terrace_tests::{each_client, Api, Client, Db, Server, Terraform};

const CONFIG: &str = r#"
variable "greeting" {
  default = "hello"
}
resource "terraform_data" "example" {
  input = var.greeting
}
output "greeting" {
  value = terraform_data.example.output
}
output "secret" {
  value     = "s3cr3t"
  sensitive = true
}
"#;

fn cloud_block(server: &Server, workspaces: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      {workspaces}\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

/// A CLI in a directory with the configuration and a cloud block for `workspaces`.
fn cli(client: &Client, server: &Server, token: &str, workspaces: &str) -> Terraform {
    let tf = Terraform::with_client(client.clone(), server, token);
    tf.write(
        "main.tf",
        &format!("{}{CONFIG}", cloud_block(server, workspaces)),
    );
    tf
}

/// Interactive `terraform init` answering the workspace-name prompt.
fn init_with_name(tf: &Terraform, name: &str) {
    let output = tf.run_with_input(&["init"], &format!("{name}\n"));
    let (stdout, stderr) = terrace_tests::texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
}

/// A server whose default organization executes runs locally: terraform runs on the user's
/// machine and keeps only its state here.
fn local_execution_server(db: Db) -> Server {
    local_execution(Server::start(db))
}

fn local_execution(server: Server) -> Server {
    server
        .api(&server.admin_token())
        .patch(
            "organizations/default",
            &json!({"data": {"type": "organizations",
                "attributes": {"default-execution-mode": "local"}}}),
        )
        .ok();
    server
}

/// An API client with `token`, which the test's CLI uses too: it waits out the 429s the
/// CLI's burst may leave it, as the CLI itself does.
fn api(server: &Server, token: &str) -> Api {
    server.api(token).patient()
}

fn workspace(server: &Server, token: &str, name: &str) -> Value {
    api(server, token)
        .get(&format!("organizations/default/workspaces/{name}"))
        .ok()
        .body
}

each_client!(apply_plan_output_state_and_destroy, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = cli(&client, &server, &token, "name = \"app-prod\"");

    let init = tf.ok(&["init", "-input=false"]);
    assert!(init.contains("successfully initialized"), "{init}");
    let ws = workspace(&server, &token, "app-prod");
    assert_eq!(
        ws["data"]["attributes"]["terraform-version"], client.version,
        "init pins the CLI's version"
    );

    let apply = tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(apply.contains("1 added, 0 changed, 0 destroyed"), "{apply}");
    let ws = workspace(&server, &token, "app-prod");
    assert_eq!(ws["data"]["attributes"]["resource-count"], 1);
    assert_eq!(
        ws["data"]["attributes"]["locked"], false,
        "the CLI unlocked after writing state"
    );

    // A second plan sees the stored state: nothing to do.
    let plan = tf.run(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "no changes expected: {}",
        String::from_utf8_lossy(&plan.stdout)
    );

    // Outputs, including the sensitive one by explicit request.
    let outputs = tf.ok(&["output"]);
    assert!(
        outputs.contains("greeting = \"hello\"") && outputs.contains("secret = <sensitive>"),
        "{outputs}"
    );
    assert_eq!(tf.ok(&["output", "-raw", "secret"]), "s3cr3t");
    let json: Value = serde_json::from_str(&tf.ok(&["output", "-json"])).unwrap();
    assert_eq!(json["greeting"]["value"], "hello");
    assert_eq!(json["secret"]["value"], "s3cr3t");
    assert_eq!(json["secret"]["sensitive"], true);

    // The API never shows the sensitive value in listings.
    let ws_id = ws["data"]["id"].as_str().unwrap();
    let listed = api(&server, &token)
        .get(&format!("workspaces/{ws_id}/current-state-version-outputs"))
        .ok();
    let secret = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["attributes"]["name"] == "secret")
        .unwrap();
    assert_eq!(secret["attributes"]["value"], Value::Null);
    assert!(!listed.text.contains("s3cr3t"));

    // state list / pull / push.
    assert_eq!(tf.ok(&["state", "list"]).trim(), "terraform_data.example");
    let pulled: Value = serde_json::from_str(&tf.ok(&["state", "pull"])).unwrap();
    let serial = pulled["serial"].as_i64().unwrap();
    assert_eq!(pulled["resources"][0]["type"], "terraform_data");
    // Push the same state back with a higher serial: accepted and current.
    let mut pushed = pulled.clone();
    pushed["serial"] = json!(serial + 5);
    tf.write(
        "pushed.tfstate",
        &serde_json::to_string_pretty(&pushed).unwrap(),
    );
    tf.ok(&["state", "push", "pushed.tfstate"]);
    let pulled: Value = serde_json::from_str(&tf.ok(&["state", "pull"])).unwrap();
    let pushed_serial = pulled["serial"].as_i64().unwrap();
    assert!(
        pushed_serial >= serial + 5,
        "the pushed state is current ({pushed_serial})"
    );
    // Pushing an older serial is refused by the server.
    let mut stale = pushed.clone();
    stale["serial"] = json!(serial + 1);
    tf.write(
        "stale.tfstate",
        &serde_json::to_string_pretty(&stale).unwrap(),
    );
    let refused = tf.fails(&["state", "push", "stale.tfstate"]);
    assert!(refused.to_lowercase().contains("serial"), "{refused}");
    assert_eq!(
        serde_json::from_str::<Value>(&tf.ok(&["state", "pull"])).unwrap()["serial"],
        pushed_serial
    );

    // A changed variable updates the resource; then destroy empties the state.
    let apply = tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=changed",
    ]);
    assert!(
        apply.contains("1 added, 0 changed, 1 destroyed") || apply.contains("0 added, 1 changed"),
        "{apply}"
    );
    assert!(tf.ok(&["output"]).contains("greeting = \"changed\""));
    let destroy = tf.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(destroy.contains("1 destroyed"), "{destroy}");
    assert_eq!(tf.ok(&["state", "list"]).trim(), "");
    assert_eq!(
        workspace(&server, &token, "app-prod")["data"]["attributes"]["resource-count"],
        0
    );

    // Every write produced a state version; the list shows them newest first.
    let versions = api(&server, &token)
        .get(&format!("workspaces/{ws_id}/state-versions?page[size]=100"))
        .ok();
    let serials: Vec<i64> = versions.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["attributes"]["serial"].as_i64().unwrap())
        .collect();
    assert!(serials.len() >= 4, "{serials:?}");
    assert!(
        serials.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {serials:?}"
    );
});

// CLI commands in quick succession use up their token's burst (each process starts with a
// full allowance of its own); the next command must wait out the 429s, not fail on them.
each_client!(
    a_command_after_the_tokens_burst_is_used_up_still_runs,
    |db, client| {
        let server = local_execution(
            Server::builder(db)
                .args(&["--rate-limit", "10", "--rate-limit-burst", "20"])
                .start(),
        );
        let token = server.admin_token();
        let tf = cli(&client, &server, &token, "name = \"app-prod\"");
        tf.ok(&["init", "-input=false"]);
        tf.ok(&["apply", "-auto-approve", "-input=false"]);

        let api = server.api(&token);
        let used_up = (0..200).any(|_| api.get("account/details").status == 429);
        assert!(used_up, "the token's burst was used up");
        assert_eq!(
            tf.ok(&["state", "list"]).trim(),
            "terraform_data.example",
            "the CLI waited for its token"
        );
    }
);

each_client!(force_unlock_releases_a_stuck_lock, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = cli(&client, &server, &token, "name = \"locked\"");
    tf.ok(&["init", "-input=false"]);
    let id = workspace(&server, &token, "locked")["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A lock taken through the API (as by a crashed client) blocks the CLI.
    let api = api(&server, &token);
    api.post(
        &format!("workspaces/{id}/actions/lock"),
        &json!({"reason": "maintenance"}),
    )
    .ok();
    let blocked = tf.fails(&["apply", "-auto-approve", "-input=false", "-lock-timeout=0s"]);
    assert!(blocked.contains("locked"), "{blocked}");

    let unlocked = tf.ok(&["force-unlock", "-force", "default/locked"]);
    assert!(unlocked.contains("successfully unlocked"), "{unlocked}");
    assert_eq!(
        workspace(&server, &token, "locked")["data"]["attributes"]["locked"],
        false
    );
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
});

each_client!(workspace_commands_with_tags, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    // Clients before the cloud block's `project` (terraform 1.5) create workspaces in the
    // organization's default project.
    let (workspaces, project_name) = if client.cloud_block_projects() {
        (
            "tags = [\"app\", \"team-x\"]\n      project = \"Platform\"",
            "Platform",
        )
    } else {
        ("tags = [\"app\", \"team-x\"]", "Default Project")
    };
    let tf = cli(&client, &server, &token, workspaces);

    // No workspace carries the tags yet: without input init gives up, with input it asks
    // for a name and creates the workspace.
    let none = tf.fails(&["init", "-input=false"]);
    assert!(none.contains("No existing workspaces"), "{none}");
    init_with_name(&tf, "dev");
    tf.ok(&["workspace", "new", "staging"]);
    let list = tf.ok(&["workspace", "list"]);
    assert!(list.contains("dev") && list.contains("* staging"), "{list}");

    // Both workspaces were created in the project, with the tags as names and bindings.
    let dev = workspace(&server, &token, "dev");
    assert_eq!(
        dev["data"]["attributes"]["tag-names"],
        json!(["app", "team-x"])
    );
    let project = dev["data"]["relationships"]["project"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let api = api(&server, &token);
    assert_eq!(
        api.get(&format!("projects/{project}")).ok().attr("name"),
        project_name
    );

    tf.ok(&["workspace", "select", "dev"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(tf.ok(&["workspace", "show"]).contains("dev"));

    // staging is empty: the CLI deletes it (through safe-delete).
    tf.ok(&["workspace", "delete", "staging"]);
    api.get("organizations/default/workspaces/staging")
        .expect(404);
    let list = tf.ok(&["workspace", "list"]);
    assert!(list.contains("dev") && !list.contains("staging"), "{list}");

    // dev manages a resource: deleting it needs -force, and the server refuses a safe delete.
    tf.ok(&["workspace", "new", "other"]);
    let refused = tf.fails(&["workspace", "delete", "dev"]);
    assert!(refused.contains("Workspace is not empty"), "{refused}");
    let dev_id = dev["data"]["id"].as_str().unwrap();
    api.post(
        &format!("workspaces/{dev_id}/actions/safe-delete"),
        &json!({}),
    )
    .expect_error(409, "still managing");
});

each_client!(key_value_tags_select_workspaces, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = cli(
        &client,
        &server,
        &token,
        "tags = { env = \"prod\", app = \"web\" }",
    );
    if !client.cloud_block_key_value_tags() {
        // The client itself refuses the map (terraform before 1.10, OpenTofu 1.12): nothing
        // reaches the server.
        let refused = tf.fails(&["init", "-input=false"]);
        assert!(
            refused.contains("Incorrect attribute value type"),
            "{refused}"
        );
        let listed = api(&server, &token)
            .get("organizations/default/workspaces")
            .ok();
        assert_eq!(listed.body["data"], json!([]), "{}", listed.text);
        return;
    }
    init_with_name(&tf, "web-prod");
    let ws = workspace(&server, &token, "web-prod");
    let id = ws["data"]["id"].as_str().unwrap();
    let bindings = api(&server, &token)
        .get(&format!("workspaces/{id}/tag-bindings"))
        .ok();
    let mut pairs: Vec<(String, String)> = bindings.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["attributes"]["key"].as_str().unwrap().into(),
                b["attributes"]["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![("app".into(), "web".into()), ("env".into(), "prod".into())]
    );

    // A workspace with other values does not match the filter.
    let api = api(&server, &token);
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": "web-dev"},
            "relationships": {"tag-bindings": {"data": [
                {"type": "tag-bindings", "attributes": {"key": "env", "value": "dev"}},
                {"type": "tag-bindings", "attributes": {"key": "app", "value": "web"}}]}}}}),
    )
    .expect(201);
    let list = tf.ok(&["workspace", "list"]);
    assert!(
        list.contains("web-prod") && !list.contains("web-dev"),
        "{list}"
    );
    tf.ok(&["init", "-input=false"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
});

each_client!(init_migrates_local_state, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = Terraform::with_client(client.clone(), &server, &token);
    // First a purely local project with state in terraform.tfstate.
    tf.write("main.tf", CONFIG);
    tf.ok(&["init", "-input=false"]);
    tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=migrated",
    ]);
    let local: Value = serde_json::from_str(&tf.read("terraform.tfstate")).unwrap();

    // Then the cloud block: init copies the state to the new workspace.
    tf.write(
        "main.tf",
        &format!("{}{CONFIG}", cloud_block(&server, "name = \"migrated\"")),
    );
    let output = tf.run_with_input(&["init"], "yes\n");
    let (stdout, stderr) = terrace_tests::texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let remote: Value = serde_json::from_str(&tf.ok(&["state", "pull"])).unwrap();
    // Terraform gives migrated state a new lineage; what it manages is the same.
    assert_eq!(remote["resources"], local["resources"]);
    assert_eq!(remote["outputs"], local["outputs"]);
    assert!(tf.ok(&["output", "greeting"]).contains("migrated"));
    let plan = tf.run(&[
        "plan",
        "-input=false",
        "-detailed-exitcode",
        "-var",
        "greeting=migrated",
    ]);
    assert_eq!(plan.status.code(), Some(0), "the migrated state is in use");
});

each_client!(remote_state_reads_another_workspace, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let network = cli(&client, &server, &token, "name = \"network\"");
    network.ok(&["init", "-input=false"]);
    network.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=vpc-123",
    ]);

    let app = Terraform::with_client(client.clone(), &server, &token);
    app.write(
        "main.tf",
        &format!(
            "{}\ndata \"terraform_remote_state\" \"network\" {{\n  backend = \"remote\"\n  config = {{\n    hostname     = \"{}\"\n    organization = \"default\"\n    workspaces = {{ name = \"network\" }}\n  }}\n}}\noutput \"vpc\" {{\n  value = data.terraform_remote_state.network.outputs.greeting\n}}\noutput \"secret_from_network\" {{\n  value     = data.terraform_remote_state.network.outputs.secret\n  sensitive = true\n}}\n",
            cloud_block(&server, "name = \"app\""),
            server.hostname
        ),
    );
    app.ok(&["init", "-input=false"]);
    app.ok(&["apply", "-auto-approve", "-input=false"]);
    assert_eq!(app.ok(&["output", "-raw", "vpc"]), "vpc-123");
    assert_eq!(app.ok(&["output", "-raw", "secret_from_network"]), "s3cr3t");
});

each_client!(import_and_state_rm_write_state, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = cli(&client, &server, &token, "name = \"imports\"");
    tf.write(
        "imported.tf",
        "resource \"terraform_data\" \"adopted\" {}\n",
    );
    tf.ok(&["init", "-input=false"]);
    let imported = tf.ok(&[
        "import",
        "-input=false",
        "terraform_data.adopted",
        "11111111-2222-3333-4444-555555555555",
    ]);
    assert!(imported.contains("Import successful"), "{imported}");
    let state: Value = serde_json::from_str(&tf.ok(&["state", "pull"])).unwrap();
    assert_eq!(
        state["resources"][0]["instances"][0]["attributes"]["id"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(
        workspace(&server, &token, "imports")["data"]["attributes"]["resource-count"],
        1
    );

    tf.ok(&["state", "rm", "terraform_data.adopted"]);
    assert_eq!(tf.ok(&["state", "list"]).trim(), "");
    assert_eq!(
        workspace(&server, &token, "imports")["data"]["attributes"]["resource-count"],
        0
    );
});

// The workspace's resources follow the state the CLI writes: one per managed instance, with
// `count` and `for_each` keys and module paths as HCP Terraform writes them (`m.type.name`
// for `module.m.type.name`), data sources left out, a destroyed instance gone.
each_client!(workspace_resources_follow_the_state, |db, client| {
    let server = local_execution_server(db);
    let token = server.admin_token();
    let tf = cli(&client, &server, &token, "name = \"inventory\"");
    tf.write(
        "more.tf",
        "resource \"terraform_data\" \"n\" {\n  count = var.n\n}\n\
         resource \"terraform_data\" \"k\" {\n  for_each = toset([\"a\", \"b\"])\n}\n\
         variable \"n\" {\n  default = 2\n}\n\
         data \"terraform_remote_state\" \"none\" {\n  backend = \"local\"\n  defaults = {}\n  config = { path = \"none.tfstate\" }\n}\n\
         module \"m\" {\n  source = \"./m\"\n}\n",
    );
    tf.write("m/main.tf", "resource \"terraform_data\" \"x\" {}\n");
    tf.write(
        "none.tfstate",
        "{\"version\":4,\"serial\":1,\"lineage\":\"x\",\"outputs\":{},\"resources\":[]}",
    );
    tf.ok(&["init", "-input=false"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    let ws_id = workspace(&server, &token, "inventory")["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let api = api(&server, &token);
    let addresses = |page: &str| -> Vec<String> {
        let listed = api.get(&format!("workspaces/{ws_id}/resources{page}")).ok();
        listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["attributes"]["address"].as_str().unwrap().to_string())
            .collect()
    };
    let mut expected: Vec<String> = tf
        .ok(&["state", "list"])
        .lines()
        .filter(|l| !l.starts_with("data."))
        .map(|l| l.trim().trim_start_matches("module.").to_string())
        .collect();
    expected.sort();
    let mut listed = addresses("");
    listed.sort();
    assert_eq!(listed, expected);
    assert!(
        listed.contains(&"terraform_data.k[\"a\"]".to_string()),
        "{listed:?}"
    );
    assert!(
        listed.contains(&"m.terraform_data.x".to_string()),
        "{listed:?}"
    );
    let one = api
        .get(&format!(
            "workspaces/{ws_id}/resources?page[size]=2&page[number]=3"
        ))
        .ok();
    // `terraform_data.example` of the shared configuration, and the five above.
    assert_eq!(one.body["meta"]["pagination"]["total-count"], 6);
    assert_eq!(one.body["data"].as_array().unwrap().len(), 2);
    let n0 = &api.get(&format!("workspaces/{ws_id}/resources")).ok().body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["attributes"]["address"] == "terraform_data.n[0]")
        .unwrap()
        .clone();
    assert_eq!(n0["attributes"]["name-index"], "0");
    assert_eq!(n0["attributes"]["module"], "root");
    assert_eq!(n0["attributes"]["name"], "n");
    // The state version's document lists the same blocks (one per resource, with its count),
    // read and listed alike.
    let current = api
        .get(&format!("workspaces/{ws_id}/current-state-version"))
        .ok();
    let listed = api.get(&format!("workspaces/{ws_id}/state-versions")).ok();
    for version in [&current.body["data"], &listed.body["data"][0]] {
        let attributes = &version["attributes"];
        assert_eq!(attributes["resources-processed"], true, "{version}");
        let blocks = attributes["resources"].as_array().unwrap();
        let n = blocks.iter().find(|b| b["name"] == "n").unwrap();
        assert_eq!(
            (&n["type"], &n["count"]),
            (&json!("terraform_data"), &json!(2))
        );
        assert!(
            blocks.iter().any(|b| b["name"] == "x" && b["count"] == 1),
            "{blocks:?}"
        );
    }

    tf.ok(&["apply", "-auto-approve", "-input=false", "-var", "n=1"]);
    let mut after = addresses("");
    after.sort();
    assert!(
        !after.contains(&"terraform_data.n[1]".to_string()),
        "{after:?}"
    );
    assert_eq!(after.len(), 5);
    // Each version of the list shows its own blocks (read for the whole page at once): the
    // newest one `n` once, the oldest twice.
    let listed = api.get(&format!("workspaces/{ws_id}/state-versions")).ok();
    let counts: Vec<Value> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|version| {
            let blocks = version["attributes"]["resources"].as_array().unwrap();
            blocks.iter().find(|b| b["name"] == "n").unwrap()["count"].clone()
        })
        .collect();
    assert_eq!(
        (counts.first(), counts.last()),
        (Some(&json!(1)), Some(&json!(2))),
        "{counts:?}"
    );
});
