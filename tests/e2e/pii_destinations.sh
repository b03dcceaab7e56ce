#!/usr/bin/env bash
# Per-destination PII (DESIGN §1.9): three webhook destinations with pii =
# clear, mask and hash; pseudonyms checked against an independent HMAC, stable
# across events, retries and a restart; and no bidder data in gavel's log,
# alerts, /metrics or /v1/pipeline after a destination rejected (and echoed)
# an event full of it. (usage: pii_destinations.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/pii_destinations_drive.py" "$1"
