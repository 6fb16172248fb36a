//! Remote execution through the real terraform CLI: a `cloud {}` block on a workspace in the
//! default `remote` mode, so plans and applies run on the server's built-in runner and their
//! logs stream back to the terminal. Every flow a user runs, on SQLite and on PostgreSQL.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::runs::{phase_log, start_with_runner_for as start, wait_for_run, SilentSource};
use terrace_tests::{each_client, texts, Api, Client, Db, Server, Terraform};

const CONFIG: &str = r#"
variable "greeting" {
  type    = string
  default = "hello"
}
resource "terraform_data" "a" {
  input = "a-${var.greeting}"
}
resource "terraform_data" "b" {
  input = "b-${var.greeting}"
}
output "greeting" {
  value = terraform_data.a.output
}
"#;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn cloud_block(server: &Server, workspace: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"{workspace}\"\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

/// A server, an admin token, and a CLI in a directory holding `config` for `workspace`,
/// initialised (which creates the workspace, in the default remote execution mode, asking
/// for the client's version).
fn setup(db: Db, client: &Client, workspace: &str, config: &str) -> (Server, Api, Terraform) {
    let server = start(Server::builder(db), client);
    let token = server.admin_token();
    let tf = Terraform::with_client(client.clone(), &server, &token);
    write_config(&tf, &server, workspace, config);
    tf.ok(&["init", "-input=false"]);
    let api = server.api(&token);
    let ws = api
        .get(&format!("organizations/default/workspaces/{workspace}"))
        .ok();
    assert_eq!(ws.attr("execution-mode"), "remote", "{}", ws.text);
    assert_eq!(ws.attr("terraform-version"), client.version.as_str());
    assert_eq!(ws.attr("engine"), client.engine(), "{}", ws.text);
    (server, api, tf)
}

fn write_config(tf: &Terraform, server: &Server, workspace: &str, config: &str) {
    tf.write(
        "main.tf",
        &format!("{}{config}", cloud_block(server, workspace)),
    );
}

fn workspace_id(api: &Api, name: &str) -> String {
    api.get(&format!("organizations/default/workspaces/{name}"))
        .ok()
        .id()
}

/// The workspace's runs of every operation (speculative ones too), newest first.
fn runs(api: &Api, workspace: &str) -> Vec<Value> {
    let id = workspace_id(api, workspace);
    let operations = "plan_only,plan_and_apply,save_plan,refresh_only,destroy,empty_apply";
    api.get(&format!(
        "workspaces/{id}/runs?filter[operation]={operations}"
    ))
    .ok()
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn latest_run(api: &Api, workspace: &str) -> Value {
    runs(api, workspace).into_iter().next().expect("a run")
}

fn status(run: &Value) -> &str {
    run["attributes"]["status"].as_str().unwrap()
}

fn current_state(api: &Api, workspace: &str) -> Value {
    let id = workspace_id(api, workspace);
    let version = api
        .get(&format!("workspaces/{id}/current-state-version"))
        .ok();
    let download = api
        .get(&format!("state-versions/{}/download", version.id()))
        .ok();
    serde_json::from_str(&download.text).expect("the state is JSON")
}

fn resource_inputs(state: &Value) -> Vec<(String, Value)> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                // terraform_data keeps its input as a dynamic value: type and value.
                r["instances"][0]["attributes"]["input"]["value"].clone(),
            )
        })
        .collect()
}

/// Runs terraform with `input` on stdin; returns (success, stdout + stderr).
fn answer(tf: &Terraform, args: &[&str], input: &str) -> (bool, String) {
    let output = tf.run_with_input(args, input);
    let (stdout, stderr) = texts(&output);
    (output.status.success(), format!("{stdout}\n{stderr}"))
}

