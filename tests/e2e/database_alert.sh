#!/usr/bin/env bash
# The embedded PostgreSQL's supervisor past its restart intensity limit: two
# kill -9 of the postmaster within database.restart_period (limit 1) raise
# one restart_intensity:database alert at a Teams receiver, the cluster still
# comes back (slowly, after backoff_max), ingest works again, and the
# recovery notice follows once the window has passed.
# (usage: database_alert.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/database_alert_drive.py" "$@"
