#!/usr/bin/env bash
# Configures (once) and builds the C++ tree into build/ with CMake and Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
step "Build (C++: libatlas, atlasd, atlas CLI, tests, benchmarks) in $BUILD_DIR/"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DATLAS_BUILD_TESTS=ON -DATLAS_BUILD_BENCH=ON
fi
ninja -C "$BUILD_DIR"
done_msg "built: $BUILD_DIR/server/src/cli/atlasd and $BUILD_DIR/server/src/cli/atlas"

# The Python Observer (atlas_observatory: libatlas + its nanobind binding) into .venv.
scripts/install_python.sh

# The dashboard (web/) into web/dist, which atlasd serves at /.
scripts/build_web.sh
