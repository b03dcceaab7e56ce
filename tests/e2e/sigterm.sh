#!/usr/bin/env bash
# SIGTERM during a 20,000-event burst: exit code 0, commits in flight
# finished, the destination's last deliveries made and its position stored;
# restarted, the burst completes and sim verify finds nothing acknowledged
# lost; a second signal during the drain exits at once.
# (usage: sigterm.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/sigterm_drive.py" "$1"
