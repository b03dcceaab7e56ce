#!/usr/bin/env bash
# README.md's "Without root" block, run as written (less its build line:
# the suite has built) by an unprivileged user in a directory of its own:
# Gavel on its embedded PostgreSQL as that user, a burst, and `sim verify`
# clean. The ports are moved to free ones, so the test runs beside others.
# (usage: quickstart.sh BIN_DIR)
set -euo pipefail
bin=$(cd "$1" && pwd)
src=${GAVEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "quickstart: $*" >&2; exit 1; }
block=$(awk '/^### Without root/{f=1} f && /^```sh/{b=1; next} b && /^```/{exit} b' "$src/README.md")
[ -n "$block" ] || fail "no sh block under '### Without root' in README.md"
grep -q '^bash scripts/build.sh' <<<"$block" || fail "the block no longer starts by building"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gp=$(free_port) rp=$(free_port)
work=$(mktemp -d /tmp/gavel-quickstart.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/build/bin" "$work/config"
# Copies: the user may not traverse the parents of the build tree.
cp "$bin/gavel" "$bin/sim" "$work/build/bin/"
sed -e "s/127.0.0.1:8080/127.0.0.1:$gp/g" -e "s/127.0.0.1:9000/127.0.0.1:$rp/g" \
  "$src/config/dev.toml" > "$work/config/dev.toml"
script=$(grep -v '^bash scripts/build.sh' <<<"$block" |
  sed -e "s/127.0.0.1:8080/127.0.0.1:$gp/g" -e "s/127.0.0.1:9000/127.0.0.1:$rp/g")
printf 'set -e\n%s\n' "$script" > "$work/quickstart.sh"
run=(bash)
if [ "$(id -u)" -eq 0 ]; then
  chown -R nobody "$work"
  run=(runuser -u nobody -- bash)
fi
pgid=""
cleanup() {
  # The block's own processes (gavel, which stops its cluster, and the
  # receiver) are one process group: TERM, then KILL what lingers.
  if [ -n "$pgid" ]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
rc=0
(cd "$work" && exec setsid timeout 300 "${run[@]}" quickstart.sh) > "$work/out" 2>&1 &
pgid=$!
wait "$pgid" || rc=$?
if [ "$rc" -ne 0 ]; then
  tail -40 "$work/out" >&2
  fail "the README's block exited $rc"
fi
grep -q "^verify: OK" "$work/out" || { tail -40 "$work/out" >&2; fail "sim verify did not say OK"; }
[ -d "$work/var/pg" ] || fail "no embedded cluster under var/pg"
# The block waited for gavel, which stops its cluster before it exits.
if pgrep -f "$work/var/pg" >/dev/null; then
  fail "the embedded cluster outlived gavel"
fi
owner=$(stat -c %U "$work/var/pg")
[ "$owner" != root ] || fail "the embedded cluster belongs to root"
echo "quickstart: ok (as $(stat -c %U "$work"), cluster owned by $owner)"
