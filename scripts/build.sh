#!/usr/bin/env bash
# Configures (once) and builds everything into build/ (binaries in build/bin/).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${GAVEL_BUILD_TYPE:-RelWithDebInfo}" \
    -DGAVEL_WERROR="${GAVEL_WERROR:-OFF}"
fi
cmake --build build -j"$jobs"
