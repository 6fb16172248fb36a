#!/usr/bin/env bash
# State round-trip benchmark (docs/benchmarks.md): release builds of the server and the
# benchmark, then 1 MB and 100 MB states through the API against a plain file copy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p terrace-api --bin terrace -p terrace-tests --bin bench-state
TERRACE_BIN=$PWD/target/release/terrace exec target/release/bench-state