each_client!(plan_apply_confirm_discard_and_destroy, |db, client| {
    let (_server, api, tf) = setup(db, &client, "app", CONFIG);

    // A plan is a speculative run: it streams its plan and ends planned_and_finished.
    let plan = tf.ok(&["plan", "-input=false"]);
    assert!(
        plan.contains("Plan: 2 to add, 0 to change, 0 to destroy"),
        "{plan}"
    );
    assert!(plan.contains("terraform_data.a will be created"), "{plan}");
    let run = latest_run(&api, "app");
    assert_eq!(status(&run), "planned_and_finished", "{run}");
    assert_eq!(run["attributes"]["has-changes"], true);
    assert_eq!(run["attributes"]["plan-only"], true);

    // Apply answered "no": the run is discarded and nothing is written.
    let (ok, out) = answer(&tf, &["apply", "-input=true"], "no\n");
    assert!(!ok, "a discarded apply fails: {out}");
    assert!(out.contains("Apply discarded"), "{out}");
    let run = latest_run(&api, "app");
    assert_eq!(status(&run), "discarded", "{run}");
    let ws = api.get("organizations/default/workspaces/app").ok();
    assert_eq!(
        ws.attr("locked"),
        false,
        "the discarded run let go of the lock"
    );
    assert_eq!(ws.attr("resource-count"), 0);

    // Apply answered "yes": the runner applies and writes the new state.
    let (ok, out) = answer(&tf, &["apply", "-input=true"], "yes\n");
    assert!(ok, "{out}");
    assert!(
        out.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed"),
        "{out}"
    );
    assert!(out.contains("greeting = \"a-hello\""), "{out}");
    let run = latest_run(&api, "app");
    assert_eq!(status(&run), "applied", "{run}");
    for stamp in [
        "plan-queued-at",
        "planning-at",
        "planned-at",
        "confirmed-at",
        "applying-at",
        "applied-at",
    ] {
        assert!(
            run["attributes"]["status-timestamps"][stamp].is_string(),
            "{stamp} in {}",
            run["attributes"]["status-timestamps"]
        );
    }
    let state = current_state(&api, "app");
    assert_eq!(
        resource_inputs(&state),
        [
            ("a".to_string(), json!("a-hello")),
            ("b".to_string(), json!("b-hello"))
        ]
    );
    let ws = api.get("organizations/default/workspaces/app").ok();
    assert_eq!(ws.attr("resource-count"), 2);
    assert_eq!(ws.attr("locked"), false);
    assert_eq!(tf.ok(&["output", "-raw", "greeting"]), "a-hello");

    // -auto-approve with a CLI variable: no prompt, the change applied.
    let out = tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=bonjour",
    ]);
    assert!(out.contains("2 to change"), "{out}");
    assert!(
        out.contains("Resources: 0 added, 2 changed, 0 destroyed"),
        "{out}"
    );
    assert_eq!(
        resource_inputs(&current_state(&api, "app"))[0].1,
        json!("a-bonjour")
    );
    let run = latest_run(&api, "app");
    assert_eq!(run["attributes"]["auto-apply"], true);

    // Nothing to do: the run ends planned_and_finished without an apply.
    let out = tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=bonjour",
    ]);
    assert!(out.contains("No changes."), "{out}");
    let run = latest_run(&api, "app");
    assert_eq!(status(&run), "planned_and_finished", "{run}");
    assert_eq!(run["attributes"]["has-changes"], false);
    let serial_before = current_state(&api, "app")["serial"].clone();

    // Destroy: an is-destroy run that empties the state.
    let out = tf.ok(&[
        "destroy",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=bonjour",
    ]);
    assert!(out.contains("2 destroyed"), "{out}");
    let run = latest_run(&api, "app");
    assert_eq!(status(&run), "applied", "{run}");
    assert_eq!(run["attributes"]["is-destroy"], true);
    let state = current_state(&api, "app");
    assert_eq!(state["resources"], json!([]));
    assert_ne!(state["serial"], serial_before);
    assert_eq!(
        api.get("organizations/default/workspaces/app")
            .ok()
            .attr("resource-count"),
        0
    );
});

