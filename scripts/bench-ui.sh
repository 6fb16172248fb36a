#!/usr/bin/env bash
# Web UI benchmark (docs/benchmarks.md): release builds of the server and the benchmark, then
# every page's time and first-load size with 1,000 workspaces and 10,000 runs on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p terrace-api --bin terrace -p terrace-tests --bin bench-ui
target=${CARGO_TARGET_DIR:-$PWD/target}
TERRACE_BIN=$target/release/terrace exec "$target/release/bench-ui"
