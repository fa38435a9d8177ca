#!/usr/bin/env bash
# Every test suite and linter: C++ unit tests (ctest), integration tests against a real atlasd
# and the Python Observer's tests with real training (pytest), then formatting and static
# analysis (scripts/lint.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
export ATLAS_BUILD_DIR="$PWD/$BUILD_DIR"

step "C++ unit tests (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"

step "Integration tests: a real atlasd on loopback (pytest)"
.venv/bin/python -m pytest -q --durations=5 tests/integration

step "Observer tests: real PyTorch training against a real atlasd (pytest)"
.venv/bin/python -m pytest -q --durations=10 tests/python

step "Dashboard unit tests (Vitest)"
(cd web && npx vitest run)

step "Dashboard end to end: real atlasd, real training, Debian's Chromium (playwright-core)"
(cd web && npm run --silent e2e)

scripts/lint.sh
done_msg "all tests and linters passed"