each_client!(refresh_only_target_and_replace, |db, client| {
    let (_server, api, tf) = setup(db, &client, "ops", CONFIG);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    let id_of = |name: &str| {
        current_state(&api, "ops")["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["instances"][0]["attributes"]["id"]
            .clone()
    };
    let (a, b) = (id_of("a"), id_of("b"));

    // -replace: a is recreated (a new id), b is untouched.
    let out = tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-replace=terraform_data.a",
    ]);
    assert!(
        out.contains("Resources: 1 added, 0 changed, 1 destroyed"),
        "{out}"
    );
    assert_eq!(
        latest_run(&api, "ops")["attributes"]["replace-addrs"],
        json!(["terraform_data.a"])
    );
    assert_ne!(id_of("a"), a);
    assert_eq!(id_of("b"), b);

    // -target: only b takes the new greeting.
    let out = tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-target=terraform_data.b",
        "-var",
        "greeting=targeted",
    ]);
    assert!(
        out.contains("Resources: 0 added, 1 changed, 0 destroyed"),
        "{out}"
    );
    assert_eq!(
        latest_run(&api, "ops")["attributes"]["target-addrs"],
        json!(["terraform_data.b"])
    );
    let inputs = resource_inputs(&current_state(&api, "ops"));
    assert_eq!(inputs[0].1, json!("a-hello"));
    assert_eq!(inputs[1].1, json!("b-targeted"));

    // -refresh-only: no resource changes; the run is marked as such and applied.
    let serial = current_state(&api, "ops")["serial"].clone();
    let out = tf.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false"]);
    assert!(
        out.contains("No changes") || out.contains("0 added, 0 changed, 0 destroyed"),
        "{out}"
    );
    let run = latest_run(&api, "ops");
    assert_eq!(run["attributes"]["refresh-only"], true, "{run}");
    assert!(
        ["applied", "planned_and_finished"].contains(&status(&run)),
        "{run}"
    );
    let inputs = resource_inputs(&current_state(&api, "ops"));
    assert_eq!(inputs[1].1, json!("b-targeted"), "refresh changed nothing");
    assert!(current_state(&api, "ops")["serial"].as_i64() >= serial.as_i64());
});

/// A configuration whose local-exec provisioner prints the runner's environment into the
/// apply log, so the test can see exactly what terraform was given.
const VARIABLES_CONFIG: &str = r#"
variable "region" { type = string }
variable "size" { type = number }
variable "tags" { type = map(string) }
variable "api_key" {
  type      = string
  sensitive = true
}
variable "from_set" { type = string }
variable "overridden" { type = string }
resource "terraform_data" "config" {
  input = {
    region     = var.region
    size       = var.size
    team       = var.tags["team"]
    from_set   = var.from_set
    overridden = var.overridden
  }
  provisioner "local-exec" {
    command = "env | sort"
  }
}
# The key only lives in an attribute terraform marks sensitive (terraform_data's `output`
# would mirror an `input` unmarked in terraform's own plan JSON).
resource "terraform_data" "secret" {
  triggers_replace = var.api_key
}
output "config" { value = terraform_data.config.output }
output "key_length" { value = nonsensitive(length(var.api_key)) }
"#;

const API_KEY: &str = "sk-live-0f9e8d7c6b5a4f3e2d1c";

