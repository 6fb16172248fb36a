#!/usr/bin/env bash
# The Go-built tools the tests use (clients, test providers, HashiCorp's client test suite),
# built from the Go module proxy into one cache folder the test command owns and reused while
# their inputs are unchanged. scripts/test.sh builds them while cargo builds.
#
#   go-tools.sh build [TOOL...]   builds the named tools (default: all of them)
#   go-tools.sh dir               prints the cache folder ($TERRACE_TOOLS, or ~/.cache/terrace-tools)
#
# Each tool is built into a temporary folder and moved into place whole, so an interrupted
# build never leaves a half tool behind. tests/src/tools.rs finds them.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${TERRACE_TOOLS:-$HOME/.cache/terrace-tools}
export GOFLAGS=-mod=mod
ALL=()

usage() { echo "usage: $0 build [${ALL[*]}] | dir" >&2; exit 2; }

# module_dir MODULE@VERSION: the module's source in the Go module cache (downloaded if needed).
module_dir() {
  go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

# install NAME STAMP BUILD_FUNCTION: runs BUILD_FUNCTION OUT (a fresh folder) unless
# $TOOLS/NAME was built with the same STAMP, then moves OUT into place.
install() {
  local name=$1 stamp=$2 build=$3 dest=$TOOLS/$1
  if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$stamp" ]; then
    echo "go-tools.sh: $name up to date in $dest"
    return
  fi
  mkdir -p "$TOOLS"
  local out; out=$(mktemp -d "$TOOLS/.$name.XXXXXX")
  local start=$SECONDS
  "$build" "$out"
  echo "$stamp" > "$out/.stamp"
  rm -rf "$dest"; mv "$out" "$dest"
  echo "go-tools.sh: built $name in $((SECONDS - start)) s into $dest"
}

# providers: a filesystem mirror (terraform's unpacked layout) of the providers test
# configurations use, for servers and listeners started with --provider-mirror-dir: our
# stand-ins for hashicorp/null and hashicorp/random (tests/providers, at the versions
# go-tfe's fixtures pin) and the real hashicorp/time.
ALL+=(providers)
OWN_PROVIDERS=(null:3.1.1 random:3.3.2)
TIME_PROVIDER=0.14.2
tool_providers() {
  local stamp
  stamp=$({
    printf '%s\n' "${OWN_PROVIDERS[@]}" "time:$TIME_PROVIDER" "$(go env GOVERSION)"
    find tests/providers -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1)
  install providers "$stamp" build_providers
}
build_providers() {
  local out=$1 platform type version dir
  platform=$(go env GOOS)_$(go env GOARCH)
  for provider in "${OWN_PROVIDERS[@]}" "time:$TIME_PROVIDER"; do
    type=${provider%%:*} version=${provider#*:}
    dir=$out/registry.terraform.io/hashicorp/$type/$version/$platform
    mkdir -p "$dir"
    if [ "$type" = time ]; then
      GOBIN=$dir go install "github.com/hashicorp/terraform-provider-time@v$version"
      mv "$dir/terraform-provider-time" "$dir/terraform-provider-time_v$version"
    else
      (cd tests/providers && go build -trimpath -ldflags "-X main.version=$version" \
        -o "$dir/terraform-provider-${type}_v$version" "./$type")
    fi
  done
  # The same under tofu's default registry host. Terraform and tofu ignore symlinks inside a
  # mirror (only the mirror folder itself may be one), so these are hard links.
  mkdir -p "$out/registry.opentofu.org"
  cp -al "$out/registry.terraform.io/hashicorp" "$out/registry.opentofu.org/"
}

# The clients the CLI suites run besides the terraform on PATH (tests/src/terraform.rs, Client).
TERRAFORM_157=github.com/hashicorp/terraform@v1.5.7
ALL+=(terraform-1.5.7)
tool_terraform_1_5_7() {
  install terraform-1.5.7 "$TERRAFORM_157 $(go env GOVERSION)" build_terraform_1_5_7
}
build_terraform_1_5_7() { GOBIN=$1 go install "$TERRAFORM_157"; }

OPENTOFU_1126=github.com/opentofu/opentofu@v1.12.6
ALL+=(tofu-1.12.6)
tool_tofu_1_12_6() {
  install tofu-1.12.6 "$OPENTOFU_1126 $(go env GOVERSION)" build_tofu_1_12_6
}
# Built inside its module (its go.mod's replace directives apply); without version.dev=no it
# calls itself 1.12.6-dev, and the workspaces it creates ask for that version.
build_tofu_1_12_6() {
  local out=$1 src; src=$(module_dir "$OPENTOFU_1126")
  (cd "$src" && GOFLAGS=-mod=readonly go build -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o "$out/tofu" ./cmd/tofu)
}

# go-tfe v1's test suite (tests/tests/gotfe_v1.rs runs it against the server): the test binary,
# the fixtures it reads relative to its working directory, and groups.tsv (each test's resource
# group: the name of the file it is in, for the tally). The stamp is the version and this recipe.
GOTFE_V1=github.com/hashicorp/go-tfe@v1.111.2
build_gotfe_v1() {
  local src; src=$(module_dir "$GOTFE_V1")
  (cd "$src" && go test -c -o "$1/gotfe-v1.test" .)
  cp -r "$src/test-fixtures" "$1/test-fixtures"
  # The module cache is read-only; the copies must be removable by the next build.
  chmod -R u+w "$1/test-fixtures"
  (cd "$src" && grep -o '^func Test[A-Za-z0-9_]*(t \*testing\.T)' -- *_test.go) |
    sed -E 's/^([a-z0-9_]+)_test\.go:func (Test[A-Za-z0-9_]*)\(.*/\2\t\1/; s/(_inte[r]?gration)?(_beta)?$//' \
    > "$1/groups.tsv"
}
tool_gotfe_v1() {
  install gotfe-v1 "$GOTFE_V1 $(declare -f build_gotfe_v1 | sha256sum | cut -c1-16)" build_gotfe_v1
}
ALL+=(gotfe-v1)

case "${1:-}" in
  dir) echo "$TOOLS" ;;
  build)
    shift
    [ $# -gt 0 ] || set -- "${ALL[@]}"
    for tool in "$@"; do
      case " ${ALL[*]} " in *" $tool "*) ;; *) echo "go-tools.sh: unknown tool $tool" >&2; usage ;; esac
      "tool_${tool//[-.]/_}"
    done
    ;;
  *) usage ;;
esac
