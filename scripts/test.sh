#!/usr/bin/env bash
# Every test suite and linter: C++ unit tests (ctest), integration tests against a real atlasd
# (pytest), then formatting and static analysis (scripts/lint.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
export ATLAS_BUILD_DIR="$PWD/$BUILD_DIR"

step "C++ unit tests (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"

step "Integration tests: a real atlasd on loopback (pytest)"
.venv/bin/python -m pytest -q tests/integration

scripts/lint.sh
done_msg "all tests and linters passed"
