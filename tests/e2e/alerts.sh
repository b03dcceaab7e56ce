#!/usr/bin/env bash
# Alerts end to end: a real SMTP server (python3-aiosmtpd, STARTTLS + AUTH,
# throwaway CA) and a local Teams webhook receiver; nothing during a healthy
# run, one alert per incident and one recovery notice when the destination's
# receiver stops and comes back; no secrets, no bidder data.
# (usage: alerts.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/alerts_drive.py" "$1"
