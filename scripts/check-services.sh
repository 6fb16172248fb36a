#!/usr/bin/env bash
# Smoke-test services started by `services.sh start DIR`: a psql query, and an S3 put/get/
# delete signed with SigV4, plus proof that a wrong secret is rejected (i.e. the server
# really checks signatures, so our signing code is tested for real).
#   check-services.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
# shellcheck disable=SC1091
. "$1/env.sh"

v=$(psql "$TERRACE_TEST_POSTGRES_URL" -XAtqc 'select version()')
echo "postgres: ${v%% on *}"

url=$TERRACE_TEST_S3_ENDPOINT/$TERRACE_TEST_S3_BUCKET/check/$$.txt
sig=(--aws-sigv4 "aws:amz:$TERRACE_TEST_S3_REGION:s3")
auth=(--user "$TERRACE_TEST_S3_ACCESS_KEY_ID:$TERRACE_TEST_S3_SECRET_ACCESS_KEY")
body="hello terrace $(date +%s%N)"
code() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }

# curl 7.88 signs the payload hash but doesn't send x-amz-content-sha256, which S3 needs for
# a request with a body (SignatureDoesNotMatch otherwise): send it ourselves (it is signed).
sha=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
[ "$(code "${sig[@]}" "${auth[@]}" -H "x-amz-content-sha256: $sha" -X PUT --data-binary "$body" "$url")" = 200 ] || { echo "s3: signed PUT failed" >&2; exit 1; }
got=$(curl -sSf "${sig[@]}" "${auth[@]}" "$url")
[ "$got" = "$body" ] || { echo "s3: GET returned '$got'" >&2; exit 1; }
bad=$(code "${sig[@]}" --user "$TERRACE_TEST_S3_ACCESS_KEY_ID:wrong-secret" "$url")
anon=$(code "$url")
[ "$bad" = 403 ] && [ "$anon" = 403 ] || { echo "s3: wrong secret -> $bad, anonymous -> $anon (want 403)" >&2; exit 1; }
[ "$(code "${sig[@]}" "${auth[@]}" -X DELETE "$url")" = 204 ] || { echo "s3: DELETE failed" >&2; exit 1; }
echo "s3: SigV4 PUT/GET/DELETE ok; wrong secret -> $bad, anonymous -> $anon"
