#!/usr/bin/env bash
# Escalation of the supervisors, seen from outside: against a running Gavel
# with a Teams webhook receiver, a poison event raises a dead-letter alert,
# a destination worker crashed past its restart limit raises
# "restart intensity exceeded" (and recovers after the operator restart), and
# so does the core (store and registry). Nothing is sent while healthy.
# (usage: supervision_alerts.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/supervision_alerts_drive.py" "$1"
