#!/usr/bin/env bash
# Throwaway PostgreSQL 15 + SeaweedFS S3 + Redis for Terrace's tests, on loopback only.
#
#   services.sh start DIR   start them in DIR (created), wait until ready, write DIR/env.sh
#   services.sh stop DIR    stop them by the PIDs recorded in DIR
#   services.sh env DIR     print DIR/env.sh (source it: `. DIR/env.sh`)
#
# Ports are picked free unless TERRACE_TEST_PG_PORT / TERRACE_TEST_S3_PORT are set. The S3
# credentials can be set with TERRACE_TEST_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY.
# Needs install-test-deps.sh. Works as root (PostgreSQL then runs as user postgres).
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
BUCKET=terrace-test
REGION=us-east-1
AK=${TERRACE_TEST_S3_ACCESS_KEY_ID:-terrace-test-key}
SK=${TERRACE_TEST_S3_SECRET_ACCESS_KEY:-terrace-test-secret-0123456789}

usage() { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1; D=$2
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

# initdb/postgres refuse to run as root: run them as postgres, who then needs to own the
# data dir and be able to traverse every parent of DIR (so not under /root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# The pip-installed `weed` is a real binary in python's scripts dir; call it directly (not
# through a pyenv shim) so that $! is the server's own PID.
weed_bin() {
  local w; w=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/weed
  [ -x "$w" ] || w=$(command -v weed) || { echo "services: weed not found; run install-test-deps.sh" >&2; exit 1; }
  echo "$w"
}

# N free loopback ports, all held open at once so they are distinct. Racy by nature (another
# process may take one before we bind), acceptable for tests.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
EOF
}

# curl signs with SigV4 itself (--aws-sigv4), so no SDK is needed to prove the auth works.
s3() { curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$REGION:s3" --user "$AK:$SK" "$@"; }

stop_pid() { # pidfile signal: signal, wait up to 10 s, then KILL
  local f=$1 sig=$2 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid"
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "services: $f pid $pid still up, KILL" >&2; kill -KILL "$pid"; }
  fi
  rm -f "$f"
}

do_stop() {
  # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for clients to disconnect).
  # Both at once: weed takes a while to shut down.
  stop_pid "$D/postgres.pid" INT & stop_pid "$D/weed.pid" TERM & stop_pid "$D/redis.pid" TERM & wait
}

