#!/usr/bin/env bash
# The embedded cluster's disk full in the middle of a burst (its data
# directory on a small tmpfs, filled by a ballast file): ingest answers 503,
# never 2xx for an event it did not commit; /readyz, /v1/pipeline, /metrics
# and an alert show the storage condition; no actor dies; once the ballast is
# deleted ingest recovers without a restart and every acknowledged event is
# in the outbox and delivered (sim verify --expect-closed). Needs root (mount);
# exits 77 (skipped) otherwise.
#
# Two rounds, one per way a full disk shows (docs/adr/0016-storage-refusals.md):
# 6 MB left, a heap extension fails (SQLSTATE 53100, seen by the store); 20 MB
# left, the next WAL segment cannot be created (PANIC; crash recovery fails
# until space returns, seen by the cluster's supervisor).
# GAVEL_DISK_FULL_HEADROOM_MB=N runs one round with N MB left.
# (usage: disk_full.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for headroom in ${GAVEL_DISK_FULL_HEADROOM_MB:-6 20}; do
  echo "disk_full: round with ${headroom} MB left"
  GAVEL_DISK_FULL_HEADROOM_MB=$headroom /usr/bin/python3 "$here/disk_full_drive.py" "$@"
done
