#!/usr/bin/env bash
# Gavel → sim hubspot at its default limit (100 requests per 10 s): a close
# burst on one hot auction and one spread over many auctions. Requests carry
# many events of one auction in order, the limit is never exceeded, and
# everything arrives in order; see hubspot_batching_drive.py.
# (usage: hubspot_batching.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gavel-e2e-hubspot.XXXXXX)
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
/usr/bin/python3 "$here/hubspot_batching_drive.py" "$1" "$here/../.." "$work" "${@:2}" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- gavel log (tail)"; tail -40 "$work/gavel.log" || true
fi
exit $rc
