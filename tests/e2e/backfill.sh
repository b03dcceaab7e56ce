#!/usr/bin/env bash
# `gavel backfill` end to end (DESIGN §1.10): a `sim history` of EVENTS
# events (50,000; the soak runs 1,000,000) replayed into a Gavel with an Event
# Hubs emulator (backfill on) and a webhook (backfill = false), the client
# killed with SIGKILL mid-way and then Gavel, each rerun resuming past what
# is done; then the outbox, the emulator's arrivals and --verify checked,
# with a CSV job, --rate, the progress lines and GET /v1/backfills; see
# backfill_drive.py. (usage: backfill.sh BIN_DIR [--events N])
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/drive.sh"
e2e_work backfill
e2e_drive 60 "$here/backfill_drive.py" "$1" "$here/../.." "$work" "${@:2}"