case $cmd in
start)
  t0=$(now)
  mkdir -p "$D"; D=$(cd "$D" && pwd)
  for f in "$D"/postgres.pid "$D"/weed.pid "$D"/redis.pid; do
    if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then echo "services: already running ($f); stop first" >&2; exit 1; fi
  done
  chmod 755 "$D"
  # pg, s3, and every other listener `weed mini` opens (master, volume, filer, admin, each
  # with a gRPC port; admin listens even with -admin.ui=false). Their defaults are fixed
  # (9333, 8888, 23646, ...), so two instances would collide without explicit ports.
  read -r PGP S3P S3G MP MG VP VG FP FG AP AG RP <<<"$(free_ports 12)"
  PGP=${TERRACE_TEST_PG_PORT:-$PGP}; S3P=${TERRACE_TEST_S3_PORT:-$S3P}

  # PostgreSQL runs as postgres: check it can use DIR before starting anything.
  rm -rf "$D/pg"; mkdir -p "$D/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$D/pg"
  as_pg test -w "$D/pg" || { echo "services: user postgres cannot write $D/pg : every parent of DIR must be traversable by postgres (e.g. DIR=\$(mktemp -d), not a subdir of one)" >&2; exit 1; }

  # A failed start must not leave half of it running.
  trap '[ $? -eq 0 ] || do_stop' EXIT

  # --- SeaweedFS first: it takes longest to come up, PostgreSQL starts meanwhile. One
  # identity with admin rights; the bucket is created at startup (-bucket).
  rm -rf "$D/s3"; mkdir -p "$D/s3/data"
  cat > "$D/s3/s3.json" <<EOF
{"identities": [{"name": "terrace", "credentials": [{"accessKey": "$AK", "secretKey": "$SK"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
  # Both -ip flags, or it advertises/binds a non-loopback address; telemetry off (no
  # internet); webdav/admin UI/iceberg/lance off (more fixed ports we don't need); sockets
  # in DIR so parallel instances don't share /tmp/seaweedfs-*.sock; no pre-stop delay.
  # -logtostderr: otherwise it leaves glog files in /tmp. (Its gRPC sockets still go to
  # /tmp/seaweedfs-*-grpc-PORT.sock whatever TMPDIR says; a clean stop removes them.)
  "$(weed_bin)" -logtostderr mini -dir="$D/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.config="$D/s3/s3.json" -bucket="$BUCKET" \
    -s3.port="$S3P" -s3.port.grpc="$S3G" -master.port="$MP" -master.port.grpc="$MG" \
    -volume.port="$VP" -volume.port.grpc="$VG" -filer.port="$FP" -filer.port.grpc="$FG" \
    -admin.port="$AP" -admin.port.grpc="$AG" -volume.preStopSeconds=0 \
    -filer.localSocket="$D/s3/filer.sock" -s3.localSocket="$D/s3/s3.sock" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
    >"$D/s3/weed.log" 2>&1 </dev/null &
  echo $! > "$D/weed.pid"

  # --- PostgreSQL: fresh cluster, trust auth, no durability (fsync/full_page_writes off).
  as_pg "$PGBIN/initdb" -D "$D/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$D/pg/initdb.log" 2>&1 \
    || { cat "$D/pg/initdb.log" >&2; exit 1; }
  # -k: the Unix socket goes in DIR, not /var/run/postgresql (absent, and shared).
  as_pg "$PGBIN/pg_ctl" -D "$D/pg/data" -l "$D/pg/postgres.log" -w -t 30 start -o \
    "-c listen_addresses=127.0.0.1 -p $PGP -k $D/pg -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" >/dev/null \
    || { cat "$D/pg/postgres.log" >&2; exit 1; }
  head -1 "$D/pg/data/postmaster.pid" > "$D/postgres.pid"

  # --- Redis: in memory only (no snapshots, no append-only file).
  rm -rf "$D/redis"; mkdir -p "$D/redis"
  redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no --dir "$D/redis" \
    >"$D/redis/redis.log" 2>&1 </dev/null &
  echo $! > "$D/redis.pid"

  # --- Wait for all three. S3 is ready when a SigV4-signed HEAD of the bucket answers 200: that
  # proves the gateway is up, the credentials are accepted and the bucket exists.
  for i in $(seq 300); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGP" && break; sleep 0.1; done
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGP" || { echo "services: postgres not ready" >&2; exit 1; }
  ok=
  for i in $(seq 300); do
    kill -0 "$(cat "$D/weed.pid")" 2>/dev/null || { tail -20 "$D/s3/weed.log" >&2; echo "services: weed exited" >&2; exit 1; }
    [ "$(s3 -I "http://127.0.0.1:$S3P/$BUCKET" 2>/dev/null)" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || { tail -20 "$D/s3/weed.log" >&2; echo "services: S3 not ready" >&2; exit 1; }
  for i in $(seq 100); do [ "$(redis-cli -p "$RP" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  [ "$(redis-cli -p "$RP" ping 2>/dev/null)" = PONG ] || { cat "$D/redis/redis.log" >&2; echo "services: redis not ready" >&2; exit 1; }

  cat > "$D/env.sh" <<EOF
export TERRACE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PGP/postgres
export TERRACE_TEST_S3_ENDPOINT=http://127.0.0.1:$S3P
export TERRACE_TEST_S3_BUCKET=$BUCKET
export TERRACE_TEST_S3_ACCESS_KEY_ID=$AK
export TERRACE_TEST_S3_SECRET_ACCESS_KEY=$SK
export TERRACE_TEST_S3_REGION=$REGION
export TERRACE_TEST_REDIS_URL=redis://127.0.0.1:$RP
EOF
  echo "services: postgres :$PGP (pid $(cat "$D/postgres.pid")), s3 :$S3P (pid $(cat "$D/weed.pid")), redis :$RP (pid $(cat "$D/redis.pid")) ready in $(elapsed "$t0") s; env in $D/env.sh"
  ;;
stop)
  [ -d "$D" ] || exit 0
  do_stop
  echo "services: stopped ($D)"
  ;;
env)
  cat "$D/env.sh"
  ;;
*) usage ;;
esac
