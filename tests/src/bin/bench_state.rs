//! Benchmark: state round trips (upload through a signed URL, then download) of 1 MB and
//! 100 MB states through the real server, against a plain file copy of the same bytes on the
//! same machine, measured in the same run; and the server's peak memory while doing it.
//!
//! Run it with `scripts/bench-state.sh` (release build). Prints a table; docs/benchmarks.md
//! explains the figures.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{json, Value};
use terrace_tests::{proc_status_kib, sample_memory, Db, Server};

/// A valid Terraform v4 state of about `target` bytes: many small resources, as real large
/// states are.
fn state_of_size(target: usize, serial: i64) -> Vec<u8> {
    let mut out = format!(
        "{{\"version\":4,\"terraform_version\":\"1.11.4\",\"serial\":{serial},\"lineage\":\"bench-lineage\",\"outputs\":{{\"size\":{{\"value\":\"{target}\",\"type\":\"string\"}}}},\"resources\":["
    )
    .into_bytes();
    let mut i = 0u64;
    while out.len() < target {
        if i > 0 {
            out.push(b',');
        }
        let payload: String = (0..200)
            .map(|j| format!("{:08x}", (i * 2654435761 + j) as u32))
            .collect();
        out.extend_from_slice(
            format!(
                "{{\"mode\":\"managed\",\"type\":\"terraform_data\",\"name\":\"r{i}\",\"provider\":\"provider[\\\"terraform.io/builtin/terraform\\\"]\",\"instances\":[{{\"schema_version\":0,\"attributes\":{{\"id\":\"{i}\",\"input\":{{\"value\":\"{payload}\",\"type\":\"string\"}}}},\"sensitive_attributes\":[]}}]}}"
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.extend_from_slice(b"],\"check_results\":null}");
    out
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn mb_per_s(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

/// Baseline: write the bytes to a file, copy it, read the copy back.
fn file_round_trip(dir: &std::path::Path, data: &[u8]) -> Duration {
    let source = dir.join("source.tfstate");
    std::fs::write(&source, data).unwrap();
    let started = Instant::now();
    let copy = dir.join("copy.tfstate");
    std::fs::copy(&source, &copy).unwrap();
    let mut back = Vec::with_capacity(data.len());
    std::fs::File::open(&copy)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(back.len(), data.len());
    elapsed
}

struct Timings {
    upload: Duration,
    download: Duration,
}

/// One state write and read through the API, as the CLI does it: lock, create the version,
/// PUT the state (streamed from `file`) to its upload URL, unlock, then download the current
/// state, hashing it as it arrives.
fn api_round_trip(
    server: &Server,
    token: &str,
    ws: &str,
    data: &[u8],
    file: &std::path::Path,
    serial: i64,
) -> Timings {
    let api = server.api(token);
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .ok();
    let md5 = hex::encode(Md5::digest(data));
    let started = Instant::now();
    let created = api
        .post(
            &format!("workspaces/{ws}/state-versions"),
            &json!({"data": {"type": "state-versions", "attributes": {"serial": serial, "md5": md5, "lineage": "bench-lineage"}}}),
        )
        .ok();
    let upload_url = created
        .attr("hosted-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    let body = reqwest::blocking::Body::from(std::fs::File::open(file).unwrap());
    let put = api
        .anonymous()
        .raw("PUT", &upload_url, Some((body, "application/octet-stream")));
    assert!(put.status().is_success(), "upload failed: {}", put.status());
    let upload = started.elapsed();
    api.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .ok();

    let started = Instant::now();
    let current = api
        .get(&format!("workspaces/{ws}/current-state-version"))
        .ok();
    let download_url = current
        .attr("hosted-state-download-url")
        .as_str()
        .unwrap()
        .to_string();
    let mut response = api.raw("GET", &download_url, None);
    assert!(response.status().is_success());
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = response.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let download = started.elapsed();
    assert_eq!(
        hex::encode(hasher.finalize()),
        md5,
        "the state comes back intact"
    );
    Timings { upload, download }
}

fn main() {
    // Without rate limits: the 1 MB round trips alone send more than 30 requests a second.
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let token = server.admin_token();
    let api = server.api(&token);
    let ws: Value = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "bench"}}}),
        )
        .ok()
        .body;
    let ws = ws["data"]["id"].as_str().unwrap().to_string();
    let idle_rss = server.peak_rss_kib().unwrap_or(0);
    let pid = server.pid().expect("the server runs");
    // From here `VmHWM` counts the round trips alone: the start's own peak (the router and
    // its OpenAPI document being built) is printed above it.
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let idle_anon = proc_status_kib(pid, "RssAnon").unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_memory(pid, stop.clone());
    let dir = tempfile::tempdir().unwrap();

    println!("State round trips through Terrace (SQLite, local blob store, release build) vs a file copy");
    println!(
        "{:>8} {:>5} {:>12} {:>12} {:>12} {:>12} {:>8}",
        "size", "runs", "file copy", "API upload", "API download", "API total", "ratio"
    );
    let mut serial = 1;
    for (label, size, runs) in [("1 MB", 1_000_000, 20), ("100 MB", 100_000_000, 3)] {
        let data = state_of_size(size, 0);
        let file = dir.path().join("upload.tfstate");
        std::fs::write(&file, &data).unwrap();
        let copies: Vec<Duration> = (0..runs)
            .map(|_| file_round_trip(dir.path(), &data))
            .collect();
        let mut uploads = Vec::new();
        let mut downloads = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..runs {
            let t = api_round_trip(&server, &token, &ws, &data, &file, serial);
            serial += 1;
            totals.push(t.upload + t.download);
            uploads.push(t.upload);
            downloads.push(t.download);
        }
        let (copy, total) = (median(copies), median(totals));
        println!(
            "{label:>8} {runs:>5} {:>9.1} ms {:>9.1} ms {:>9.1} ms {:>9.1} ms {:>7.1}x",
            copy.as_secs_f64() * 1e3,
            median(uploads).as_secs_f64() * 1e3,
            median(downloads).as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            total.as_secs_f64() / copy.as_secs_f64()
        );
        println!(
            "{:>8} {:>5} {:>9.0} MB/s {:>24} {:>9.0} MB/s",
            "",
            "",
            mb_per_s(data.len() * 2, copy),
            "",
            mb_per_s(data.len() * 2, total)
        );
    }
    let peak = server.peak_rss_kib().unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let (peak_anon, peak_file) = sampler.join().unwrap();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!(
        "server resident memory: peak {:.1} MiB while starting, peak {:.1} MiB {}",
        mib(idle_rss),
        mib(peak),
        match reset {
            true => "during the round trips",
            false => "since start (its peak could not be reset)",
        }
    );
    println!(
        "  of which allocated (RssAnon): {:.1} MiB after start, peak {:.1} MiB; mapped files, the binary and the database (RssFile): peak {:.1} MiB",
        mib(idle_anon),
        mib(peak_anon),
        mib(peak_file)
    );
    println!("(the 100 MB state would need at least 100 MiB if it were held whole; it is streamed in 1 MiB chunks)");
}
