//! Benchmark: remote execution.
//!
//! (a) `terraform plan` and `terraform apply` through Terrace (a `cloud {}` block on a
//!     workspace in the default `remote` execution mode, executed by the server's built-in
//!     listener) against the same commands run locally without a backend, on the same
//!     configuration, in the same run, interleaved. Only `terraform_data` resources: no
//!     provider downloads.
//! (b) How many queued plan-only runs per second a server without its built-in listener
//!     (`--no-listener`) gets through with K external `terrace listener` processes, K = 1, 2, 4,
//!     first with a stand-in terraform (a shell script that answers at once, so that dispatch
//!     and the runner's own work dominate), then with the real one.
//!
//! Run it with `scripts/bench-runs.sh` (release build). Prints tables; docs/benchmarks.md
//! explains the figures. Settings (environment): BENCH_REPS (5), BENCH_RESOURCES (100),
//! BENCH_WORKSPACES (8), BENCH_CAPACITY (2), BENCH_FAKE_RUNS (200), BENCH_REAL_RUNS (32),
//! BENCH_LISTENERS (1,2,4), BENCH_PART (a, b or both).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{terrace_bin, texts, Api, Db, Server, Terraform};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<f64>) -> f64 {
    assert!(!samples.is_empty());
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// Milliseconds since the epoch of an API timestamp (`2026-11-29T16:08:40.123Z`).
fn epoch_ms(stamp: &str) -> f64 {
    let s = stamp.trim_end_matches('Z');
    let (date, time) = s.split_once('T').expect("a timestamp");
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let t: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    (days as f64 * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]) * 1000.0
}

/// CPU seconds of a process: its own, and that of its children it waited for (Linux).
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return (0.0, 0.0);
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    if fields.len() < 4 {
        return (0.0, 0.0);
    }
    let tick = clock_ticks();
    (
        (fields[0] + fields[1]) / tick,
        (fields[2] + fields[3]) / tick,
    )
}

/// The machine's busy and total CPU ticks so far (all cores, /proc/stat).
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let fields: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = fields.iter().take(8).sum();
    // idle and iowait
    let idle = fields.get(3).unwrap_or(&0.0) + fields.get(4).unwrap_or(&0.0);
    (total - idle, total)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn stamp_ms(run: &Value, key: &str) -> Option<f64> {
    run["attributes"]["status-timestamps"][key]
        .as_str()
        .map(epoch_ms)
}

// ---------------------------------------------------------------------------------------------
// (a) terraform plan / apply through Terrace against local

fn configuration(resources: usize) -> String {
    format!(
        r#"
variable "generation" {{
  type    = number
  default = 0
}}
resource "terraform_data" "r" {{
  count = {resources}
  input = "r${{count.index}}-g${{var.generation}}"
}}
output "count" {{
  value = length(terraform_data.r)
}}
"#
    )
}

fn cloud_block(server: &Server, workspace: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"{workspace}\"\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

/// Runs a terraform command that must succeed and mention `expect`; returns its duration.
fn timed(tf: &Terraform, args: &[&str], expect: &str) -> f64 {
    let started = Instant::now();
    let output: Output = tf.run(args);
    let elapsed = started.elapsed().as_secs_f64();
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success() && stdout.contains(expect),
        "terraform {args:?} (expected {expect:?}):\n{stdout}\n{stderr}"
    );
    elapsed
}

/// Where a remote run's time went, from its status timestamps (seconds).
#[derive(Default, Clone, Copy)]
struct ServerSide {
    /// From its creation to its final status.
    total: f64,
    /// Inside the jobs: from the plan's start to its end, plus the apply's.
    jobs: f64,
}

fn latest_run(api: &Api, workspace_id: &str) -> Value {
    let list = api
        .get(&format!(
            "workspaces/{workspace_id}/runs?filter[operation]=plan_only,plan_and_apply&page[size]=1"
        ))
        .ok();
    list.body["data"][0].clone()
}

fn server_side(run: &Value) -> ServerSide {
    let created = epoch_ms(
        run["attributes"]["created-at"]
            .as_str()
            .expect("created-at"),
    );
    let planning = stamp_ms(run, "planning-at").expect("planning-at");
    let planned = stamp_ms(run, "planned-at")
        .or_else(|| stamp_ms(run, "planned-and-finished-at"))
        .expect("the plan ended");
    let mut end = planned;
    let mut jobs = planned - planning;
    if let (Some(applying), Some(applied)) =
        (stamp_ms(run, "applying-at"), stamp_ms(run, "applied-at"))
    {
        jobs += applied - applying;
        end = applied;
    }
    ServerSide {
        total: (end - created) / 1e3,
        jobs: jobs / 1e3,
    }
}

