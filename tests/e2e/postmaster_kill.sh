#!/usr/bin/env bash
# The embedded PostgreSQL's postmaster killed with -9 in the middle of a
# 20,000-event burst: Gavel (its supervisor) sees the death at once (within
# 1 s, by its log), restarts the cluster (crash recovery), and ingest comes
# back by itself (503 + Retry-After meanwhile); /v1/pipeline then shows one
# death, one restart, the new postmaster's pid and the exit as last error;
# sim verify finds every acknowledged event delivered, in order, gap-free. Prints the recovery time; with
# GAVEL_RECOVERY_OUT=FILE it also appends it there as a JSON line (bench).
# (usage: postmaster_kill.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/postmaster_kill_drive.py" "$@"
