#!/usr/bin/env bash
# The reconciliation pull API end to end (docs/reconciliation.md): a burst of
# closed auctions through a webhook; GET /v1/events pages (every filter, the
# stored bytes), 400s naming bad parameters; each closed auction's digest
# from GET /v1/auctions/<id> against one computed here from what the
# receiver got, and `sim verify --gavel`; `gavel reconcile` on an equal
# export (0), a deleted row, an extra row, a swapped pair (1), an
# unreadable file or database (2).
# (usage: pull_api.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/pull_api_drive.py" "$1"
