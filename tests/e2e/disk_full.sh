#!/usr/bin/env bash
# The embedded cluster's disk full in the middle of a burst (its data
# directory on a small tmpfs, filled by a ballast file): ingest answers 503,
# never 2xx for an event it did not commit; /readyz, /v1/pipeline, /metrics
# and an alert show the storage condition; no actor dies; once the ballast is
# deleted ingest recovers without a restart and every acknowledged event is
# in the outbox and delivered (sim verify --expect-closed). Needs root (mount);
# exits 77 (skipped) otherwise.
# (usage: disk_full.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/disk_full_drive.py" "$@"
