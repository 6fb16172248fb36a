//! Property-based testing of the whole API against its own OpenAPI document: schemathesis
//! (installed by `scripts/install-test-deps.sh`) generates valid and invalid requests for every
//! operation of `/openapi.json` and checks every answer against the document. The run must
//! send at least 10 000 requests, get no 5xx and find no answer that contradicts the document.
//!
//! Path parameters name real objects (an organization with a workspace, project, variables, a
//! variable set, state, a configuration version, an agent pool and tokens, a team with its
//! token, an invitation), so requests reach
//! the handlers' logic rather than stopping at "not found". Deletions get a second, sacrificial
//! set of objects, so the first set lives through the run.
//!
//! Checks: all of schemathesis's, except `positive_data_acceptance`. It expects every request
//! the schemas allow to succeed, but whether one does depends on rules a JSON Schema cannot say
//! (unique names, name syntax, IDs that must exist in the same organization, who holds a
//! lock, a run's status); those requests are refused with a 4xx JSON:API error the document
//! lists, which `status_code_conformance` and `response_schema_conformance` still check.
//!
//! Phases: examples, coverage and fuzzing. The stateful phase is left out: schemathesis
//! 4.32.5 infers links between operations from their parameter names and builds invalid ones
//! for this document (`user_id` fed into `/workspaces/{workspace_id}/vars`), which aborts
//! the phase with an error about its own inference, not about the document or the server.
//!
//! The seed is fixed, so a failure reproduces; schemathesis prints each failure with a curl
//! command, and the test prints its report. `TERRACE_SCHEMATHESIS` names the binary
//! (default: the virtualenv `install-test-deps.sh` creates, then `schemathesis` on PATH).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};

use terrace_tests::{Api, Db, Server};

const SEED: u64 = 20_261_203;
/// Test cases per operation in the fuzzing phase; with the coverage phase's cases (every
/// documented status, boundary and wrong type) the run sends well over 10 000 requests.
const EXAMPLES_PER_OPERATION: u32 = 70;
const MIN_REQUESTS: usize = 10_000;

fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("TERRACE_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = Path::new("/opt/schemathesis-venv/bin/schemathesis");
    if venv.exists() {
        return venv.to_path_buf();
    }
    PathBuf::from("schemathesis")
}

/// The path parameters of the objects one [`seed`] creates, by parameter name.
type Objects = BTreeMap<&'static str, String>;

/// Creates an organization named `org` with one of everything a path parameter can name.
fn seed(api: &Api, org: &str) -> Objects {
    let mut o = Objects::new();
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": org, "email": format!("{org}@example.com")}}}),
    )
    .expect(201);
    o.insert("organization", org.to_string());
    o.insert("user_id", api.get("account/details").ok().id());
    o.insert(
        "project_id",
        api
            .post(
                &format!("organizations/{org}/projects"),
                &json!({"data": {"type": "projects", "attributes": {"name": format!("{org}-project")}}}),
            )
            .expect(201)
            .id(),
    );
    let workspace = format!("{org}-workspace");
    let workspace_id = api
        .post(
            &format!("organizations/{org}/workspaces"),
            &json!({"data": {"type": "workspaces", "attributes": {"name": workspace}}}),
        )
        .expect(201)
        .id();
    o.insert("name", workspace);
    api.post(
        &format!("workspaces/{workspace_id}/relationships/tags"),
        &json!({"data": [{"type": "tags", "attributes": {"name": "fuzzed"}}]}),
    )
    .expect(204);
    let tags = api.get(&format!("organizations/{org}/tags")).ok();
    o.insert(
        "tag_id",
        tags.body["data"][0]["id"].as_str().unwrap().into(),
    );

    // One finalized state version with an output.
    let state = serde_json::to_vec(&json!({"version": 4, "terraform_version": "1.11.4",
        "serial": 1, "lineage": "fuzz-lineage", "resources": [],
        "outputs": {"greeting": {"value": "hello", "type": "string"}}}))
    .unwrap();
    api.post(
        &format!("workspaces/{workspace_id}/actions/lock"),
        &json!({}),
    )
    .ok();
    let state_version_id = api
        .post(
            &format!("workspaces/{workspace_id}/state-versions"),
            &json!({"data": {"type": "state-versions", "attributes": {"serial": 1,
                "md5": hex::encode(Md5::digest(&state)), "lineage": "fuzz-lineage",
                "state": STANDARD.encode(&state)}}}),
        )
        .expect(201)
        .id();
    api.post(
        &format!("workspaces/{workspace_id}/actions/unlock"),
        &json!({}),
    )
    .ok();
    let outputs = api
        .get(&format!("state-versions/{state_version_id}/outputs"))
        .ok();
    o.insert(
        "output_id",
        outputs.body["data"][0]["id"].as_str().unwrap().into(),
    );
    o.insert("state_version_id", state_version_id);

    o.insert(
        "variable_id",
        api.post(
            &format!("workspaces/{workspace_id}/vars"),
            &json!({"data": {"type": "vars", "attributes": {"key": "region",
                    "value": "eu-1", "category": "terraform"}}}),
        )
        .expect(201)
        .id(),
    );
    o.insert(
        "varset_id",
        api.post(
            &format!("organizations/{org}/varsets"),
            &json!({"data": {"type": "varsets", "attributes": {"name": format!("{org}-varset")}}}),
        )
        .expect(201)
        .id(),
    );
    o.insert(
        "configuration_version_id",
        api.post(
            &format!("workspaces/{workspace_id}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions"}}),
        )
        .expect(201)
        .id(),
    );
    let agent_pool_id = api
        .post(
            &format!("organizations/{org}/agent-pools"),
            &json!({"data": {"type": "agent-pools", "attributes": {"name": format!("{org}-pool")}}}),
        )
        .expect(201)
            .id();
    o.insert(
        "token_id",
        api.post(
            &format!("agent-pools/{agent_pool_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                    "attributes": {"description": "fuzz"}}}),
        )
        .expect(201)
        .id(),
    );
    o.insert("agent_pool_id", agent_pool_id);
    o.insert("workspace_id", workspace_id);
    let team_id = api
        .post(
            &format!("organizations/{org}/teams"),
            &json!({"data": {"type": "teams", "attributes": {"name": format!("{org}-team")}}}),
        )
        .expect(201)
        .id();
    api.post(&format!("teams/{team_id}/authentication-token"), &json!({}))
        .expect(201);
    api.post(
        &format!("organizations/{org}/authentication-token"),
        &json!({}),
    )
    .expect(201);
    o.insert("team_id", team_id);
    o.insert(
        "membership_id",
        api.post(
            &format!("organizations/{org}/organization-memberships"),
            &json!({"data": {"type": "organization-memberships",
                "attributes": {"email": format!("invitee@{org}.example")}}}),
        )
        .expect(201)
        .id(),
    );
    o
}

