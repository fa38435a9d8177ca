#!/usr/bin/env bash
# Formatting and static analysis, warnings as errors: clang-format and clang-tidy on the C++,
# ruff (lint + format) and mypy on the Python. `--fix` rewrites formatting instead of checking.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
FIX=0
[ "${1:-}" = "--fix" ] && FIX=1

mapfile -t CXX_FILES < <(git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' | grep -v '^build')
mapfile -t PY_PATHS < <(git ls-files -co --exclude-standard -- '*.py' | grep -v '^build')

if [ $FIX -eq 1 ]; then
  clang-format -i "${CXX_FILES[@]}"
  .venv/bin/ruff format "${PY_PATHS[@]}"
  .venv/bin/ruff check --fix "${PY_PATHS[@]}"
  exit 0
fi

step "clang-format (${#CXX_FILES[@]} files)"
clang-format --dry-run -Werror "${CXX_FILES[@]}"

step "clang-tidy (warnings are errors)"
# clang-tidy checks one source file at a time, so its compile commands come from a tree that is
# configured (never built) without the unity batches of $BUILD_DIR/ (scripts/build.sh).
TIDY_DB_DIR=$BUILD_DIR/compile-db
configure_cxx "$TIDY_DB_DIR" -DCMAKE_UNITY_BUILD=OFF >/dev/null
# The nanobind binding is compiled only by the Python package's build (scripts/install_python.sh),
# so it is checked against that build's compile commands; everything else against $TIDY_DB_DIR/.
PY_BUILD_DIR=${ATLAS_PY_BUILD_DIR:-build-pywheel}
# A file the build did not compile (the LibTorch adapter when LibTorch is absent) has no
# compile command to check it with; it is skipped with a note.
compiled_in() {
  local dir=$1 file
  while read -r file; do
    if grep -qF "\"file\": \"$PWD/$file\"" "$dir/compile_commands.json"; then
      echo "$file"
    else
      info "skipped (not compiled in $dir): $file" >&2
    fi
  done
}
tidy() { xargs -r -P "$(nproc)" -n 4 clang-tidy --quiet "$@" 2> >(grep -v 'warnings generated' >&2); }
# The path-sensitive static analyzer (clang-analyzer-*) runs on product code in its shallow mode:
# it inlines only small callees, so it no longer spends a minute per file inside Boost.Asio's and
# LibTorch's templates (the 14 slowest files: 700 s of analysis deep, 298 s shallow, on 2 cores).
# `ATLAS_ANALYZER_MODE=deep make lint` runs the full interprocedural analysis.
ANALYZER_MODE=${ATLAS_ANALYZER_MODE:-shallow}
case $ANALYZER_MODE in
  shallow | deep) ;;
  *) die "ATLAS_ANALYZER_MODE must be shallow or deep, not '$ANALYZER_MODE'" ;;
esac
ANALYZER_ARGS=(--extra-arg=-Xclang --extra-arg=-analyzer-config --extra-arg=-Xclang
  "--extra-arg=mode=$ANALYZER_MODE")
info "static analyzer: $ANALYZER_MODE mode"
printf '%s\n' "${CXX_FILES[@]}" | grep '\.cpp$' | grep -v -e '^python/' -e '^tests/' |
  compiled_in "$TIDY_DB_DIR" | tidy -p "$TIDY_DB_DIR" "${ANALYZER_ARGS[@]}"
# Test files get every check but the path-sensitive static analyzer: it is 40 % of clang-tidy's
# time on them (17 s against 10 s per GoogleTest file here) and explores assertion macros rather
# than product code, which it still analyses in full above.
printf '%s\n' "${CXX_FILES[@]}" | grep '^tests/.*\.cpp$' | compiled_in "$TIDY_DB_DIR" |
  tidy -p "$TIDY_DB_DIR" '--checks=-clang-analyzer-*'
printf '%s\n' "${CXX_FILES[@]}" | grep '^python/.*\.cpp$' | compiled_in "$PY_BUILD_DIR" |
  tidy -p "$PY_BUILD_DIR" "${ANALYZER_ARGS[@]}"

step "ruff and mypy (Python)"
.venv/bin/ruff check "${PY_PATHS[@]}"
.venv/bin/ruff format --check "${PY_PATHS[@]}"
.venv/bin/mypy

step "Dashboard: TypeScript (tsc --noEmit) and Prettier"
(cd web && npx tsc --noEmit && npx prettier --check .)

step "Dashboard: ESLint (typescript-eslint, rules of hooks)"
(cd web && npm run --silent lint)
done_msg "lint clean"
