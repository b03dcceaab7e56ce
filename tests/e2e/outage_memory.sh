#!/usr/bin/env bash
# Event Hubs down for GAVEL_OUTAGE_SECONDS (default 60; the soak test runs
# 300) while ingest continues: RSS flat, webhooks unaffected, backlog drained,
# nothing lost; see outage_drive.py. (usage: outage_memory.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/drive.sh"
e2e_work outage
e2e_drive 30 "$here/outage_drive.py" "$1" "$here/../.." "$work" \
  --outage "${GAVEL_OUTAGE_SECONDS:-60}" --rate "${GAVEL_OUTAGE_RATE:-800}"