each_client!(
    variables_reach_the_run_and_secrets_stay_hidden,
    |db, client| {
        let env = ("SERVER_ONLY_SECRET", "server-env-must-not-reach-runs");
        let server = start(Server::builder(db).env(env.0, env.1), &client);
        let token = server.admin_token();
        let api = server.api(&token);
        let tf = Terraform::with_client(client.clone(), &server, &token);
        write_config(&tf, &server, "vars", VARIABLES_CONFIG);
        tf.ok(&["init", "-input=false"]);
        let ws = workspace_id(&api, "vars");
        let var = |key: &str, value: &str, category: &str, hcl: bool, sensitive: bool| {
            api.post(
                &format!("workspaces/{ws}/vars"),
                &json!({"data": {"type": "vars", "attributes": {"key": key, "value": value,
            "category": category, "hcl": hcl, "sensitive": sensitive}}}),
            )
            .expect(201)
        };
        var("region", "eu-west-1", "terraform", false, false);
        var("size", "3", "terraform", true, false);
        var("tags", "{ team = \"platform\" }", "terraform", true, false);
        let secret = var("api_key", API_KEY, "terraform", false, true);
        assert_eq!(
            secret.attr("value"),
            &Value::Null,
            "write-only: {}",
            secret.text
        );
        var("overridden", "from-workspace", "terraform", false, false);
        var("DEPLOY_STAGE", "canary", "env", false, false);
        // A global set supplies from_set and loses overridden to the workspace's own variable.
        let set = api
    .post(
        "organizations/default/varsets",
        &json!({"data": {"type": "varsets", "attributes": {"name": "defaults", "global": true}}}),
    )
    .expect(201)
    .id();
        for (key, value) in [("from_set", "set-value"), ("overridden", "from-set")] {
            api.post(
        &format!("varsets/{set}/relationships/vars"),
        &json!({"data": {"type": "vars", "attributes": {"key": key, "value": value, "category": "terraform"}}}),
    )
    .expect(201);
        }

        let out = tf.ok(&["apply", "-auto-approve", "-input=false"]);
        let state = current_state(&api, "vars");
        let config = &state["outputs"]["config"]["value"];
        assert_eq!(
            config,
            &json!({"region": "eu-west-1", "size": 3, "team": "platform",
        "from_set": "set-value", "overridden": "from-workspace"}),
            "{out}"
        );
        assert_eq!(state["outputs"]["key_length"]["value"], API_KEY.len());

        // The runner's environment, as the provisioner printed it: the workspace's env variable,
        // and nothing of the server's own environment.
        let run = latest_run(&api, "vars");
        let run_id = run["id"].as_str().unwrap();
        let apply_log = phase_log(&api, run_id, "apply");
        assert!(apply_log.contains("DEPLOY_STAGE=canary"), "{apply_log}");
        for leak in [
            "SERVER_ONLY_SECRET",
            "server-env-must-not-reach-runs",
            "TERRACE_",
            "DATABASE_URL",
        ] {
            assert!(
                !apply_log.contains(leak),
                "the runner's environment contains {leak}: {apply_log}"
            );
        }
        assert!(
            !apply_log.contains(&token),
            "the user's token reached the runner"
        );

        // A CLI -var wins over the workspace's variable, as a run variable.
        let out = tf.ok(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-var",
            "region=us-east-2",
        ]);
        assert_eq!(
            current_state(&api, "vars")["outputs"]["config"]["value"]["region"],
            "us-east-2",
            "{out}"
        );

        // A priority set beats even that.
        let priority = api
    .post(
        "organizations/default/varsets",
        &json!({"data": {"type": "varsets", "attributes": {"name": "enforced", "priority": true},
            "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": ws}]}}}}),
    )
    .expect(201)
    .id();
        api.post(
    &format!("varsets/{priority}/relationships/vars"),
    &json!({"data": {"type": "vars", "attributes": {"key": "region", "value": "eu-central-1", "category": "terraform"}}}),
)
.expect(201);
        tf.ok(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-var",
            "region=us-east-2",
        ]);
        assert_eq!(
            current_state(&api, "vars")["outputs"]["config"]["value"]["region"],
            "eu-central-1"
        );

        // The sensitive value never shows: not in the CLI's output, the logs, the plan JSON a
        // reader gets, or any API answer about the run or the variables.
        let mut seen = vec![("CLI output".to_string(), out)];
        for run in runs(&api, "vars") {
            let id = run["id"].as_str().unwrap();
            seen.push((format!("plan log of {id}"), phase_log(&api, id, "plan")));
            seen.push((format!("apply log of {id}"), phase_log(&api, id, "apply")));
            seen.push((
                format!("run {id}"),
                api.get(&format!(
                    "runs/{id}?include=plan,apply,workspace,configuration_version"
                ))
                .text,
            ));
            let plan = run["relationships"]["plan"]["data"]["id"].as_str().unwrap();
            seen.push((
                format!("redacted plan of {id}"),
                api.get(&format!("plans/{plan}/json-output-redacted")).text,
            ));
            seen.push((
                format!("events of {id}"),
                api.get(&format!("runs/{id}/run-events")).text,
            ));
        }
        seen.push((
            "variables".into(),
            api.get(&format!("workspaces/{ws}/vars")).text,
        ));
        seen.push((
            "workspace".into(),
            api.get(&format!("workspaces/{ws}")).text,
        ));
        for (what, text) in &seen {
            assert!(
                !text.contains(API_KEY),
                "{what} shows the sensitive value: {text}"
            );
        }
    }
);

