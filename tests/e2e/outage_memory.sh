#!/usr/bin/env bash
# Event Hubs down for GAVEL_OUTAGE_SECONDS (default 60; the soak test runs
# 300) while ingest continues: RSS flat, webhooks unaffected, backlog drained,
# nothing lost; see outage_drive.py. (usage: outage_memory.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gavel-e2e-outage.XXXXXX)
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
/usr/bin/python3 "$here/outage_drive.py" "$1" "$here/../.." "$work" \
  --outage "${GAVEL_OUTAGE_SECONDS:-60}" --rate "${GAVEL_OUTAGE_RATE:-800}" || rc=$?
[ "$rc" -eq 0 ] || { echo "--- gavel log (tail)"; tail -30 "$work/gavel.log" || true; }
exit $rc
