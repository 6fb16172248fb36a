#!/usr/bin/env bash
# API at scale benchmark (docs/benchmarks.md, issue 13): release builds of the server and the
# benchmark, then N workspaces seeded through the API and the list, search, filter and GET
# requests measured at 1, 4 and 32 connections against GET /api/v2/ping, on embedded SQLite
# (10,000 workspaces) and, when a PostgreSQL is configured, on PostgreSQL (100,000).
# PostgreSQL: `scripts/services.sh start /tmp/svc-bench && . /tmp/svc-bench/env.sh` first, or
# TERRACE_BENCH_DATABASE_URL=<an empty database>.
# Settings: BENCH_DB, BENCH_WORKSPACES, BENCH_SQLITE_WORKSPACES, BENCH_POSTGRES_WORKSPACES,
# BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_SEED_CONNECTIONS (see tests/src/bin/bench_api.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p terrace-api --bin terrace -p terrace-tests --bin bench_api
target=${CARGO_TARGET_DIR:-$PWD/target}
TERRACE_BIN=$target/release/terrace exec "$target/release/bench_api"
