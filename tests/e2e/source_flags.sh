#!/usr/bin/env bash
# Per-source flags against the real gavel (DESIGN §1.7, ADR 0022): a burst
# whose source is turned off and on again arrives whole and in order, the
# source answering 503 source_disabled meanwhile; flips persist across a
# restart and win over the file's default; a flip made in the database takes
# effect within a second; GET /v1/sources and the per-source metrics count
# what each source took and rejected. (usage: source_flags.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/source_flags_drive.py" "$1"
