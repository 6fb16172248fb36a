//! Benchmark: the API at scale (issue 13).
//!
//! Seeds N workspaces through the API (16 connections; names built from team, service and
//! environment words so that a substring search matches a known share, two tags each and one
//! of ten projects), then measures, at 1, 4 and 32 keep-alive HTTPS connections for a fixed
//! time each:
//! - `GET /api/v2/ping` (the cheapest request, unauthenticated: the baseline) and
//!   `GET /api/v2/account/details` (the cheapest authenticated one);
//! - a page of 100 workspaces: the first, the middle and the last page;
//! - `search[name]` with a team word (about 2% of the workspaces match);
//! - `search[tags]` with a team tag (about 2%), `filter[project][id]` (10%);
//! - a page of 100 of the runs of a workspace with 10,000 runs (BENCH_RUNS), random pages;
//! - `GET /api/v2/workspaces/:id` of random workspaces.
//!
//! For each: requests, req/s, p50/p95/p99 latency, the server's CPU per request (utime +
//! stime of its process, /proc/PID/stat; on PostgreSQL the database's own CPU is not in it)
//! and p50 against the ping's at the same connection count.
//!
//! Run it with `scripts/bench-api.sh` (release build). Settings (environment):
//! BENCH_DB (sqlite, postgres or both; both when a PostgreSQL is configured, sqlite otherwise),
//! BENCH_WORKSPACES (N; 100,000 on PostgreSQL and 10,000 on SQLite; BENCH_SQLITE_WORKSPACES and
//! BENCH_POSTGRES_WORKSPACES set one database's), BENCH_SECONDS (10 per
//! measure and connection count), BENCH_CONNECTIONS (1,4,32), BENCH_SEED_CONNECTIONS (16),
//! BENCH_RUNS (10,000), BENCH_MEASURES (label prefixes to run, comma-separated; the ping
//! baseline always runs), BENCH_PERF_DIR (a `perf record -g` of the server per measure there).
//! Two builds side by side: BENCH_COMPARE_BIN (a second `terrace`, B, started on the data
//! that TERRACE_BIN's server, A, seeded; each measure runs on A and B in turn, BENCH_ROUNDS
//! times, 3 by default, and each build's rounds are reported together).
//! PostgreSQL: TERRACE_BENCH_DATABASE_URL (an empty database to use), or
//! TERRACE_TEST_POSTGRES_URL (a server where a fresh database is created; `scripts/services.sh
//! start DIR && . DIR/env.sh` sets it).

use std::io::Read;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::{sample_memory, Api, Db, Server};

const ORG: &str = "bench";
const PROJECTS: usize = 10;
const PAGE_SIZE: usize = 100;
const TEAMS: [&str; 50] = [
    "falcon", "otter", "badger", "heron", "lynx", "marten", "osprey", "puffin", "raven", "stoat",
    "walrus", "yak", "zebra", "bison", "coyote", "dingo", "egret", "ferret", "gecko", "hyena",
    "ibis", "jackal", "koala", "lemur", "moose", "newt", "ocelot", "panda", "quail", "robin",
    "salmon", "tapir", "urchin", "vole", "wombat", "alpaca", "beaver", "cobra", "dolphin", "eagle",
    "finch", "gibbon", "hornet", "iguana", "jaguar", "kiwi", "llama", "mole", "narwhal", "orca",
];
const SERVICES: [&str; 20] = [
    "api", "web", "db", "cache", "queue", "auth", "billing", "search", "mail", "cdn", "dns", "vpc",
    "iam", "logs", "metrics", "batch", "etl", "ml", "edge", "vault",
];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Workspace `i`'s name, tags and project index: `otter-billing-prod-00042`, tagged
/// `team-otter` and `prod`, in project `i % 10`.
fn workspace_of(i: usize) -> (String, [String; 2], usize) {
    let team = TEAMS[i % TEAMS.len()];
    let service = SERVICES[(i / TEAMS.len()) % SERVICES.len()];
    let env = ENVS[(i / 7) % ENVS.len()];
    (
        format!("{team}-{service}-{env}-{i:06}"),
        [format!("team-{team}"), env.to_string()],
        i % PROJECTS,
    )
}

/// A small xorshift generator: which page, word or workspace each request asks for.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// CPU seconds (user + system) of a process so far (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    ticks / clock_ticks()
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