fn toml_table(objects: &Objects) -> String {
    objects
        .iter()
        .map(|(k, v)| format!("{k} = {v:?}\n"))
        .collect()
}

/// schemathesis's configuration: the seeded objects for every operation, the sacrificial
/// ones for the operations that delete.
fn config(kept: &Objects, doomed: &Objects) -> String {
    format!(
        "[parameters]\n{}\n\
         [[operations]]\ninclude-method = \"DELETE\"\n[operations.parameters]\n{}\n\
         [[operations]]\ninclude-path-regex = \"safe-delete$\"\n[operations.parameters]\n{}",
        toml_table(kept),
        toml_table(doomed),
        toml_table(doomed),
    )
}

/// What the run's NDJSON event stream says: every response's status, and every failed
/// check with the request that failed it.
#[derive(Default)]
struct Findings {
    statuses: Vec<(u16, String)>,
    failures: Vec<String>,
}

fn read_events(path: &Path) -> Findings {
    let mut findings = Findings::default();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let Some(recorder) = event.pointer("/ScenarioFinished/recorder") else {
            continue;
        };
        for interaction in recorder["interactions"].as_object().into_iter().flatten() {
            let (_, interaction) = interaction;
            findings.statuses.push((
                interaction["response"]["status_code"].as_u64().unwrap_or(0) as u16,
                format!(
                    "{} {}",
                    interaction["request"]["method"].as_str().unwrap_or(""),
                    interaction["request"]["uri"].as_str().unwrap_or("")
                ),
            ));
        }
        for (_, checks) in recorder["checks"].as_object().into_iter().flatten() {
            for check in checks.as_array().into_iter().flatten() {
                if check["status"] == "failure" {
                    let failure = &check["failure_info"]["failure"];
                    findings.failures.push(format!(
                        "{} {}: {}",
                        failure["operation"].as_str().unwrap_or(""),
                        failure["title"].as_str().unwrap_or(""),
                        failure["message"].as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    findings
}

#[test]
fn openapi_document_holds_under_fuzzing() {
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let token = server.admin_token();
    let api = server.api(&token);
    let kept = seed(&api, "fuzz-kept");
    let doomed = seed(&api, "fuzz-doomed");

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("schemathesis.toml");
    std::fs::write(&config_path, config(&kept, &doomed)).unwrap();
    let events = dir.path().join("events.ndjson");
    let output = Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config_path)
        .arg("run")
        .arg(format!("{}/openapi.json", server.url))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .arg("--tls-verify")
        .arg(&server.ca_bundle)
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", &SEED.to_string()])
        .args(["--max-examples", &EXAMPLES_PER_OPERATION.to_string()])
        .args(["--workers", "2", "--no-color", "--report", "ndjson"])
        .arg("--report-ndjson-path")
        .arg(&events)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not run ({e}); scripts/install-test-deps.sh installs it",
                schemathesis().display()
            )
        });
    let report = String::from_utf8_lossy(&output.stdout);

    let findings = read_events(&events);
    let server_errors: Vec<&(u16, String)> = findings
        .statuses
        .iter()
        .filter(|(status, _)| *status >= 500)
        .collect();
    assert!(
        server_errors.is_empty() && findings.failures.is_empty() && output.status.success(),
        "schemathesis found problems ({} answers were 5xx: {:?}; {} checks failed):\n{}\n{report}\n{}",
        server_errors.len(),
        server_errors.iter().take(20).collect::<Vec<_>>(),
        findings.failures.len(),
        findings.failures.join("\n"),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        findings.statuses.len() >= MIN_REQUESTS,
        "only {} requests were sent, at least {MIN_REQUESTS} were wanted:\n{report}",
        findings.statuses.len()
    );
    eprintln!(
        "schemathesis: {} requests, no 5xx, no failed check",
        findings.statuses.len()
    );
}
