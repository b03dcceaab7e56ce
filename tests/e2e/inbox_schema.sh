#!/usr/bin/env bash
# `gavel inbox-schema --kind postgres|mysql` prints the DDL compiled in from
# adapters/<kind>/inbox.sql, byte for byte, and exits 0; any other kind (or
# none) exits 2 with nothing on stdout. (usage: inbox_schema.sh BIN_DIR)
set -euo pipefail
bin=$1
src=${GAVEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "inbox_schema: $*" >&2; exit 1; }
for kind in postgres mysql; do
  out=$("$bin/gavel" inbox-schema --kind "$kind") || fail "--kind $kind exited $?"
  # $(...) drops trailing newlines on both sides alike.
  [ "$out" = "$(cat "$src/adapters/$kind/inbox.sql")" ] ||
    fail "--kind $kind does not print adapters/$kind/inbox.sql"
done
for args in "--kind oracle" "--kind" ""; do
  rc=0
  # shellcheck disable=SC2086 # the words are the arguments
  out=$("$bin/gavel" inbox-schema $args 2>/dev/null) || rc=$?
  if [ "$args" = "--kind" ]; then
    # CLI11 refuses an option without its value before Gavel sees it.
    [ "$rc" -ne 0 ] || fail "'inbox-schema $args' exited 0"
  else
    [ "$rc" -eq 2 ] || fail "'inbox-schema $args' exited $rc, not 2"
  fi
  [ -z "$out" ] || fail "'inbox-schema $args' printed to stdout"
done
echo "inbox_schema: ok"