/// One GET whose body is read whole (not parsed: the client shares the machine's cores).
fn fetch(api: &Api, path: &str) {
    let mut response = api.raw("GET", path, None);
    let status = response.status();
    let mut body = Vec::new();
    response.read_to_end(&mut body).expect("the body arrives");
    assert!(
        status.is_success(),
        "GET {path}: {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
}

/// What the seeding left for the measures to ask for.
struct Seeded {
    workspace_ids: Vec<String>,
    project_ids: Vec<String>,
    /// The workspace holding [`busy_runs`] runs, and how many.
    busy_workspace: String,
    busy_runs: usize,
}

fn seed(server: &Server, token: &str, n: usize, connections: usize) -> Seeded {
    let api = server.api(token);
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": ORG, "email": "bench@example.com"}}}),
    )
    .expect(201);
    let project_ids: Vec<String> = (0..PROJECTS)
        .map(|p| {
            api.post(
                &format!("organizations/{ORG}/projects"),
                &json!({"data": {"type": "projects", "attributes": {"name": format!("project-{p}")}}}),
            )
            .expect(201)
            .id()
        })
        .collect();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let api = server.api(token);
            let next = next.clone();
            let projects = project_ids.clone();
            std::thread::spawn(move || {
                let mut made = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return made;
                    }
                    let (name, tags, project) = workspace_of(i);
                    let id = api
                        .post(
                            &format!("organizations/{ORG}/workspaces"),
                            &json!({"data": {"type": "workspaces",
                                "attributes": {"name": name},
                                "relationships": {
                                    "project": {"data": {"type": "projects", "id": projects[project]}},
                                    "tags": {"data": tags.iter().map(|t| json!({"type": "tags", "attributes": {"name": t}})).collect::<Vec<_>>()},
                                }}}),
                        )
                        .expect(201)
                        .id();
                    made.push(id);
                    if i > 0 && i.is_multiple_of(10_000) {
                        eprintln!(
                            "  {i} workspaces, {:.0}/s",
                            i as f64 / started.elapsed().as_secs_f64()
                        );
                    }
                }
            })
        })
        .collect();
    let mut workspace_ids = Vec::with_capacity(n);
    for thread in threads {
        workspace_ids.extend(thread.join().expect("a seeding thread"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {n} workspaces through the API with {connections} connections in {elapsed:.1} s: {:.0} workspaces/s",
        n as f64 / elapsed
    );
    let busy_runs = setting("BENCH_RUNS", 10_000);
    let busy_workspace = workspace_ids[0].clone();
    seed_runs(server, token, &busy_workspace, busy_runs, connections);
    Seeded {
        workspace_ids,
        project_ids,
        busy_workspace,
        busy_runs,
    }
}

/// `VACUUM ANALYZE` on PostgreSQL after seeding: what autovacuum does by itself some time
/// after a bulk insert (statistics, and the visibility map that lets counts and pages read
/// indexes alone). An installation does not gain 100,000 workspaces in three minutes.
fn settle(url: &str) {
    use sqlx::{Connection, Executor};
    let started = Instant::now();
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            conn.execute("VACUUM ANALYZE").await?;
            conn.close().await
        })
        .expect("VACUUM ANALYZE");
    println!("VACUUM ANALYZE in {:.1} s", started.elapsed().as_secs_f64());
}

