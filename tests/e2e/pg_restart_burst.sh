#!/usr/bin/env bash
# Backends terminated every second and PostgreSQL restarted in immediate mode during a burst: every acknowledged event delivered, in order,
# gap-free, and stored (tests/e2e/db_faults.bash). (usage: pg_restart_burst.sh BIN_DIR)
exec bash "$(dirname "$0")/db_faults.bash" "$1" restart "${GAVEL_FAULT_ROUNDS:-1}"
