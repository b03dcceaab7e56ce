#!/usr/bin/env bash
# The command line a newcomer meets first (issue 14): `gavel --version` and
# `sim --version` name the version and the commit they were built from;
# `gavel serve`, `migrate` and `prune` without --config exit 2 with a
# message saying how to start, and touch nothing (no ./var/pg cluster);
# `gavel check-config --keys` lists every key with its default.
# (usage: cli.sh BIN_DIR)
set -euo pipefail
bin=$(cd "$1" && pwd)
src=${GAVEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "cli: $*" >&2; exit 1; }
version=$(sed -n 's/^project(gavel VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
commit=unknown
if git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
  commit=$(git -C "$src" rev-parse --short=12 HEAD)
fi
for prog in gavel sim; do
  out=$("$bin/$prog" --version) || fail "$prog --version exited $?"
  case "$out" in
    "$prog $version (commit $commit"*")") echo "ok   $out" ;;
    *) fail "$prog --version printed '$out', not '$prog $version (commit $commit...)'" ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for cmd in serve migrate prune; do
  rc=0
  timeout 20 "$bin/gavel" "$cmd" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "gavel $cmd without --config exited $rc, not 2"
  grep -q -- "--config FILE is required" "$work/err" || fail "gavel $cmd: no word of --config: $(cat "$work/err")"
  grep -q "gavel serve --config" "$work/err" || fail "gavel $cmd: does not say how to start"
  [ ! -s "$work/out" ] || fail "gavel $cmd printed to stdout"
  [ ! -e "$work/var" ] || fail "gavel $cmd without --config created ./var"
  echo "ok   gavel $cmd without --config: exit 2"
done
keys=$("$bin/gavel" check-config --keys) || fail "check-config --keys exited $?"
grep -qx 'server.listen = "127.0.0.1:8080"' <<<"$keys" || fail "check-config --keys: no server.listen with its default"
grep -q '^destination.url = (required)' <<<"$keys" || fail "check-config --keys: no destination.url"
[ "$(grep -c ' = ' <<<"$keys")" -ge 50 ] || fail "check-config --keys lists too few keys"
echo "ok   gavel check-config --keys: $(grep -c ' = ' <<<"$keys") keys"
echo "cli: ok"
