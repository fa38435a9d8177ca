#!/usr/bin/env bash
# Runs the benchmarks (not part of `make test`); record their tables in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
step "bench/ingest: step records/s through HTTP vs bare SQLite inserts"
"$BUILD_DIR/bench/ingest_bench" "$@"
