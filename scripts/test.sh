#!/usr/bin/env bash
# Installs what is needed, builds (warnings are errors), and runs the whole
# test suite: what CI runs (ADR 0018). Unit and actor suites run on a
# throwaway PostgreSQL cluster; end-to-end tests drive the real binaries over
# loopback; clang-tidy checks the sources changed since main (lint.tidy).
# Without arguments the unit and actor suites then run again under ASan and
# UBSan (scripts/sanitize.sh, build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
# Long soak runs (label "soak") are left out unless asked for
# (`scripts/test.sh -L soak`); CI runs their shorter forms, which are part of
# the default set. Independent suites run two at a time.
if [ $# -gt 0 ]; then
  cd build
  exec ctest --output-on-failure --timeout 900 -j2 "$@"
fi
(cd build && ctest --output-on-failure --timeout 900 -j2 -LE soak)
# All 10,000 interleaving seeds run sanitized too: the actors suite takes
# 29 s under ASan here (24 s at 1,000 seeds), so there is nothing to save.
bash scripts/sanitize.sh
