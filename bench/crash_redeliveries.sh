#!/usr/bin/env bash
# Redeliveries after `kill -9` while one auction is held back (ADR 0012).
#
#   bench/crash_redeliveries.sh [--rounds N] [--bin DIR] [--before-bin DIR]
#
# The scenario: a webhook receiver that answers 503 for every event of
# auction 1 during its first 30 s (`sim receive --outage 0s+30s
# --outage-auction 1`) while the other 39 auctions flow; a 6,000-event burst at
# 150 events/s; Gavel killed with -9 after a third was acknowledged (auction 1
# still refused), restarted, the burst finished, `sim verify`. A stuck auction
# holds the delivered-through prefix back, so a build that resumes from the
# prefix alone sends again everything delivered past it.
#
# --bin: the build measured (default build/bin). --before-bin: a build to
# compare with (its gavel; `sim` always comes from --bin), e.g. one built from
# the commit before per-auction progress. Each build runs --rounds times
# (default 2). Writes bench/reports/crash-redeliveries-slow-auction.{json,md}
# (BENCH_REPORTS overrides the directory); scratch in bench/work/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
rounds=2 bin=${GAVEL_BIN:-$repo/build/bin} before=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --before-bin) before=$2; shift 2 ;;
    *) sed -n 2,19p "$0" >&2; exit 2 ;;
  esac
done
bin=$(cd "$bin" && pwd)
reports=${BENCH_REPORTS:-$here/reports}
work=${BENCH_WORK:-$here/work}/crash-redeliveries
rm -rf "$work"
mkdir -p "$work" "$reports"
py=/usr/bin/python3
source "$here/lib.sh"
machine_json > "$work/machine.json"
load_before=$(loadavg)

builds=("after:$bin")
if [ -n "$before" ]; then
  before=$(cd "$before" && pwd)
  mkdir -p "$work/before-bin"
  ln -sf "$before/gavel" "$work/before-bin/gavel"
  ln -sf "$bin/sim" "$work/before-bin/sim"
  builds+=("before:$work/before-bin")
fi

results="$work/results.jsonl"
: > "$results"
for r in $(seq 1 "$rounds"); do
  for b in "${builds[@]}"; do
    label=${b%%:*} dir=${b#*:}
    run="$work/$label-$r"
    echo "== $label round $r"
    rc=0
    bash "$repo/scripts/run-burst.sh" "$dir" "$run" --auctions 40 --events 6000 \
      --connections 16 --kill9 \
      --receiver-arg --outage --receiver-arg 0s+30s \
      --receiver-arg --outage-auction --receiver-arg 1 \
      -- --rate 150 > "$run.out" 2>&1 || rc=$?
    tail -25 "$run.out"
    acks_at_kill=$(sed -n 's/^kill -9 gavel after \([0-9]*\) acknowledged events$/\1/p' "$run.out" | head -1)
    $py - "$run/report.json" "$label" "$r" "${acks_at_kill:-0}" "$rc" >> "$results" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
print(json.dumps({"build": sys.argv[2], "round": int(sys.argv[3]),
                  "acks_at_kill": int(sys.argv[4]), "verify_rc": int(sys.argv[5]),
                  "redeliveries": rep.get("redeliveries"), "lost": rep.get("lost"),
                  "acked": rep.get("acked"), "out_of_order": rep.get("out_of_order")}))
EOF
  done
done

commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
$py - "$results" "$work/machine.json" "$reports" "$commit" "$load_before" "$(loadavg)" "$before" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
machine = json.load(open(sys.argv[2]))
reports, commit, load_before, load_after, before = sys.argv[3:8]
out = {"scenario": "crash-redeliveries-slow-auction", "commit": commit,
       "machine": machine, "load_before": load_before, "load_after": load_after,
       "before_bin": before, "runs": rows}
json.dump(out, open(f"{reports}/crash-redeliveries-slow-auction.json", "w"), indent=2)
def fmt(n):
    return "—" if n is None else f"{n:,}"
lines = [
    "# Bench: redeliveries after `kill -9` with one auction held back (ADR 0012)",
    "",
    "Run by `bench/crash_redeliveries.sh`"
    + (" --before-bin (the comparison build's gavel)" if before else "")
    + f" from commit `{commit}`.",
    "",
    "## Machine",
    "",
    f"- {machine.get('nproc')} CPUs: {machine.get('cpu')}; RAM {machine.get('ram_gib')} GiB; "
    f"kernel {machine.get('kernel')}; PostgreSQL {machine.get('pg')}",
    f"- measured build: commit `{machine.get('commit')}`"
    + (" (tree dirty)" if machine.get('dirty') else ""),
    f"- load average before {load_before}, after {load_after}: the machine is shared "
    "with builds and other test runs, so timings move; the counts below do not "
    "depend much on them.",
    "",
    "## Scenario",
    "",
    "Webhook destination (`sim receive`) answering 503 for every event of auction 1 "
    "during its first 30 s while the other 39 auctions flow; `sim burst` of 6,000 events "
    "over 40 auctions at 150 events/s, 16 connections; Gavel killed with `-9` after "
    "a third of the burst was acknowledged (auction 1 still refused), restarted; the "
    "burst finishes and `sim verify` checks every acknowledged event arrived, in order. "
    "A redelivery is an event that reached the receiver more than once (always with "
    "identical bytes).",
    "",
    "| build | round | acknowledged at the kill | redeliveries | lost | out of order | verify |",
    "|---|---|---|---|---|---|---|",
]
for r in rows:
    lines.append(f"| {r['build']} | {r['round']} | {fmt(r['acks_at_kill'])} | "
                 f"{fmt(r['redeliveries'])} | {fmt(r['lost'])} | {fmt(r['out_of_order'])} | "
                 f"{'OK' if r['verify_rc'] == 0 else 'FAILED'} |")
lines += [
    "",
    "`after` is the build measured (per-auction progress, ADR 0012); `before`, when "
    "present, is the comparison build, which resumes from the delivered-through "
    "prefix alone. The documented bound (docs/adr/0012-delivery-progress.md): the "
    "records in flight plus one `position_interval` (200 ms) of deliveries.",
    "",
]
open(f"{reports}/crash-redeliveries-slow-auction.md", "w").write("\n".join(lines))
print("\n".join(lines))
EOF
