#!/usr/bin/env bash
# Configures and builds everything into build/ (binaries in build/bin/,
# compile commands for scripts/tidy.sh in build/compile_commands.json).
# Warnings are errors unless GAVEL_WERROR=OFF: CI builds with this script, so
# a warning fails CI (ADR 0018).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${GAVEL_BUILD_TYPE:-RelWithDebInfo}" \
    "${launcher[@]}"
fi
# Set on every run, so a tree configured before this default builds with it.
cmake -S . -B build -DGAVEL_WERROR="${GAVEL_WERROR:-ON}" >/dev/null
cmake --build build -j"$jobs"