/// `n` runs on one workspace through the API (they queue: the server has no listener).
fn seed_runs(server: &Server, token: &str, workspace_id: &str, n: usize, connections: usize) {
    let api = server.api(token);
    let configuration = terrace_tests::runs::upload_configuration(
        &api,
        workspace_id,
        &[("main.tf", "terraform {}\n")],
        false,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let api = server.api(token);
            let (next, workspace, configuration) = (
                next.clone(),
                workspace_id.to_string(),
                configuration.clone(),
            );
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    terrace_tests::runs::create_run(
                        &api,
                        &workspace,
                        Some(&configuration),
                        json!({"message": "bench"}),
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a seeding thread");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {n} runs of one workspace through the API in {elapsed:.1} s: {:.0} runs/s",
        n as f64 / elapsed
    );
}

/// A measure: its label and the path of its request number `k` (random numbers from `rng`).
struct Measure {
    label: &'static str,
    path: Box<dyn Fn(&mut Rng) -> String + Send + Sync>,
}

fn measures(seeded: &Seeded) -> Vec<Measure> {
    let n = seeded.workspace_ids.len();
    let pages = n.div_ceil(PAGE_SIZE).max(1);
    let list = move |page: usize| {
        format!("organizations/{ORG}/workspaces?page%5Bsize%5D={PAGE_SIZE}&page%5Bnumber%5D={page}")
    };
    let ids = Arc::new(seeded.workspace_ids.clone());
    let projects = seeded.project_ids.clone();
    let busy = seeded.busy_workspace.clone();
    let run_pages = seeded.busy_runs.div_ceil(PAGE_SIZE).max(1);
    vec![
        Measure {
            label: "ping (baseline)",
            path: Box::new(|_: &mut Rng| "ping".to_string()),
        },
        Measure {
            label: "account/details",
            path: Box::new(|_: &mut Rng| "account/details".to_string()),
        },
        Measure {
            label: "list, first page",
            path: Box::new(move |_: &mut Rng| list(1)),
        },
        Measure {
            label: "list, middle page",
            path: Box::new(move |_: &mut Rng| list(pages.div_ceil(2))),
        },
        Measure {
            label: "list, last page",
            path: Box::new(move |_: &mut Rng| list(pages)),
        },
        Measure {
            label: "search[name]",
            path: Box::new(|rng: &mut Rng| {
                format!(
                    "organizations/{ORG}/workspaces?page%5Bsize%5D={PAGE_SIZE}&search%5Bname%5D={}",
                    TEAMS[rng.below(TEAMS.len())]
                )
            }),
        },
        Measure {
            label: "search[tags]",
            path: Box::new(|rng: &mut Rng| {
                format!(
                    "organizations/{ORG}/workspaces?page%5Bsize%5D={PAGE_SIZE}&search%5Btags%5D=team-{}",
                    TEAMS[rng.below(TEAMS.len())]
                )
            }),
        },
        Measure {
            label: "filter[project][id]",
            path: Box::new(move |rng: &mut Rng| {
                format!(
                    "organizations/{ORG}/workspaces?page%5Bsize%5D={PAGE_SIZE}&filter%5Bproject%5D%5Bid%5D={}",
                    projects[rng.below(projects.len())]
                )
            }),
        },
        Measure {
            label: "runs of a workspace",
            path: Box::new(move |rng: &mut Rng| {
                format!(
                    "workspaces/{busy}/runs?page%5Bsize%5D={PAGE_SIZE}&page%5Bnumber%5D={}",
                    1 + rng.below(run_pages)
                )
            }),
        },
        Measure {
            label: "GET workspaces/:id",
            path: Box::new(move |rng: &mut Rng| {
                format!("workspaces/{}", ids[rng.below(ids.len())])
            }),
        },
    ]
}

struct Outcome {
    requests: usize,
    elapsed: f64,
    /// Sorted latencies, seconds.
    latencies: Vec<f64>,
    server_cpu: f64,
}

impl Outcome {
    /// Adds another round of the same measure; its latencies must be sorted again.
    fn absorb(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.server_cpu += other.server_cpu;
    }

    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// `connections` threads, each with its own client (one keep-alive connection), send the
/// measure's requests back to back for `duration`.
fn run(
    server: &Server,
    token: &str,
    measure: &Arc<Measure>,
    connections: usize,
    duration: Duration,
) -> Outcome {
    let pid = server.pid().expect("the server runs");
    let barrier = Arc::new(Barrier::new(connections + 1));
    let deadline = Arc::new(Mutex::new(Instant::now()));
    let threads: Vec<_> = (0..connections)
        .map(|t| {
            let api = server.api(token);
            let (barrier, deadline, measure) = (barrier.clone(), deadline.clone(), measure.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(t as u64 + 1);
                // The TLS handshake and the first request happen before the clock starts.
                fetch(&api, &(measure.path)(&mut rng));
                barrier.wait();
                barrier.wait();
                let until = *deadline.lock().unwrap();
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let path = (measure.path)(&mut rng);
                    let started = Instant::now();
                    fetch(&api, &path);
                    latencies.push(started.elapsed().as_secs_f64());
                }
                latencies
            })
        })
        .collect();
    barrier.wait();
    *deadline.lock().unwrap() = Instant::now() + duration;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    barrier.wait();
    let mut latencies = Vec::new();
    for thread in threads {
        latencies.extend(thread.join().expect("a client thread"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(
        !latencies.is_empty(),
        "{}: no request finished",
        measure.label
    );
    Outcome {
        requests: latencies.len(),
        elapsed,
        latencies,
        server_cpu,
    }
}

/// The result of one measure at one connection count, on one build.
fn print_row(label: &str, width: usize, connections: usize, o: &Outcome, ping_p50: f64) {
    let p50 = o.percentile(0.50);
    println!(
        "{:<width$} {:>5} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>10.3} {:>7.1}x",
        label,
        connections,
        o.requests,
        o.requests as f64 / o.elapsed,
        p50 * 1e3,
        o.percentile(0.95) * 1e3,
        o.percentile(0.99) * 1e3,
        o.server_cpu * 1e3 / o.requests as f64,
        p50 / ping_p50.max(1e-9)
    );
}

/// A `perf record` of the server, for profiling (BENCH_PERF_DIR), stopped by [`stop_perf`].
fn start_perf(dir: &str, server: &Server, name: &str) -> std::process::Child {
    let name = name.replace(|c: char| !c.is_alphanumeric(), "-");
    Command::new("perf")
        .args(["record", "-F", "1999", "-g", "-q", "-p"])
        .arg(server.pid().expect("the server runs").to_string())
        .arg("-o")
        .arg(format!("{dir}/{name}.data"))
        .spawn()
        .expect("perf starts")
}

fn stop_perf(mut perf: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let _ = perf.wait();
}

fn bench(db: Db, n: usize, seconds: u64, connection_counts: &[usize], seed_connections: usize) {
    let builder = || {
        Server::builder(db)
            .without_rate_limits()
            .arg("--no-listener")
    };
    let mut first = builder();
    let bench_url = std::env::var("TERRACE_BENCH_DATABASE_URL").ok();
    if let (Db::Postgres, Some(url)) = (db, &bench_url) {
        first = first.database_url(url);
    }
    let server = first.start();
    let token = server.user_token("bencher");
    let shape = match db {
        Db::Sqlite => "embedded SQLite",
        Db::Postgres => "PostgreSQL",
    };
    println!();
    println!("== {shape}, {n} workspaces (release build) ==");
    let seeded = seed(&server, &token, n, seed_connections);
    if let Some(url) = &server.database_url {
        settle(url);
    }
    let rss_after_seeding = server.peak_rss_kib().unwrap_or(0);
    // BENCH_COMPARE_BIN: a second build (B) started on the same data as TERRACE_BIN's (A);
    // each measure runs on A and on B in turn, BENCH_ROUNDS times, so that the machine's drift
    // (large on a shared machine) touches both alike. Both builds must share the schema.
    let mut servers = vec![("A", server)];
    if let Some(bin) = std::env::var_os("BENCH_COMPARE_BIN") {
        let mut second = builder()
            .binary(std::path::Path::new(&bin))
            .data_dir(&servers[0].1.data_dir);
        if let Some(url) = &servers[0].1.database_url {
            second = second.database_url(url);
        }
        servers.push(("B", second.start()));
        println!(
            "A: {}\nB: {}",
            terrace_tests::terrace_bin().display(),
            std::path::Path::new(&bin).display()
        );
    }
    let comparing = servers.len() > 1;
    let rounds = setting("BENCH_ROUNDS", if comparing { 3 } else { 1 });
    let width = if comparing { 24 } else { 20 };
    println!(
        "{:<width$} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "measure",
        "conns",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "CPU ms/req",
        "p50/ping"
    );
    // BENCH_MEASURES: label prefixes to run (the ping baseline always runs).
    let wanted: Vec<String> = std::env::var("BENCH_MEASURES")
        .map(|m| m.split(',').map(|l| l.trim().to_string()).collect())
        .unwrap_or_default();
    let measures: Vec<Arc<Measure>> = measures(&seeded)
        .into_iter()
        .filter(|m| {
            wanted.is_empty()
                || m.label.starts_with("ping")
                || wanted.iter().any(|w| m.label.starts_with(w.as_str()))
        })
        .map(Arc::new)
        .collect();
    let perf_dir = std::env::var("BENCH_PERF_DIR").ok();
    let stop = Arc::new(AtomicBool::new(false));
    let samplers: Vec<_> = servers
        .iter()
        .map(|(_, server)| sample_memory(server.pid().expect("the server runs"), stop.clone()))
        .collect();
    let mut ping_p50 = vec![vec![0.0; connection_counts.len()]; servers.len()];
    for measure in &measures {
        for (c, &connections) in connection_counts.iter().enumerate() {
            let mut outcomes: Vec<Option<Outcome>> = servers.iter().map(|_| None).collect();
            for round in 0..rounds {
                // A then B, then B then A: neither always runs on the other's heels.
                let mut order: Vec<usize> = (0..servers.len()).collect();
                if round % 2 == 1 {
                    order.reverse();
                }
                for s in order {
                    let (build, server) = &servers[s];
                    let perf = perf_dir.as_ref().filter(|_| round == 0).map(|dir| {
                        let suffix = if comparing {
                            format!("-{build}")
                        } else {
                            String::new()
                        };
                        start_perf(
                            dir,
                            server,
                            &format!("{}-{connections}{suffix}", measure.label),
                        )
                    });
                    let o = run(
                        server,
                        &token,
                        measure,
                        connections,
                        Duration::from_secs(seconds),
                    );
                    if let Some(perf) = perf {
                        stop_perf(perf);
                    }
                    match &mut outcomes[s] {
                        Some(all) => all.absorb(o),
                        none => *none = Some(o),
                    }
                }
            }
            for (s, outcome) in outcomes.into_iter().enumerate() {
                let mut o = outcome.expect("at least one round");
                o.latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
                if measure.label.starts_with("ping") {
                    ping_p50[s][c] = o.percentile(0.50);
                }
                let label = if comparing {
                    format!("{} [{}]", measure.label, servers[s].0)
                } else {
                    measure.label.to_string()
                };
                print_row(&label, width, connections, &o, ping_p50[s][c]);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "server resident memory: {:.1} MiB after seeding, peak {:.1} MiB",
        mib(rss_after_seeding),
        mib(servers[0].1.peak_rss_kib().unwrap_or(0))
    );
    for (build, server) in &servers[1..] {
        println!(
            "server {build} resident memory: peak {:.1} MiB",
            mib(server.peak_rss_kib().unwrap_or(0))
        );
    }
    for ((build, _), sampler) in servers.iter().zip(samplers) {
        let (anon, file) = sampler.join().expect("the memory sampler");
        let build = if comparing {
            format!(" {build}")
        } else {
            String::new()
        };
        println!(
            "  server{build} while measuring: allocated (RssAnon) peak {:.1} MiB, mapped files \
             (RssFile: its binary, an embedded database once per connection) peak {:.1} MiB",
            mib(anon),
            mib(file)
        );
    }
}

fn main() {
    let seconds = setting("BENCH_SECONDS", 10) as u64;
    let seed_connections = setting("BENCH_SEED_CONNECTIONS", 16);
    let connection_counts: Vec<usize> = std::env::var("BENCH_CONNECTIONS")
        .unwrap_or_else(|_| "1,4,32".to_string())
        .split(',')
        .map(|c| c.trim().parse().expect("BENCH_CONNECTIONS: numbers"))
        .collect();
    let postgres_configured = std::env::var("TERRACE_BENCH_DATABASE_URL").is_ok()
        || std::env::var("TERRACE_TEST_POSTGRES_URL").is_ok();
    let which = std::env::var("BENCH_DB").unwrap_or_else(|_| {
        if postgres_configured {
            "both"
        } else {
            "sqlite"
        }
        .to_string()
    });
    let dbs: &[Db] = match which.as_str() {
        "sqlite" => &[Db::Sqlite],
        "postgres" => &[Db::Postgres],
        "both" => &[Db::Sqlite, Db::Postgres],
        other => panic!("BENCH_DB: sqlite, postgres or both, not {other:?}"),
    };
    println!(
        "API at scale: {seconds} s per measure and connection count, connections {connection_counts:?}, \
         pages of {PAGE_SIZE}, {} cores shared by client and server",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for &db in dbs {
        let (default, name) = match db {
            Db::Sqlite => (10_000, "BENCH_SQLITE_WORKSPACES"),
            Db::Postgres => (100_000, "BENCH_POSTGRES_WORKSPACES"),
        };
        bench(
            db,
            setting(name, setting("BENCH_WORKSPACES", default)),
            seconds,
            &connection_counts,
            seed_connections,
        );
    }
}
