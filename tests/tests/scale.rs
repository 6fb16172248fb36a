//! Horizontal scale: two `terrace serve` replicas on one PostgreSQL database and one S3
//! bucket, each with its built-in listener, share the run queue. Every run is executed exactly
//! once, the runs of a workspace still go one at a time in order, and both replicas do work.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::ledger::Ledger;
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{Db, Server};

const WORKSPACES: usize = 5;
const RUNS_PER_WORKSPACE: usize = 3;

/// Each apply reports "RUN_ID JOB_DIR" to the ledger at `url` (over the network: a run may
/// write nothing outside its job); the job directory lies in the work directory of the
/// replica whose listener ran it.
fn configuration(url: &str) -> String {
    format!(
        r#"
resource "terraform_data" "marker" {{
  triggers_replace = timestamp()
  provisioner "local-exec" {{
    command = "curl -sf --data-binary \"$TFC_RUN_ID $PWD\" {url}"
  }}
}}
"#
    )
}

fn stamp(run: &Value, name: &str) -> String {
    run["attributes"]["status-timestamps"][name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing: {run}"))
        .to_string()
}

#[test]
fn two_replicas_on_one_database_execute_every_run_exactly_once() {
    let prefix = format!("scale-{}", std::process::id());
    let work_dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let first = Server::builder(Db::Postgres)
        .s3_storage(&prefix)
        .args(&["--listener-capacity", "2", "--work-dir"])
        .arg(work_dirs[0].path().to_str().unwrap())
        .start();
    let second = Server::builder(Db::Postgres)
        .database_url(first.database_url.as_deref().unwrap())
        .s3_storage(&prefix)
        .args(&["--listener-capacity", "2", "--work-dir"])
        .arg(work_dirs[1].path().to_str().unwrap())
        .start();
    let token = first.admin_token();
    let (api_one, api_two) = (first.api(&token), second.api(&token));

    let ledger = Ledger::start();
    let files = configuration(&ledger.url);

    // Workspaces and configurations through one replica, runs through both.
    let mut queued: Vec<(String, String)> = Vec::new();
    let mut workspace_ids = Vec::new();
    for n in 0..WORKSPACES {
        let ws = api_one
            .post(
                "organizations/default/workspaces",
                &json!({"data": {"type": "workspaces",
                    "attributes": {"name": format!("scale-{n}"), "auto-apply": true}}}),
            )
            .expect(201)
            .id();
        upload_configuration(&api_one, &ws, &[("main.tf", &files)], false);
        workspace_ids.push(ws);
    }
    for round in 0..RUNS_PER_WORKSPACE {
        for ws in &workspace_ids {
            let api = if round % 2 == 0 { &api_one } else { &api_two };
            let run = create_run(api, ws, None, json!({"message": format!("round {round}")}));
            queued.push((ws.clone(), run.id()));
        }
    }

    let mut finished: BTreeMap<String, Value> = BTreeMap::new();
    for (_, run) in &queued {
        let done = wait_for_run(&api_two, run, &["applied"], Duration::from_secs(300));
        finished.insert(run.clone(), done.body["data"].clone());
    }

    // Exactly once: one ledger line per run, none for anything else.
    let text = ledger.entries().join("\n");
    let mut executions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in text.lines() {
        let (run, dir) = line.split_once(' ').expect("RUN_ID DIR");
        executions.entry(run).or_default().push(dir);
    }
    for (_, run) in &queued {
        assert_eq!(
            executions.get(run.as_str()).map(Vec::len),
            Some(1),
            "run {run} was applied {:?} times:\n{text}",
            executions.get(run.as_str())
        );
    }
    assert_eq!(executions.len(), queued.len(), "unknown runs in:\n{text}");

    // Both replicas' listeners took work.
    let replicas: BTreeSet<usize> = executions
        .values()
        .flatten()
        .map(|dir| {
            work_dirs
                .iter()
                .position(|w| dir.starts_with(&w.path().display().to_string()))
                .unwrap_or_else(|| panic!("{dir} is in neither replica's work directory"))
        })
        .collect();
    assert_eq!(replicas.len(), 2, "one replica did all the work:\n{text}");

    // Per workspace, in creation order: each run planned after the previous one finished,
    // and each apply wrote one state version.
    for ws in &workspace_ids {
        let runs: Vec<&Value> = queued
            .iter()
            .filter(|(w, _)| w == ws)
            .map(|(_, run)| &finished[run])
            .collect();
        for pair in runs.windows(2) {
            assert!(
                stamp(pair[1], "planning-at") >= stamp(pair[0], "applied-at"),
                "runs overlapped on {ws}: {} and {}",
                pair[0],
                pair[1]
            );
        }
        let ws_now = api_two.get(&format!("workspaces/{ws}")).ok();
        let name = ws_now.attr("name").as_str().unwrap().to_string();
        let versions = api_one
            .get(&format!(
                "state-versions?filter[organization][name]=default&filter[workspace][name]={name}"
            ))
            .ok();
        assert_eq!(
            versions.data().as_array().map(Vec::len),
            Some(RUNS_PER_WORKSPACE),
            "one state version per apply: {}",
            versions.text
        );
        assert_eq!(ws_now.attr("locked"), false, "{}", ws_now.text);
    }
}
