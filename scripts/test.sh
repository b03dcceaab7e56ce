#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite (what CI runs).
# Unit and actor suites run on a throwaway PostgreSQL cluster; end-to-end
# tests drive the real binaries over loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
