#!/usr/bin/env bash
# Gavel → sim hubspot at its default limit (100 requests per 10 s): a close
# burst on one hot auction and one spread over many auctions. Requests carry
# many events of one auction in order, the limit is never exceeded, and
# everything arrives in order; see hubspot_batching_drive.py.
# (usage: hubspot_batching.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/drive.sh"
e2e_work hubspot
e2e_drive 40 "$here/hubspot_batching_drive.py" "$1" "$here/../.." "$work" "${@:2}"
