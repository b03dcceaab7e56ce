#!/usr/bin/env bash
# Gavel → Event Hubs (HTTPS) + HubSpot + webhook emulators at once, with an
# outage, dropped responses, 429s, a poison auction + redrive and a crashing
# worker; see destinations_drive.py. (usage: destinations.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gavel-e2e-dest.XXXXXX)
chmod 755 "$work"
cleanup() {
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    else
      /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
  fi
  [ "${GAVEL_KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
rc=0
/usr/bin/python3 "$here/destinations_drive.py" "$1" "$here/../.." "$work" "${@:2}" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- gavel log (tail)"; tail -40 "$work/gavel.log" || true
fi
exit $rc