each_client!(saved_plans_show_and_apply, |db, client| {
    let (_server, api, tf) = setup(db, &client, "saved", CONFIG);
    if !client.cloud_saved_plans() {
        // terraform before 1.6 refuses by itself, before any run exists.
        let out = tf.fails(&["plan", "-input=false", "-out=release.tfplan"]);
        assert!(
            out.contains("Saving a generated plan is currently not supported"),
            "{out}"
        );
        assert!(runs(&api, "saved").is_empty());
        return;
    }
    let out = tf.ok(&["plan", "-input=false", "-out=release.tfplan"]);
    assert!(out.contains("Plan: 2 to add"), "{out}");
    let file: Value = serde_json::from_str(&tf.read("release.tfplan")).expect("a cloud plan file");
    let run_id = file["run_id"].as_str().unwrap().to_string();
    let run = api.get(&format!("runs/{run_id}")).ok();
    assert_eq!(run.attr("status"), "planned_and_saved", "{}", run.text);
    assert_eq!(run.attr("save-plan"), true);
    assert_eq!(
        run.body["data"]["attributes"]["actions"]["is-confirmable"],
        true
    );

    let shown = tf.ok(&["show", "release.tfplan"]);
    assert!(
        shown.contains("terraform_data.b will be created"),
        "{shown}"
    );
    let shown: Value = serde_json::from_str(&tf.ok(&["show", "-json", "release.tfplan"])).unwrap();
    assert_eq!(shown["resource_changes"].as_array().unwrap().len(), 2);

    let out = tf.ok(&["apply", "-input=false", "release.tfplan"]);
    assert!(out.contains("Resources: 2 added"), "{out}");
    assert_eq!(
        api.get(&format!("runs/{run_id}")).ok().attr("status"),
        "applied"
    );
    assert_eq!(resource_inputs(&current_state(&api, "saved")).len(), 2);

    // A saved plan that the state moved past is stale: applying it is refused.
    tf.ok(&[
        "plan",
        "-input=false",
        "-out=stale.tfplan",
        "-var",
        "greeting=later",
    ]);
    tf.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "greeting=sooner",
    ]);
    let out = tf.fails(&["apply", "-input=false", "stale.tfplan"]);
    assert!(
        out.contains("discarded") || out.contains("not confirmable") || out.contains("stale"),
        "{out}"
    );
    assert_eq!(
        resource_inputs(&current_state(&api, "saved"))[0].1,
        json!("a-sooner")
    );
});

each_client!(a_failing_configuration_shows_its_error, |db, client| {
    let config = r#"
variable "word" {
  default = "x"
}
resource "terraform_data" "checked" {
  input = var.word
  lifecycle {
    precondition {
      condition     = length(var.word) > 5
      error_message = "The checked resource needs a longer input (Terrace test)."
    }
  }
}
"#;
    let (server, api, tf) = setup(db, &client, "broken", config);
    let out = tf.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        out.contains("The checked resource needs a longer input (Terrace test)."),
        "{out}"
    );
    let run = latest_run(&api, "broken");
    assert_eq!(status(&run), "errored", "{run}");
    let ws = api.get("organizations/default/workspaces/broken").ok();
    assert_eq!(
        ws.attr("locked"),
        false,
        "the errored run let go of the lock"
    );

    // A syntax error too, and the workspace takes the next run as usual.
    write_config(
        &tf,
        &server,
        "broken",
        "resource \"terraform_data\" \"x\" {\n  input = nope(\n}\n",
    );
    let out = tf.fails(&["plan", "-input=false"]);
    assert!(out.contains("Error") && out.contains("main.tf"), "{out}");
    write_config(&tf, &server, "broken", CONFIG);
    let out = tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(out.contains("Resources: 2 added"), "{out}");
});

