#!/usr/bin/env bash
# The mysql_inbox end to end on the suite's throwaway MariaDB
# (scripts/test-mysql.sh): the same proof as inbox_postgres.sh; see
# inbox_drive.py. (usage: inbox_mysql.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/inbox_drive.py" "$1" mysql