struct Row {
    label: String,
    command: &'static str,
    local: Vec<f64>,
    remote: Vec<f64>,
    server: Vec<ServerSide>,
}

fn part_a(reps: usize, big: usize) {
    let server = Server::builder(Db::Sqlite).env("RUST_LOG", "warn").start();
    let token = server.admin_token();
    let api = server.api(&token);
    let mut rows = Vec::new();

    for resources in [1, big] {
        let config = configuration(resources);
        let workspace = format!("bench-{resources}");
        let local = Terraform::without_credentials(&server);
        local.write("main.tf", &config);
        let remote = Terraform::new(&server, &token);
        remote.write(
            "main.tf",
            &format!("{}{config}", cloud_block(&server, &workspace)),
        );
        for tf in [&local, &remote] {
            timed(tf, &["init", "-input=false"], "initialized");
            // Both start from the same state: every resource created once.
            timed(
                tf,
                &["apply", "-auto-approve", "-input=false"],
                "Apply complete!",
            );
        }
        let ws = api
            .get(&format!("organizations/default/workspaces/{workspace}"))
            .ok();
        assert_eq!(ws.attr("execution-mode"), "remote", "{}", ws.text);
        let ws_id = ws.id();

        let label = format!(
            "{resources} resource{}",
            if resources == 1 { "" } else { "s" }
        );
        let mut plan = Row {
            label: label.clone(),
            command: "plan",
            local: vec![],
            remote: vec![],
            server: vec![],
        };
        let mut apply = Row {
            label,
            command: "apply",
            local: vec![],
            remote: vec![],
            server: vec![],
        };
        // Each repetition changes every resource's input: plans show `resources` changes and
        // applies update them all, locally and remotely alike.
        for generation in 1..=reps {
            let var = format!("generation={generation}");
            let plan_expect = format!("0 to add, {resources} to change, 0 to destroy");
            let apply_expect = format!("0 added, {resources} changed, 0 destroyed");
            let plan_args = ["plan", "-input=false", "-var", var.as_str()];
            let apply_args = [
                "apply",
                "-auto-approve",
                "-input=false",
                "-var",
                var.as_str(),
            ];
            plan.local.push(timed(&local, &plan_args, &plan_expect));
            plan.remote.push(timed(&remote, &plan_args, &plan_expect));
            plan.server.push(server_side(&latest_run(&api, &ws_id)));
            apply.local.push(timed(&local, &apply_args, &apply_expect));
            apply
                .remote
                .push(timed(&remote, &apply_args, &apply_expect));
            let run = latest_run(&api, &ws_id);
            assert_eq!(run["attributes"]["status"], "applied", "{run}");
            apply.server.push(server_side(&run));
        }
        rows.push(plan);
        rows.push(apply);
    }

    println!(
        "(a) terraform through Terrace (remote execution, built-in listener) vs local, no backend"
    );
    println!("    {reps} repetitions each, interleaved; medians in seconds");
    println!(
        "{:>14} {:>6} {:>8} {:>8} {:>7}   {:>11} {:>8} {:>8}",
        "config", "cmd", "local", "Terrace", "ratio", "server run", "in jobs", "CLI wait"
    );
    for row in &rows {
        let local = median(row.local.clone());
        let remote = median(row.remote.clone());
        let total = median(row.server.iter().map(|s| s.total).collect());
        let jobs = median(row.server.iter().map(|s| s.jobs).collect());
        let cli = median(
            row.remote
                .iter()
                .zip(&row.server)
                .map(|(wall, s)| wall - s.total)
                .collect(),
        );
        println!(
            "{:>14} {:>6} {:>8.2} {:>8.2} {:>6.1}x   {:>11.2} {:>8.2} {:>8.2}",
            row.label,
            row.command,
            local,
            remote,
            remote / local,
            total,
            jobs,
            cli
        );
    }
    println!(
        "    server run: the run's creation to its end (status timestamps); in jobs: inside the"
    );
    println!(
        "    plan job (and the apply job); CLI wait: the CLI's wall time minus the server run"
    );
    println!("    (configuration upload, run creation, polling for status and logs, state fetch).");

    // What a job runs besides the plan or apply itself, timed locally on the big configuration.
    let tf = Terraform::without_credentials(&server);
    tf.write("main.tf", &configuration(big));
    timed(&tf, &["init", "-input=false"], "initialized");
    let plan_file = tf.path("tfplan");
    let plan_file = plan_file.to_str().unwrap();
    let mut steps: Vec<(&str, Vec<f64>)> = vec![
        ("version -json", vec![]),
        ("init", vec![]),
        ("plan -out", vec![]),
        ("show -json", vec![]),
        ("providers schema -json", vec![]),
    ];
    let out_arg = format!("-out={plan_file}");
    for _ in 0..reps {
        steps[0]
            .1
            .push(timed(&tf, &["version", "-json"], "terraform_version"));
        steps[1].1.push(timed(
            &tf,
            &["init", "-input=false", "-no-color"],
            "initialized",
        ));
        steps[2]
            .1
            .push(timed(&tf, &["plan", "-input=false", &out_arg], "to add"));
        steps[3].1.push(timed(
            &tf,
            &["show", "-json", plan_file],
            "resource_changes",
        ));
        steps[4].1.push(timed(
            &tf,
            &["providers", "schema", "-json"],
            "provider_schemas",
        ));
    }
    let parts: Vec<String> = steps
        .into_iter()
        .map(|(name, samples)| format!("{name} {:.2}", median(samples)))
        .collect();
    println!(
        "    terraform commands of a plan job, locally on {big} resources (s): {}",
        parts.join(", ")
    );
    println!();
}

