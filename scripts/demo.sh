#!/usr/bin/env bash
# The demo: atlasd on the embedded database (data under ./.atlas), a real training run streamed
# to it, then where to look. The server keeps running until Ctrl-C; DEMO_EXIT=1 stops after.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
BIN="$BUILD_DIR/server/src/cli"
PORT=${ATLAS_PORT:-7878}
URL="http://127.0.0.1:$PORT"
DATA_DIR="$PWD/.atlas"
mkdir -p "$DATA_DIR"

step "Start atlasd on $URL (SQLite under $DATA_DIR)"
"$BIN/atlasd" --port "$PORT" --data-dir "$DATA_DIR" --port-file "$DATA_DIR/port" \
  --no-request-log > "$DATA_DIR/atlasd.log" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$URL/healthz" > /dev/null 2>&1 && break
  kill -0 $SERVER_PID 2>/dev/null || die "atlasd did not start: $(cat "$DATA_DIR/atlasd.log")"
  sleep 0.1
done
info "atlasd is up (log: $DATA_DIR/atlasd.log)"

step "Train a small CNN on scikit-learn's digits with the Observer (examples/quickstart.py)"
ATLAS_URL="$URL" .venv/bin/python examples/quickstart.py --epochs "${DEMO_EPOCHS:-5}"

step "What atlasd stored"
"$BIN/atlas" runs --url "$URL" --limit 5
RUN_ID=$("$BIN/atlas" runs --url "$URL" --limit 1 --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')
echo
"$BIN/atlas" show "$RUN_ID" --url "$URL"

step "Where to look"
info "API:    $URL/api/v1/runs/$RUN_ID"
info "Series: $URL/api/v1/runs/$RUN_ID/series/loss?points=200"
info "CLI:    $BIN/atlas show $RUN_ID --url $URL"
if [ "${DEMO_EXIT:-0}" = "1" ]; then
  done_msg "demo finished (DEMO_EXIT=1)"
  exit 0
fi
done_msg "atlasd keeps running on $URL; press Ctrl-C to stop it"
wait $SERVER_PID
