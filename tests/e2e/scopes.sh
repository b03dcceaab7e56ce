#!/usr/bin/env bash
# Token scopes, PII masking and the audit log against the real gavel: the
# route x scope matrix (401 / 403 / allowed), masked dead letters without
# `pii`, one audit record per `pii` read, GET /v1/audit paging, legacy
# ingest.tokens, and no token secret in gavel's output. (usage: scopes.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/scopes_drive.py" "$1"
