#!/usr/bin/env bash
# The demo: atlasd on the embedded database (data under ./.atlas), a broken and a fixed CNN
# trained with the Observer, the summary of what Atlas found, then where to look. The server
# keeps running until Ctrl-C; DEMO_EXIT=1 stops after.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
BIN="$BUILD_DIR/server/src/cli"
PORT=${ATLAS_PORT:-7878}
URL="http://127.0.0.1:$PORT"
DATA_DIR=${ATLAS_DEMO_DATA_DIR:-$PWD/.atlas}
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

# The id of the newest run named $1.
latest_run() {
  "$BIN/atlas" runs --url "$URL" --limit 1 --name "$1" --json |
    .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])'
}

step "Train the broken CNN (examples/broken_cnn.py: four problems planted on purpose)"
ATLAS_URL="$URL" .venv/bin/python examples/broken_cnn.py --epochs "${DEMO_BROKEN_EPOCHS:-20}"
BROKEN_ID=$(latest_run broken-cnn)

step "Train the fixed CNN (examples/fixed_cnn.py: the same data, the problems removed)"
ATLAS_URL="$URL" .venv/bin/python examples/fixed_cnn.py --epochs "${DEMO_FIXED_EPOCHS:-8}"
FIXED_ID=$(latest_run fixed-cnn)

step "What Atlas found"
ATLAS_URL="$URL" .venv/bin/python examples/demo_summary.py "$BROKEN_ID" "$FIXED_ID"
# The same figures as JSON, kept beside the database (tests/python/test_demo.py reads them).
ATLAS_URL="$URL" .venv/bin/python examples/demo_summary.py "$BROKEN_ID" "$FIXED_ID" --json \
  > "$DATA_DIR/demo_summary.json"
echo
"$BIN/atlas" runs --url "$URL" --limit 5
RUN_ID=$BROKEN_ID

step "Where to look"
info "Dashboard: $URL/runs/$RUN_ID"
info "Report:    $BIN/atlas report $RUN_ID --url $URL"
info "API:    $URL/api/v1/runs/$RUN_ID"
info "Series: $URL/api/v1/runs/$RUN_ID/series/loss?points=200"
info "CLI:    $BIN/atlas show $RUN_ID --url $URL"
if [ "${DEMO_EXIT:-0}" = "1" ]; then
  done_msg "demo finished (DEMO_EXIT=1)"
  exit 0
fi
done_msg "atlasd keeps running on $URL; press Ctrl-C to stop it"
wait $SERVER_PID
