#!/usr/bin/env bash
# Retention on a real Gavel data directory: rows back-dated past max_age go
# when delivered and stay when not (`gavel prune --dry-run`, `gavel prune`),
# and what stayed is still delivered afterwards. (usage: retention.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/retention_drive.py" "$1"
