#!/usr/bin/env bash
# Builds atlas_observatory (python/: the Observer and the nanobind binding of libatlas) and
# installs it into .venv, offline, with the build tools .venv already has. Idempotent: skips the
# build when the installed package was built from the current sources (a hash stamp in .venv).
#   scripts/install_python.sh            install (or skip when up to date)
#   scripts/install_python.sh --force    rebuild and reinstall anyway
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

PYTHON=.venv/bin/python
STAMP=.venv/.atlas_observatory.sha256
# scikit-build-core keeps its CMake build here, so a rebuild only compiles what changed.
WHEEL_BUILD_DIR=${ATLAS_PY_BUILD_DIR:-$PWD/build-pywheel}

[ -x "$PYTHON" ] || die ".venv is missing: run scripts/setup.sh first"

# Everything the package is built from: its own sources, libatlas and the CMake around them,
# and the interpreter (a new Python needs a new extension module).
sources_hash() {
  local files
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files -co --exclude-standard -- python core cmake CMakeLists.txt | sort)
  else
    files=$(find python core cmake CMakeLists.txt -type f -not -path '*/__pycache__/*' | sort)
  fi
  {
    # shellcheck disable=SC2086 # one path per line, none with spaces
    sha256sum $files
    "$PYTHON" --version
  } | sha256sum | cut -d' ' -f1
}

step "Python package atlas_observatory (into .venv)"
want=$(sources_hash)
have=""
[ -f "$STAMP" ] && have=$(cat "$STAMP")
if [ "${1:-}" != "--force" ] && [ "$want" = "$have" ] &&
  "$PYTHON" -c "import atlas_observatory._atlas" 2>/dev/null; then
  info "up to date with the sources"
  exit 0
fi
info "building libatlas and the binding (CMake build in ${WHEEL_BUILD_DIR#"$PWD"/})"
rm -f "$STAMP"
"$PYTHON" -m pip install --quiet --no-build-isolation --no-deps --no-index --force-reinstall \
  --config-settings=build-dir="$WHEEL_BUILD_DIR" ./python
"$PYTHON" -c "import atlas_observatory._atlas" || die "atlas_observatory does not import after install"
echo "$want" > "$STAMP"
done_msg "atlas_observatory installed: $("$PYTHON" -c 'import atlas_observatory as a; print(a.__version__)')"
