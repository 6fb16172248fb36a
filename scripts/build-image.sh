#!/usr/bin/env bash
# Build Terrace's container image without a Docker daemon: an OCI image layout (a directory
# that `skopeo copy oci:DIR:TAG ...` pushes anywhere) holding one layer with
#
#   /usr/local/bin/terrace         the given binary, as it is (not stripped, not rebuilt)
#   /usr/local/bin/terrace-runner  the runner's binary, when it is next to the given one
#   /usr/local/bin/terraform       only with --terraform (a binary or a release zip)
#   /usr/lib/..., /lib64 -> ...     the shared libraries `ldd` names for the binaries, and the loader
#   /etc/ssl/certs/ca-certificates.crt   the build machine's CA bundle
#   /etc/passwd, /etc/group        root, and nonroot (65532:65532, home /home/nonroot)
#   /tmp (1777), /home/nonroot (0700, 65532)
#
# and a config that runs `terrace` as 65532:65532. The build is reproducible: every entry's
# mtime is SOURCE_DATE_EPOCH (default: the last commit's time, else 0), entries are sorted,
# owners are numeric and fixed, gzip carries no name or time, and the JSON is written in one
# fixed form, so the same inputs always give the same manifest digest.
#
#   scripts/build-image.sh [--binary target/dist/terrace] [--output target/image]
#                          [--tag VERSION] [--terraform FILE] [--source-date-epoch SECONDS]
#
# The tag defaults to the binary's version (`terrace --version`), giving `terrace:VERSION`,
# the reference the Kubernetes executor and the Helm chart use by default. An existing layout
# at --output keeps its other tags; the tag built is replaced. Prints the manifest digest.
# REVISION (default: git HEAD) and IMAGE_SOURCE (a URL) fill those labels.
# Needs bash, python3 (standard library only) and ldd. See docs/image.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary="$root/target/dist/terrace"
output="$root/target/image"
tag=""
terraform=""
sde="${SOURCE_DATE_EPOCH:-}"

usage() { sed -n "2,24p" "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --output) output=${2:?}; shift 2 ;;
    --tag) tag=${2:?}; shift 2 ;;
    --terraform) terraform=${2:?}; shift 2 ;;
    --source-date-epoch) sde=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "build-image.sh: unknown argument $1" >&2; usage ;;
  esac
done

die() { echo "build-image.sh: $*" >&2; exit 1; }
[ -x "$binary" ] || die "$binary is not an executable (cargo build --profile dist --bin terrace --bin terrace-runner first)"
command -v python3 >/dev/null || die "python3 is needed"

if [ -z "$sde" ]; then
  sde=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
