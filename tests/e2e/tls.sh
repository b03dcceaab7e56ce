#!/usr/bin/env bash
# Gavel's own HTTPS (DESIGN §1.9): ingest over TLS with the test CA, `sim
# burst` over https with a client certificate, a client without the required
# certificate (or with one of another CA) refused, the certificate swapped on
# SIGHUP with no restart and no dropped connection, a broken one on SIGHUP
# leaving the old in place, and plain HTTP off loopback refused at start.
# (usage: tls.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/tls_drive.py" "$1"
