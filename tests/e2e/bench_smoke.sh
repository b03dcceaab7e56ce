#!/usr/bin/env bash
# bench smoke (CTest label bench-smoke): the smallest bench scenario end to
# end — Gavel on its embedded PostgreSQL, `sim receive`, a 300-event open-loop
# burst, `sim verify`, bench/report.py — into a temporary directory. Asserts
# only that the three report files exist and verify passed; never timing.
# (usage: bench_smoke.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${GAVEL_SOURCE_DIR:-$here/../..}
tmp=$(mktemp -d /tmp/gavel-bench-smoke.XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
BENCH_REPORTS=$tmp/reports BENCH_WORK=$tmp/work bash "$src/bench/run.sh" smoke --bin "$1"
for ext in json md svg; do
  [ -s "$tmp/reports/smoke.$ext" ] || { echo "bench_smoke: no smoke.$ext" >&2; exit 1; }
done
/usr/bin/python3 - "$tmp/reports/smoke.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verify_ok"], "verify failed"
assert r["runs"]["main"]["verify"]["acked"] > 0, "nothing acked"
print("bench_smoke: OK")
PY
