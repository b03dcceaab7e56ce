#!/usr/bin/env bash
# The HTTP server's own limits on a running Gavel, with its timeouts
# shortened to fractions of a second: a connection that sends nothing is
# closed at server.header_timeout, a stalled body at server.body_timeout, an
# idle keep-alive at server.idle_timeout while its next request still gets a
# whole header_timeout, each counted once in /metrics; under
# server.max_connections a closed connection's slot comes back. Bounds are
# loose on both sides (a shared machine is slow). A partial header stalled or
# dripped is stalled_clients.sh. (usage: http_limits.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/http_limits_drive.py" "$1"