// `terraform plan` only stops streaming on Ctrl-C ("will not stop the plan running
// remotely"); `apply` asks the server to cancel the run, which is what this covers.
each_client!(ctrl_c_cancels_a_long_plan, |db, client| {
    let silent = SilentSource::new();
    let config = silent.configuration();
    let (server, api, tf) = setup(db, &client, "slow", &config);
    let child = tf
        .command(&["apply", "-auto-approve", "-input=false"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The runner's terraform is reading the data source: its connection arrived.
    let _held = silent.accept();
    let run = latest_run(&api, "slow");
    assert_eq!(status(&run), "planning", "{run}");
    let run_id = run["id"].as_str().unwrap().to_string();

    let interrupted = Instant::now();
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = texts(&output);
    assert!(
        stdout.contains("The remote operation was successfully cancelled."),
        "{stdout}\n{stderr}"
    );

    let run = wait_for_run(&api, &run_id, &["canceled"], RUN_TIMEOUT);
    assert!(
        run.body["data"]["attributes"]["status-timestamps"]["canceled-at"].is_string(),
        "{}",
        run.text
    );
    let plan = api.get(&format!("runs/{run_id}/plan")).ok();
    assert_eq!(plan.attr("status"), "canceled", "{}", plan.text);
    assert!(
        interrupted.elapsed() < Duration::from_secs(60),
        "the cancel took {:?}",
        interrupted.elapsed()
    );
    let ws = api.get("organizations/default/workspaces/slow").ok();
    assert_eq!(
        ws.attr("locked"),
        false,
        "the canceled run let go of the lock"
    );

    // The queue is not stuck: the next run plans.
    drop(silent);
    write_config(&tf, &server, "slow", CONFIG);
    let out = tf.ok(&["plan", "-input=false"]);
    assert!(out.contains("Plan: 2 to add"), "{out}");
});

each_client!(two_runs_on_one_workspace_execute_in_order, |db, client| {
    let (server, api, first) = setup(db, &client, "queue", CONFIG);
    let token = server.admin_token();
    let second = Terraform::with_client(client.clone(), &server, &token);
    write_config(&second, &server, "queue", CONFIG);
    second.ok(&["init", "-input=false"]);

    let start = |tf: &Terraform, greeting: &str| {
        tf.command(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-var",
            &format!("greeting={greeting}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let one = start(&first, "first");
    // The second starts once the first run exists, so their order is known.
    let deadline = Instant::now() + RUN_TIMEOUT;
    while runs(&api, "queue").is_empty() {
        assert!(Instant::now() < deadline, "the first run never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let two = start(&second, "second");
    for (name, child) in [("first", one), ("second", two)] {
        let output = child.wait_with_output().unwrap();
        let (stdout, stderr) = texts(&output);
        assert!(output.status.success(), "{name}: {stdout}\n{stderr}");
        assert!(stdout.contains("Apply complete!"), "{name}: {stdout}");
    }

    let mut all = runs(&api, "queue");
    all.reverse();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|r| status(r) == "applied"), "{all:?}");
    let stamp = |run: &Value, name: &str| {
        run["attributes"]["status-timestamps"][name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {run}"))
            .to_string()
    };
    // RFC 3339 UTC timestamps of one format compare as strings.
    assert!(
        stamp(&all[0], "applied-at") <= stamp(&all[1], "planning-at"),
        "the second run planned before the first finished: {all:?}"
    );
    assert_eq!(
        resource_inputs(&current_state(&api, "queue"))[0].1,
        json!("a-second"),
        "the later run's state is current"
    );
});
