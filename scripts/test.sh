#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (PostgreSQL, Go and
# Debian's go-tfe, SeaweedFS, cargo-deny, a Kubernetes control plane built from source),
# checks the dependency policy (scripts/deny.sh), starts a throwaway PostgreSQL and S3 server
# on loopback, builds, and runs every test against the real parts. Exits non-zero if anything
# fails or is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Free space first: a full disk shows up later as odd failures (object store 500s, ENOSPC).
df -h / "${TMPDIR:-/tmp}" | sed 's/^/test.sh: /'
scripts/install-test-deps.sh
# The dependency policy (deny.toml) first: a banned duplicate, license or source fails in
# seconds, not after the build. Advisories need GitHub; deny.sh says loudly when it cannot.
scripts/deny.sh
# A Kubernetes control plane for the kubernetes executor's tests (tests/tests/kubernetes.rs):
# etcd from apt; kube-apiserver, controller-manager and scheduler built from Debian's source
# package once (about 7 minutes) and cached in ~/.cache/terrace-k8s.
scripts/kube.sh build
# The terraform CLI cannot be installed from the reachable registries; the machines of this
# project carry it. Without it the end-to-end tests cannot run: say so and fail.
if ! command -v terraform >/dev/null; then
  echo "test.sh: the terraform CLI is not on PATH; the end-to-end tests need it" >&2
  exit 1
fi
# sed, not head: head exits after one line and terraform would die of SIGPIPE (pipefail).
terraform version | sed -n 1p

services=$(mktemp -d)
go_log=$(mktemp)
# Stopped and removed: CI machines are reused, and a data directory per run adds up.
trap 'scripts/services.sh stop "$services" >/dev/null; rm -rf "$services" "$go_log"' EXIT
scripts/services.sh start "$services"
# shellcheck source=/dev/null
. "$services/env.sh"

# The Go-built tools (scripts/go-tools.sh) build while cargo does: both mostly wait on
# downloads and the linker at different times.
scripts/go-tools.sh build >"$go_log" 2>&1 &
go_pid=$!
cargo build --locked --workspace --all-targets
if ! wait "$go_pid"; then
  cat "$go_log" >&2
  echo "test.sh: building the Go tools failed (above)" >&2
  exit 1
fi
cat "$go_log"
export TERRACE_BIN=$PWD/target/debug/terrace
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --profile ci
else
  cargo test --locked --workspace --no-fail-fast
fi
