#!/usr/bin/env bash
# Remote execution benchmark (docs/benchmarks.md): release builds of the server and the
# benchmark, then (a) terraform plan/apply through Terrace against local runs of the same
# configuration and (b) queued runs per second with 1, 2 and 4 external listeners.
# Needs terraform on PATH (no network: only built-in terraform_data resources).
# Settings: BENCH_REPS, BENCH_RESOURCES, BENCH_WORKSPACES, BENCH_CAPACITY, BENCH_FAKE_RUNS,
# BENCH_REAL_RUNS, BENCH_LISTENERS, BENCH_PART (see tests/src/bin/bench_runs.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v terraform >/dev/null || { echo "terraform is not on PATH" >&2; exit 1; }
cargo build --release --locked -p terrace-api --bin terrace -p terrace-tests --bin bench_runs
TERRACE_BIN=$PWD/target/release/terrace exec target/release/bench_runs
