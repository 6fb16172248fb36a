//! Providers for remote runs from a provider mirror (`--provider-mirror-dir`): runs install the
//! providers the mirror holds (hashicorp/null, random and time, as go-tfe's fixtures use them)
//! from it and never ask a registry for them; without a mirror, runs install through the
//! server's network mirror, whose upstream is out of reach here, and fail at `terraform
//! init`. The workspaces send the runs' HTTPS through a proxy that refuses every connection,
//! so no run reaches a registry whether or not this machine could.

use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{tools, Api, Db, Server};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// What go-tfe's fixtures do with the three providers, null and random at their pins.
fn fixtures(generation: u32) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    null   = {{ source = "hashicorp/null", version = "3.1.1" }}
    random = {{ source = "hashicorp/random", version = "3.3.2" }}
  }}
}}
resource "random_pet" "name" {{
  prefix  = "terrace"
  length  = 3
  keepers = {{ generation = "{generation}" }}
}}
resource "null_resource" "foo" {{
  count    = 2
  triggers = {{ pet = random_pet.name.id }}
}}
resource "time_sleep" "wait" {{
  depends_on      = [null_resource.foo]
  create_duration = "1s"
}}
output "pet" {{
  value = random_pet.name.id
}}
"#
    )
}

/// A workspace whose runs cannot reach any registry: their HTTPS goes to a closed port.
fn offline_workspace(api: &Api, name: &str) -> String {
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
        .expect(201)
        .id();
    api.post(
        &format!("workspaces/{ws}/vars"),
        &json!({"data": {"type": "vars", "attributes": {
            "key": "HTTPS_PROXY", "value": "http://127.0.0.1:9", "category": "env"}}}),
    )
    .expect(201);
    ws
}

/// Uploads `config` and runs it, auto-applied; returns the run once it is `statuses`.
fn run(api: &Api, ws: &str, config: &str, statuses: &[&str]) -> String {
    upload_configuration(api, ws, &[("main.tf", config)], false);
    let run = create_run(api, ws, None, json!({"auto-apply": true})).id();
    wait_for_run(api, &run, statuses, RUN_TIMEOUT);
    run
}

fn current_state(api: &Api, ws: &str) -> Value {
    let version = api
        .get(&format!("workspaces/{ws}/current-state-version"))
        .ok();
    let download = api
        .get(&format!("state-versions/{}/download", version.id()))
        .ok();
    serde_json::from_str(&download.text).expect("the state is JSON")
}

/// The instances' attributes of the state's resource `kind`, with the provider it names.
fn instances(state: &Value, kind: &str) -> (String, Vec<Value>) {
    let resource = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the state: {state}"));
    let attributes = resource["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["attributes"].clone())
        .collect();
    (
        resource["provider"].as_str().unwrap().to_string(),
        attributes,
    )
}

fn null_ids(state: &Value) -> Vec<String> {
    let (_, nulls) = instances(state, "null_resource");
    nulls
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn runs_install_the_mirrors_providers_and_only_from_it() {
    let mirror = tools::provider_mirror();
    let server = Server::builder(Db::Sqlite)
        .args(&["--provider-mirror-dir", mirror.to_str().unwrap()])
        .start();
    let api = server.api(&server.admin_token());
    let ws = offline_workspace(&api, "fixtures");

    // Plan and apply each install the providers (the apply from the plan's lock file).
    let first = run(&api, &ws, &fixtures(1), &["applied"]);
    let applied = phase_log(&api, &first, "apply");
    assert!(
        applied.contains("Apply complete! Resources: 4 added, 0 changed, 0 destroyed."),
        "{applied}"
    );
    let state = current_state(&api, &ws);
    let (provider, pets) = instances(&state, "random_pet");
    assert_eq!(
        provider,
        r#"provider["registry.terraform.io/hashicorp/random"]"#
    );
    let pet = pets[0]["id"].as_str().unwrap().to_string();
    let words: Vec<&str> = pet.split('-').collect();
    assert_eq!(words.len(), 4, "a prefix and three words: {pet}");
    assert_eq!(words[0], "terrace");
    assert!(
        words[1..]
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())),
        "{pet}"
    );
    assert_eq!(state["outputs"]["pet"]["value"], pet.as_str());

    let (provider, nulls) = instances(&state, "null_resource");
    assert_eq!(
        provider,
        r#"provider["registry.terraform.io/hashicorp/null"]"#
    );
    assert_eq!(nulls.len(), 2, "{state}");
    for null in &nulls {
        assert_eq!(null["triggers"]["pet"], pet.as_str(), "{state}");
    }
    let ids = null_ids(&state);
    assert!(
        ids.iter()
            .all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit())),
        "{ids:?}"
    );
    assert_ne!(ids[0], ids[1]);

    let (provider, sleeps) = instances(&state, "time_sleep");
    assert_eq!(
        provider,
        r#"provider["registry.terraform.io/hashicorp/time"]"#
    );
    assert_eq!(sleeps[0]["create_duration"], "1s", "{state}");

    // A changed keeper replaces the pet, and its changed name the null resources.
    let second = run(&api, &ws, &fixtures(2), &["applied"]);
    let planned = phase_log(&api, &second, "plan");
    assert!(
        planned.contains("random_pet.name: Plan to replace"),
        "{planned}"
    );
    assert!(
        planned.contains("Plan: 3 to add, 0 to change, 3 to destroy."),
        "{planned}"
    );
    let replaced = null_ids(&current_state(&api, &ws));
    assert!(
        replaced.iter().all(|id| !ids.contains(id)),
        "{ids:?} -> {replaced:?}"
    );

    // The mirror is the only source of what it holds: a version it lacks is not looked for
    // elsewhere (a registry would have had to be asked, through the refusing proxy).
    let pinned = offline_workspace(&api, "pinned-elsewhere");
    let config = "terraform {\n  required_providers {\n    null = { source = \"hashicorp/null\", version = \"3.2.0\" }\n  }\n}\nresource \"null_resource\" \"foo\" {}\n";
    let failed = run(&api, &pinned, config, &["errored"]);
    let log = phase_log(&api, &failed, "plan");
    assert!(
        log.contains("no available releases match the given constraints 3.2.0"),
        "{log}"
    );
    assert!(!log.contains("could not connect"), "{log}");
}

/// Without a filesystem mirror, runs install other registries' providers through the
/// server's network mirror, whose default upstream (registry.terraform.io) this machine cannot
/// reach: `init` fails saying so, and the run never asks a registry itself.
#[test]
fn without_a_mirror_runs_fail_at_init_for_want_of_the_providers() {
    let server = Server::start(Db::Sqlite);
    let api = server.api(&server.admin_token());
    let ws = offline_workspace(&api, "fixtures");
    let failed = run(&api, &ws, &fixtures(1), &["errored"]);
    let log = phase_log(&api, &failed, "plan");
    assert!(
        log.contains("Error: Failed to query available provider packages"),
        "{log}"
    );
    assert!(log.contains("terraform init failed"), "{log}");
    assert!(
        log.contains("failed to query provider mirror") && log.contains("502 Bad Gateway"),
        "{log}"
    );
    assert!(
        !log.contains("could not connect to registry.terraform.io"),
        "{log}"
    );
}
