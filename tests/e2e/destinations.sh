#!/usr/bin/env bash
# Gavel → Event Hubs (HTTPS) + HubSpot + webhook emulators at once, with an
# outage, dropped responses, 429s, a poison auction + redrive and a crashing
# worker; see destinations_drive.py. (usage: destinations.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/drive.sh"
e2e_work dest
e2e_drive 40 "$here/destinations_drive.py" "$1" "$here/../.." "$work" "${@:2}"
