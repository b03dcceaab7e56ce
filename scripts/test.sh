#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite (what CI runs).
# Unit and actor suites run on a throwaway PostgreSQL cluster; end-to-end
# tests drive the real binaries over loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
cd build
# Long soak runs (label "soak") are left out unless asked for
# (`scripts/test.sh -L soak`); CI runs their shorter forms, which are part of
# the default set. Independent suites run two at a time.
if [ $# -eq 0 ]; then
  set -- -LE soak
fi
ctest --output-on-failure --timeout 900 -j2 "$@"
