//! Benchmark: the web UI's pages on the embedded defaults (SQLite, local files) with 1,000
//! workspaces and 10,000 runs: the time per page as a client on the same machine sees it
//! (one connection, sequential requests: an upper bound of the server's time), its p50 and
//! p95, and the bytes a first load transfers (the page, its stylesheet and its script). The
//! baseline, measured in the same run, is the static stylesheet: what any request costs.
//!
//! Run it with `scripts/bench-ui.sh` (release build). Prints a table; docs/benchmarks.md
//! explains the figures. `BENCH_UI_WORKSPACES` and `BENCH_UI_RUNS_PER_WORKSPACE` change the
//! size (1,000 and 10 by default). Every workspace gets a state of three resources, which the
//! overview, the state pages and the resource search read.

use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::runs::upload_configuration;
use terrace_tests::states;
use terrace_tests::web::Visitor;
use terrace_tests::{Db, Server};

const SAMPLES: usize = 60;
const PASSWORD: &str = "user-password-1";

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A state of three resources for the workspace.
fn seed_state(api: &terrace_tests::Api, ws: &str, i: usize) {
    let state = states::with_resources(
        &format!("bench-{i}"),
        &[
            ("aws_s3_bucket", "logs"),
            ("aws_instance", "web"),
            ("aws_security_group", "web"),
        ],
    );
    states::push(api, ws, &state);
}

fn main() {
    let workspaces = env_number("BENCH_UI_WORKSPACES", 1000);
    let runs_per = env_number("BENCH_UI_RUNS_PER_WORKSPACE", 10);
    // No listener: the runs stay queued, as many do on a busy installation.
    let server = Server::builder(Db::Sqlite)
        .without_rate_limits()
        .arg("--no-listener")
        .start();
    let token = server.user_token("bencher");
    let api = server.api(&token);
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "bench", "email": "bench@example.com"}}}),
    )
    .expect(201);

    let seeding = Instant::now();
    let mut first_run = String::new();
    for i in 0..workspaces {
        let ws = api
            .post(
                "organizations/bench/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {
                    "name": format!("ws-{i:04}"), "description": format!("workspace number {i}")}}}),
            )
            .expect(201)
            .id();
        seed_state(&api, &ws, i);
        if runs_per == 0 {
            continue;
        }
        let cv = upload_configuration(
            &api,
            &ws,
            &[("main.tf", "resource \"terraform_data\" \"x\" {}\n")],
            false,
        );
        for _ in 0..runs_per {
            let run = api
                .post(
                    "runs",
                    &json!({"data": {"type": "runs", "attributes": {"message": "bench"},
                        "relationships": {
                            "workspace": {"data": {"type": "workspaces", "id": ws}},
                            "configuration-version": {"data": {"type": "configuration-versions", "id": cv}}}}}),
                )
                .expect(201)
                .id();
            if i == workspaces / 2 && first_run.is_empty() {
                first_run = run;
            }
        }
    }
    eprintln!(
        "seeded {workspaces} workspaces and {} runs in {:.1} s",
        workspaces * runs_per,
        seeding.elapsed().as_secs_f64()
    );

    let browser = Visitor::new(&server);
    assert_eq!(browser.sign_in("bencher", PASSWORD, "/app").status(), 303);
    let middle = format!("ws-{:04}", workspaces / 2);
    let last_page = workspaces.div_ceil(20).max(1);
    let mut pages = vec![
        ("stylesheet (baseline)", "/static/terrace.css".to_string()),
        ("organizations", "/app/organizations".to_string()),
        ("workspaces, page 1", "/app/bench/workspaces".to_string()),
        (
            "workspaces, last page",
            format!("/app/bench/workspaces?page={last_page}"),
        ),
        (
            "workspaces, name search",
            format!("/app/bench/workspaces?q={}", &middle[..6]),
        ),
        (
            "workspace overview",
            format!("/app/bench/workspaces/{middle}"),
        ),
        (
            "runs of a workspace",
            format!("/app/bench/workspaces/{middle}/runs"),
        ),
        (
            "variables",
            format!("/app/bench/workspaces/{middle}/variables"),
        ),
        (
            "state versions",
            format!("/app/bench/workspaces/{middle}/states"),
        ),
    ];
    if !first_run.is_empty() {
        pages.push((
            "a run",
            format!("/app/bench/workspaces/{middle}/runs/{first_run}"),
        ));
    }
    // The pages of the rest of the organization, and the site administration area.
    let project = api.get("organizations/bench/projects").ok().body["data"][0]["id"]
        .as_str()
        .expect("the default project")
        .to_string();
    server.admin(&["user", "grant-admin", "bencher"]);
    pages.extend([
        (
            "workspace settings",
            format!("/app/bench/workspaces/{middle}/settings"),
        ),
        (
            "workspace access",
            format!("/app/bench/workspaces/{middle}/access"),
        ),
        ("projects", "/app/bench/projects".to_string()),
        (
            "the default project",
            format!("/app/bench/projects/{project}"),
        ),
        (
            "resource search, every workspace matches",
            "/app/bench/resources?q=aws_s3_bucket.logs".to_string(),
        ),
        (
            "resource search, nothing matches",
            "/app/bench/resources?q=google_storage_bucket".to_string(),
        ),
        ("variable sets", "/app/bench/variable-sets".to_string()),
        ("registry", "/app/bench/registry".to_string()),
        ("agent pools", "/app/bench/agent-pools".to_string()),
        ("people", "/app/bench/people".to_string()),
        ("organization settings", "/app/bench/settings".to_string()),
        ("API tokens", "/app/account/tokens".to_string()),
        ("site admin: users", "/app/admin/users".to_string()),
    ]);
    let assets: usize = ["/static/terrace.css", "/static/terrace.js"]
        .iter()
        .map(|p| browser.get(p).bytes().unwrap().len())
        .sum();

    println!(
        "Web UI pages, {workspaces} workspaces, {} runs, one connection, {SAMPLES} samples each",
        workspaces * runs_per
    );
    println!("| page | p50 ms | p95 ms | p95 / baseline | first-load KB (page + CSS + JS) |");
    println!("|---|---:|---:|---:|---:|");
    let mut baseline = None;
    for (label, path) in &pages {
        let mut times = Vec::with_capacity(SAMPLES);
        let mut size = 0;
        for sample in 0..SAMPLES + 5 {
            let started = Instant::now();
            let response = browser.get(path);
            let status = response.status();
            let body = response.bytes().unwrap();
            let took = started.elapsed();
            assert!(status.is_success(), "{path}: {status}");
            size = body.len();
            if sample >= 5 {
                times.push(took);
            }
        }
        times.sort();
        let p95 = percentile(&times, 0.95);
        let base = *baseline.get_or_insert(p95);
        let first_load = if path.starts_with("/static/") {
            size
        } else {
            size + assets
        };
        println!(
            "| {label} | {} | {} | {:.1}× | {:.1} |",
            ms(percentile(&times, 0.5)),
            ms(p95),
            p95.as_secs_f64() / base.as_secs_f64(),
            first_load as f64 / 1024.0
        );
    }
}