// ---------------------------------------------------------------------------------------------
// (b) dispatch throughput with external listeners

/// Answers the runner's terraform commands at once: `version -json`, `init`, `plan -out=F`
/// (one resource to add), `show -json F`, `providers schema -json`.
const FAKE_TERRAFORM: &str = r#"#!/bin/sh
# A stand-in for terraform (bench_runs): answers at once, so that dispatch dominates.
case "$1" in
  version)
    echo '{"terraform_version":"1.11.4","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}' ;;
  init)
    echo "Terraform has been successfully initialized!" ;;
  plan)
    for arg in "$@"; do
      case "$arg" in -out=*) echo "fake plan" > "${arg#-out=}" ;; esac
    done
    echo "Plan: 1 to add, 0 to change, 0 to destroy."
    exit 2 ;;
  show)
    echo '{"format_version":"1.2","resource_changes":[{"address":"terraform_data.a","mode":"managed","type":"terraform_data","name":"a","provider_name":"terraform.io/builtin/terraform","change":{"actions":["create"],"before":null,"after":{"input":"a"},"after_unknown":{"id":true,"output":true},"before_sensitive":false,"after_sensitive":{}}}]}' ;;
  providers)
    echo '{"format_version":"1.0","provider_schemas":{}}' ;;
  *)
    echo "fake terraform: unexpected command: $*" >&2
    exit 1 ;;
esac
"#;

const TINY: &str = r#"resource "terraform_data" "a" {
  input = "a"
}
"#;

/// A `terrace listener` process, stopped (SIGTERM, then SIGKILL) when dropped.
struct ListenerProcess {
    child: Child,
    log: PathBuf,
}

