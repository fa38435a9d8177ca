#!/usr/bin/env bash
# Runs the benchmarks (not part of `make test`); record their tables in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
step "bench/ingest: step records/s through HTTP vs bare SQLite inserts"
"$BUILD_DIR/bench/ingest_bench" "$@"

step "bench/control: delivery latency of control actions (POST /actions to the training seeing it)"
ATLAS_BUILD_DIR="$PWD/$BUILD_DIR" .venv/bin/python bench/control/delivery.py