[[ "$sde" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be a number of seconds, not $sde"
version=$("$binary" --version | awk '{print $2}')
[ -n "$version" ] || die "$binary --version printed no version"
tag=${tag:-$version}
revision=${REVISION:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) die "unsupported architecture $(uname -m)" ;;
esac

stage=$(mktemp -d "${TMPDIR:-/tmp}/terrace-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot"

cp "$binary" "$rootfs/usr/local/bin/terrace"
# The runner's own binary when it was built next to terrace: listeners start it for each job.
runner="$(dirname "$binary")/terrace-runner"
if [ -x "$runner" ]; then
  cp "$runner" "$rootfs/usr/local/bin/terrace-runner"
fi

# The binary's shared libraries and its loader, each at its path with /lib merged into
# /usr/lib (Debian's layout; /lib and /lib64 are symlinks in the image). A static binary
# needs none.
interp=""
if libs=$(ldd "$binary" 2>/dev/null); then
  if [ -x "$runner" ]; then libs+=$'\n'$(ldd "$runner"); fi
  while read -r lib; do
    [ -n "$lib" ] || continue
    case "$lib" in
      /lib/*|/lib64/*) dest="/usr$lib" ;;
      /usr/*) dest="$lib" ;;
      *) die "unexpected library path $lib" ;;
    esac
    mkdir -p "$rootfs$(dirname "$dest")"
    cp -L "$lib" "$rootfs$dest"
  done < <(awk '/=> \// {print $3} /^\t\/.*\(0x/ {print $1}' <<<"$libs" | sort -u)
  interp=$(awk '/^\t\/.*\(0x/ {print $1}' <<<"$libs" | sort -u)
  [ -n "$interp" ] || die "ldd names no loader for $binary"
  if grep -q "not found" <<<"$libs"; then die "missing libraries: $(grep "not found" <<<"$libs")"; fi
  ln -s usr/lib "$rootfs/lib"
  if [ -d "$rootfs/usr/lib64" ]; then ln -s usr/lib64 "$rootfs/lib64"; fi
fi

ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || die "$ca is missing (apt-get install ca-certificates)"
cp "$ca" "$rootfs$ca"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"

if [ -n "$terraform" ]; then
  [ -f "$terraform" ] || die "--terraform $terraform is not a file"
  if [ "$(head -c 2 "$terraform")" = "PK" ]; then
    python3 - "$terraform" "$rootfs/usr/local/bin/terraform" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("terraform"))
EOF
  else
    cp "$terraform" "$rootfs/usr/local/bin/terraform"
  fi
fi

python3 - "$rootfs" "$output" "$tag" "$version" "$revision" "$sde" "$arch" "${interp}" <<'EOF'
import datetime, gzip, hashlib, io, json, os, stat, sys, tarfile

rootfs, output, tag, version, revision, sde, arch, interp = sys.argv[1:]
sde = int(sde)
NONROOT = 65532

def mode_of(rel, st):
    """Fixed modes: no write for group or others, nothing setuid or setgid."""
    if rel == "tmp":
        return 0o1777
    if rel == "home/nonroot":
        return 0o700
    if stat.S_ISDIR(st.st_mode):
        return 0o755
    if rel.startswith("usr/local/bin/") or rel == interp.lstrip("/") or os.path.basename(rel).startswith("ld-linux"):
        return 0o755
    return 0o644

def entries():
    for dirpath, dirnames, filenames in os.walk(rootfs):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            yield os.path.relpath(path, rootfs), path

layer = os.path.join(output, "layer.tar.tmp")
os.makedirs(os.path.join(output, "blobs", "sha256"), exist_ok=True)
with open(layer, "wb") as raw:
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in sorted(entries()):
            st = os.lstat(path)
            info = tarfile.TarInfo(rel)
            info.mtime = sde
            info.uid = info.gid = NONROOT if rel == "home/nonroot" else 0
            info.uname = info.gname = ""
            if stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                info.mode = mode_of(rel, st)
                tar.addfile(info)
            else:
                info.size = st.st_size
                info.mode = mode_of(rel, st)
                with open(path, "rb") as f:
                    tar.addfile(info, f)

def blob(data, digest=None):
    digest = digest or hashlib.sha256(data).hexdigest()
    with open(os.path.join(output, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}

diff_id = hashlib.sha256()
compressed = os.path.join(output, "layer.tar.gz.tmp")
with open(layer, "rb") as src, open(compressed, "wb") as dst:
    # No file name and mtime 0 in the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0, compresslevel=6) as gz:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            diff_id.update(chunk)
            gz.write(chunk)
os.remove(layer)
digest = hashlib.sha256()
with open(compressed, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
layer_digest = digest.hexdigest()
layer_size = os.path.getsize(compressed)
os.replace(compressed, os.path.join(output, "blobs", "sha256", layer_digest))

def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

created = datetime.datetime.fromtimestamp(sde, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
labels = {
    "org.opencontainers.image.title": "terrace",
    "org.opencontainers.image.description": "Terrace: a server for the HCP Terraform / Terraform Enterprise V2 API, its listener and runner",
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.revision": revision,
    "org.opencontainers.image.created": created,
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.base.name": "scratch",
}
if os.environ.get("IMAGE_SOURCE"):
    labels["org.opencontainers.image.source"] = os.environ["IMAGE_SOURCE"]
terraform = os.path.exists(os.path.join(rootfs, "usr/local/bin/terraform"))
labels["io.terrace.image.terraform"] = "baked-in" if terraform else "none: runs fetch it from the server's binary cache"
config = {
    "created": created,
    "architecture": arch,
    "os": "linux",
    "config": {
        "User": f"{NONROOT}:{NONROOT}",
        "Entrypoint": ["/usr/local/bin/terrace"],
        "Cmd": ["--help"],
        "Env": ["PATH=/usr/local/bin", "HOME=/home/nonroot", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
        "WorkingDir": "/home/nonroot",
        "Labels": labels,
    },
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id.hexdigest()}"]},
    "history": [{"created": created, "created_by": "scripts/build-image.sh"}],
}
config_desc = blob(canonical(config))
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{layer_digest}", "size": layer_size}],
    "annotations": {k: v for k, v in labels.items() if k.startswith("org.opencontainers.image.")},
}
manifest_desc = blob(canonical(manifest))

index_path = os.path.join(output, "index.json")
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
if os.path.exists(index_path):
    with open(index_path) as f:
        index = json.load(f)
index["manifests"] = [m for m in index.get("manifests", [])
                      if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag]
index["manifests"].append({
    "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
    "platform": {"architecture": arch, "os": "linux"},
    "annotations": {"org.opencontainers.image.ref.name": tag},
})
with open(os.path.join(output, "oci-layout"), "wb") as f:
    f.write(canonical({"imageLayoutVersion": "1.0.0"}))
with open(index_path + ".tmp", "wb") as f:
    f.write(canonical(index))
os.replace(index_path + ".tmp", index_path)
print(manifest_desc["digest"])
EOF
echo "build-image.sh: terrace:$tag in $output (skopeo copy oci:$output:$tag docker://REGISTRY/terrace:$tag)" >&2
