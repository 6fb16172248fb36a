#!/usr/bin/env bash
# cargo-deny over the workspace, with deny.toml's policy: licenses, bans (one version of each
# crate, but for the listed exceptions), sources and, when the RustSec advisory database can be
# had, advisories. scripts/test.sh runs it before the long build, so a violation fails fast;
# scripts/install-test-deps.sh installs cargo-deny.
#
# The advisory database is a git repository on GitHub, which cargo-deny clones into
# ~/.cargo/advisory-dbs. Where GitHub cannot be reached (the project's build machines reach
# the package registries only, and no registry carries the database), advisories are NOT
# checked: this script says so loudly and checks the rest. A copy fetched earlier (on a machine
# with GitHub) is used, with a warning that it may be stale.
set -euo pipefail
cd "$(dirname "$0")/.."

dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if cargo deny --locked fetch db >/dev/null 2>&1; then
  echo "deny.sh: advisory database up to date; checking advisories, bans, licenses, sources"
  exec cargo deny --locked check --disable-fetch
fi
if [ -n "$(find "$dbs" -mindepth 2 -maxdepth 2 -name .git 2>/dev/null | head -n1)" ]; then
  echo "deny.sh: WARNING: cannot update the RustSec advisory database (GitHub unreachable);"
  echo "deny.sh: WARNING: checking advisories against the copy in $dbs, which may be stale"
  exec cargo deny --locked check --disable-fetch
fi
cat <<'BANNER'
############################################################################################
## deny.sh: SECURITY ADVISORIES ARE NOT CHECKED.                                          ##
## cargo-deny needs the RustSec advisory database, a git repository on GitHub; GitHub     ##
## cannot be reached from here and no package registry carries the database. Only bans,   ##
## licenses and sources are checked. Run `scripts/deny.sh` (or `cargo deny check          ##
## advisories`) on a machine that reaches GitHub to check advisories.                     ##
############################################################################################
BANNER
exec cargo deny --locked check bans licenses sources
