#!/usr/bin/env bash
# Smoke run of a Deskbook cluster on this machine: one PostgreSQL (pgserver, a pip package: no system
# install), two app servers and two workers, as docs/deploy.md describes for several machines.
#
#   bash scripts/smoke-cluster.sh            # index corpus/, start everything, check it, stop
#   KEEP=1 bash scripts/smoke-cluster.sh     # leave it running (Ctrl+C stops it)
#
# It checks: an SOP saved through server 1 is searchable through server 2; a QA job queued through
# server 1 is run by one of the workers and shown by server 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${DESKBOOK_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DESKBOOK_CONFIG=corpus/deskbook.toml
WORK="${WORK:-$(mktemp -d /tmp/deskbook-cluster.XXXXXX)}"
PORT1="${PORT1:-8101}" PORT2="${PORT2:-8102}"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  python - "$WORK/pg" <<'EOF' || true
import sys, pgserver
pgserver.get_server(sys.argv[1], cleanup_mode="stop").cleanup()
EOF
}
trap cleanup EXIT

echo "==> starting PostgreSQL (pgserver) in $WORK/pg" >&2
DB="$(python - "$WORK/pg" <<'EOF'
import sys, pgserver
srv = pgserver.get_server(sys.argv[1], cleanup_mode=None)  # stays up until cleanup() stops it
print(srv.get_uri().replace("/postgres?", "/deskbook?", 1))
EOF
)"
export DESKBOOK_DB="$DB"
echo "==> database $DB" >&2
deskbook index --quiet corpus/sops corpus/tickets
deskbook users add manager --role manager --password manager-pass-1 --reset-password >/dev/null
deskbook users add analyst --role analyst --password analyst-pass-1 --reset-password >/dev/null
MTOKEN="$(deskbook users token manager --label smoke)"
ATOKEN="$(deskbook users token analyst --label smoke)"

for i in 1 2; do
  port_var="PORT$i"
  DESKBOOK_DATA_DIR="$WORK/app$i" deskbook serve --port "${!port_var}" --no-warm >"$WORK/app$i.log" 2>&1 &
  pids+=($!)
  DESKBOOK_DATA_DIR="$WORK/worker$i" deskbook worker >"$WORK/worker$i.log" 2>&1 &
  pids+=($!)
done
for port in "$PORT1" "$PORT2"; do
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "server on $port did not start" >&2; exit 1; }
done
echo "==> two app servers (:$PORT1, :$PORT2) and two workers up" >&2

api() { curl -sf -H "Authorization: Bearer $1" -H "Content-Type: application/json" "${@:2}"; }
# A first search on each server loads the model and builds its in-memory index (--no-warm above).
for port in "$PORT1" "$PORT2"; do api "$MTOKEN" "http://127.0.0.1:$port/api/v1/search?q=refund&log=false" >/dev/null; done
doc="$(api "$MTOKEN" "http://127.0.0.1:$PORT1/api/v1/documents/sop-refunds")"
python - "$doc" >"$WORK/edit.json" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
body = d["body"] + "\n## Smoke test\nQuokka vouchers are refunded as store credit.\n"
print(json.dumps({"title": d["title"], "body": body, "base_version": d["version"], "tags": d["tags"],
                  "status": d["status"] or "published"}))
EOF
api "$MTOKEN" -X PUT --data @"$WORK/edit.json" "http://127.0.0.1:$PORT1/api/v1/sops/sop-refunds" >/dev/null
start=$(date +%s.%N)
until api "$MTOKEN" "http://127.0.0.1:$PORT2/api/v1/search?q=quokka+vouchers&log=false" | grep -q sop-refunds; do
  sleep 0.2
  [ "$(echo "$(date +%s.%N) - $start > 15" | bc)" = 1 ] && { echo "FAIL: edit not searchable on server 2" >&2; exit 1; }
done
echo "==> edit on server 1 searchable on server 2 after $(echo "$(date +%s.%N) - $start" | bc | cut -c1-4) s" >&2

python - corpus/transcripts/dev/call-0001.json corpus/transcripts/dev/call-0002.json >"$WORK/score.json" <<'EOF'
import json, sys
print(json.dumps({"rubric": "phone-support", "transcripts": [json.load(open(p)) for p in sys.argv[1:]]}))
EOF
job="$(api "$ATOKEN" -X POST --data @"$WORK/score.json" "http://127.0.0.1:$PORT1/api/v1/qa/score" |
       python -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
for _ in $(seq 300); do
  status="$(api "$ATOKEN" "http://127.0.0.1:$PORT2/api/v1/jobs/$job" | python -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
  [ "$status" = done ] && break
  [ "$status" = failed ] && { echo "FAIL: job failed" >&2; exit 1; }
  sleep 1
done
[ "$status" = done ] || { echo "FAIL: job not done" >&2; exit 1; }
echo "==> QA job $job queued on server 1, run by a worker, done on server 2" >&2
echo "smoke run passed (logs in $WORK)"
if [ -n "${KEEP:-}" ]; then
  echo "running: http://127.0.0.1:$PORT1/ and http://127.0.0.1:$PORT2/ (manager / manager-pass-1); Ctrl+C stops" >&2
  wait
fi
