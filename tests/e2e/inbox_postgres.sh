#!/usr/bin/env bash
# The postgres_inbox end to end: out of order commits, a 20,000-event burst of
# concurrent transactions (some rolled back) through a flag flip and two
# SIGKILLs; see inbox_drive.py. (usage: inbox_postgres.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/inbox_drive.py" "$1" postgres
