#!/usr/bin/env bash
# Supervision of the store and the registry during a 30,000-event burst:
# each is crashed on purpose (fault injection) and restarted by the core
# supervisor; crashed past its restart limit the core is `failed` (readyz
# 503, ingest 503) until an operator restart; the burst completes and sim
# verify finds nothing acknowledged lost, per-auction order intact.
# With --chaos SECONDS (the soak form, `ctest -L soak`): the store or the
# registry crashed at random every 1-4 s for that long during a long burst.
# (usage: core_restart.sh BIN_DIR [--chaos SECONDS])
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/core_restart_drive.py" "$@"