impl ListenerProcess {
    fn start(
        server: &Server,
        token: &str,
        name: &str,
        capacity: usize,
        terraform: &Path,
        dir: &Path,
    ) -> ListenerProcess {
        let work = dir.join(format!("work-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(terrace_bin())
            .args(["listener", "--server-url", &server.url, "--ca-file"])
            .arg(&server.ca_bundle)
            .args(["--name", name, "--capacity", &capacity.to_string()])
            .arg("--terraform-bin")
            .arg(terraform)
            .arg("--work-dir")
            .arg(&work)
            .env("TERRACE_AGENT_TOKEN", token)
            .env("TERRACE_LOG", "info")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("terrace listener starts");
        ListenerProcess { child, log }
    }

    /// Waits for the listener to say it registered (it then long-polls for jobs).
    fn wait_registered(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.contains("registered") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the listener exited ({status}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the listener did not register:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for ListenerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Round {
    listeners: usize,
    runs: usize,
    /// First run created to last run finished, server clock (s).
    window: f64,
    /// Creating all the runs through the API (s, client clock).
    queueing: f64,
    /// Per run: queued to finished, queued to claimed, claimed to finished (s).
    latency: Vec<f64>,
    wait: Vec<f64>,
    job: Vec<f64>,
    /// CPU seconds of the server, and of the listeners with their runners and terraform.
    server_cpu: f64,
    listener_cpu: f64,
    /// CPU seconds of this benchmark (creating the runs, polling them).
    client_cpu: f64,
    /// The share of the machine's CPU time that was busy while the runs were queued and ran,
    /// and the share of it busy with other processes than the server, listeners and runners,
    /// and this benchmark (other work on the machine: noise).
    busy: f64,
    others: f64,
}

#[allow(clippy::too_many_arguments)]
fn round(
    server: &Server,
    api: &Api,
    workspaces: &[(String, String)],
    listeners: usize,
    capacity: usize,
    runs: usize,
    terraform: &Path,
    dir: &Path,
) -> Round {
    let mut processes: Vec<ListenerProcess> = (0..listeners)
        .map(|i| {
            let token = server.admin(&["listener-token", "--description", "bench"]);
            ListenerProcess::start(
                server,
                &token,
                &format!("bench-{listeners}-{i}"),
                capacity,
                terraform,
                dir,
            )
        })
        .collect();
    for process in &mut processes {
        process.wait_registered();
    }
    // Let the listeners settle into their long polls.
    std::thread::sleep(Duration::from_millis(300));

    // Queue the runs from a few client threads, round robin over the workspaces.
    let server_pid = server.pid().expect("the server runs");
    let server_cpu_before = cpu_seconds(server_pid).0;
    let client_cpu_before = cpu_seconds(std::process::id()).0;
    let machine_before = machine_ticks();
    let started = Instant::now();
    let threads = 4.min(runs);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let api = api.clone();
                scope.spawn(move || {
                    (t..runs)
                        .step_by(threads)
                        .map(|i| {
                            let (ws_id, cv_id) = &workspaces[i % workspaces.len()];
                            create_run(&api, ws_id, Some(cv_id), json!({"plan-only": true})).id()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let queueing = started.elapsed().as_secs_f64();
    let finished: Vec<Value> = ids
        .iter()
        .map(|id| {
            wait_for_run(api, id, &["planned_and_finished"], Duration::from_secs(600)).body["data"]
                .clone()
        })
        .collect();
    let machine_after = machine_ticks();
    let machine_total = machine_after.1 - machine_before.1;
    let busy = (machine_after.0 - machine_before.0) / machine_total;
    // The runners report before they exit: give the listeners time to reap them.
    std::thread::sleep(Duration::from_millis(500));
    let server_cpu = cpu_seconds(server_pid).0 - server_cpu_before;
    let client_cpu = cpu_seconds(std::process::id()).0 - client_cpu_before;
    let listener_cpu = processes
        .iter()
        .map(|p| {
            let (own, children) = cpu_seconds(p.child.id());
            own + children
        })
        .sum();
    for process in &processes {
        let log = std::fs::read_to_string(&process.log).unwrap_or_default();
        let complaints: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        if !complaints.is_empty() {
            eprintln!(
                "listener log: {} warnings or errors, the first: {}",
                complaints.len(),
                complaints[0]
            );
        }
    }
    drop(processes);

    let first_created = finished
        .iter()
        .map(|r| epoch_ms(r["attributes"]["created-at"].as_str().unwrap()))
        .fold(f64::INFINITY, f64::min);
    let done = |r: &Value| stamp_ms(r, "planned-and-finished-at").unwrap();
    let last_done = finished.iter().map(done).fold(0.0, f64::max);
    let latency = finished
        .iter()
        .map(|r| (done(r) - stamp_ms(r, "plan-queued-at").unwrap()) / 1e3)
        .collect();
    let wait = finished
        .iter()
        .map(|r| {
            (stamp_ms(r, "planning-at").unwrap() - stamp_ms(r, "plan-queued-at").unwrap()) / 1e3
        })
        .collect();
    let job = finished
        .iter()
        .map(|r| (done(r) - stamp_ms(r, "planning-at").unwrap()) / 1e3)
        .collect();
    Round {
        listeners,
        runs,
        window: (last_done - first_created) / 1e3,
        queueing,
        latency,
        wait,
        job,
        server_cpu,
        listener_cpu,
        client_cpu,
        busy,
        others: (busy - (server_cpu + listener_cpu + client_cpu) * clock_ticks() / machine_total)
            .max(0.0),
    }
}

fn print_rounds(title: &str, capacity: usize, rounds: &[Round]) {
    println!("{title}");
    println!(
        "{:>9} {:>5} {:>4} {:>8} {:>7} {:>6} {:>8} {:>7} {:>7} {:>7} {:>22} {:>5} {:>6}",
        "listeners",
        "slots",
        "runs",
        "window",
        "runs/s",
        "ratio",
        "queueing",
        "wait",
        "job",
        "run",
        "CPU ms/run: srv runner bench",
        "busy",
        "others"
    );
    let base = rounds[0].runs as f64 / rounds[0].window;
    for r in rounds {
        let rate = r.runs as f64 / r.window;
        let per_run = |cpu: f64| cpu * 1e3 / r.runs as f64;
        println!(
            "{:>9} {:>5} {:>4} {:>6.2} s {:>7.2} {:>5.2}x {:>6.2} s {:>5.2} s {:>5.2} s {:>5.2} s {:>15.0} {:>6.0} {:>5.0} {:>4.0}% {:>5.0}%",
            r.listeners,
            r.listeners * capacity,
            r.runs,
            r.window,
            rate,
            rate / base,
            r.queueing,
            median(r.wait.clone()),
            median(r.job.clone()),
            median(r.latency.clone()),
            per_run(r.server_cpu),
            per_run(r.listener_cpu),
            per_run(r.client_cpu),
            r.busy * 100.0,
            r.others * 100.0,
        );
    }
}

fn part_b(
    workspace_count: usize,
    capacity: usize,
    fake_runs: usize,
    real_runs: usize,
    ks: &[usize],
) {
    // Without rate limits: the burst of runs comes from one token, faster than 30 a second.
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .without_rate_limits()
        .env("RUST_LOG", "warn")
        .start();
    let token = server.admin_token();
    let api = server.api(&token);
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-terraform");
    std::fs::write(&fake, FAKE_TERRAFORM).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let real = PathBuf::from("terraform");

    let workspaces: Vec<(String, String)> = (0..workspace_count)
        .map(|i| {
            let ws = api
                .post(
                    "organizations/default/workspaces",
                    &json!({"data": {"type": "workspaces", "attributes": {"name": format!("queue-{i}")}}}),
                )
                .expect(201);
            assert_eq!(ws.attr("execution-mode"), "remote", "{}", ws.text);
            let ws_id = ws.id();
            let cv_id = upload_configuration(&api, &ws_id, &[("main.tf", TINY)], false);
            (ws_id, cv_id)
        })
        .collect();

    println!(
        "(b) queued plan-only runs dispatched by K external listeners (capacity {capacity} each),"
    );
    println!("    {workspace_count} workspaces, runs queued in a burst from 4 client threads");
    for (title, terraform, runs) in [
        (
            "    with a stand-in terraform (a shell script that answers at once): dispatch and the runner",
            &fake,
            fake_runs,
        ),
        (
            "    with the real terraform 1.11.4 (one terraform_data resource)",
            &real,
            real_runs,
        ),
    ] {
        if runs == 0 {
            continue;
        }
        // One unmeasured run first: caches, the first runner process, the first terraform.
        round(&server, &api, &workspaces, 1, capacity, 1, terraform, dir.path());
        let rounds: Vec<Round> = ks
            .iter()
            .map(|&k| round(&server, &api, &workspaces, k, capacity, runs, terraform, dir.path()))
            .collect();
        print_rounds(title, capacity, &rounds);
    }
    println!("    window: first run created to last run finished (server timestamps); queueing: creating");
    println!("    the runs through the API; wait: queued to claimed; job: claimed to finished; run: queued");
    println!("    to finished (medians). CPU: the server's (which also answers this benchmark's polling),");
    println!("    the listeners' with their runner processes and terraform, and this benchmark's; busy: the");
    println!("    machine's CPU time (all cores) not idle while the runs were queued and ran; others: the");
    println!("    part of it not accounted for by the processes above (other work on the machine: noise).");
}

fn main() {
    let reps = setting("BENCH_REPS", 5);
    let resources = setting("BENCH_RESOURCES", 100);
    let workspaces = setting("BENCH_WORKSPACES", 8);
    let capacity = setting("BENCH_CAPACITY", 2);
    let fake_runs = setting("BENCH_FAKE_RUNS", 200);
    let real_runs = setting("BENCH_REAL_RUNS", 32);
    let ks: Vec<usize> = std::env::var("BENCH_LISTENERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|k| k.trim().parse().expect("BENCH_LISTENERS: numbers"))
        .collect();
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "Remote execution through Terrace (SQLite, local blob store, {} build of terrace; {cpus} cores)",
        if terrace_bin().components().any(|c| c.as_os_str() == "release") {
            "release"
        } else {
            "debug"
        }
    );
    println!("load average at the start: {}", load_average());
    println!();
    if part != "b" {
        part_a(reps, resources);
    }
    if part != "a" {
        part_b(workspaces, capacity, fake_runs, real_runs, &ks);
    }
    println!();
    println!("load average at the end: {}", load_average());
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
