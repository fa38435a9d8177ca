#!/usr/bin/env bash
# Configures (once) and builds the C++ tree into build/ with CMake and Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BUILD_DIR=${BUILD_DIR:-build}
step "Build (C++: libatlas, atlasd, atlas CLI, tests, benchmarks) in $BUILD_DIR/"
# Unity batches: up to 8 source files of a target compile as one translation unit, so the
# standard library, nlohmann/json, Boost and gtest are parsed once per batch rather than once per
# file; the build takes half the time on 2 cores. (clang-tidy still checks file by file:
# scripts/lint.sh.)
if ! grep -qs '^CMAKE_UNITY_BUILD:BOOL=ON' "$BUILD_DIR/CMakeCache.txt"; then
  configure_cxx "$BUILD_DIR" -DCMAKE_UNITY_BUILD=ON
fi
ninja -C "$BUILD_DIR"
done_msg "built: $BUILD_DIR/server/src/cli/atlasd and $BUILD_DIR/server/src/cli/atlas"

# The Python Observer (atlas_observatory: libatlas + its nanobind binding) into .venv.
scripts/install_python.sh

# The dashboard (web/) into web/dist, which atlasd serves at /.
scripts/build_web.sh
