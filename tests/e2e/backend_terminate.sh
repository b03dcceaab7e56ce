#!/usr/bin/env bash
# Gavel's backends terminated every 0.2 s during a burst: every acknowledged event delivered, in order,
# gap-free, and stored (tests/e2e/db_faults.bash). (usage: backend_terminate.sh BIN_DIR)
exec bash "$(dirname "$0")/db_faults.bash" "$1" terminate "${GAVEL_FAULT_ROUNDS:-1}"
