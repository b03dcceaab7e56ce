#!/usr/bin/env bash
# GET /v1/pipeline against a running Gavel: lag, state, final-window auctions
# and heartbeats move as events flow, when the webhook receiver stops and when
# it comes back. (usage: pipeline.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/pipeline_drive.py" "$1"
