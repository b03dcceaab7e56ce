#!/usr/bin/env bash
# Ambiguous commits (a proxy cuts the connection at COMMIT, after and before forwarding it): every acknowledged event delivered, in order,
# gap-free, and stored (tests/e2e/db_faults.bash). (usage: ambiguous_commit.sh BIN_DIR)
exec bash "$(dirname "$0")/db_faults.bash" "$1" proxy "${GAVEL_FAULT_ROUNDS:-1}"
