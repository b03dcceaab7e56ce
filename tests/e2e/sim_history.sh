#!/usr/bin/env bash
# `sim history` writes a realistic history for `gavel backfill`: JSON lines
# and CSV of the same events, in time order, closed auctions with their
# closes, running ones without, bids of each auction in order; the same seed
# gives the same bytes. (usage: sim_history.sh BIN_DIR)
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(--months 2 --auctions 40 --events 4000 --until 2026-12-01T00:00:00Z --seed 7)
"$bin/sim" history --out "$work/h.jsonl" "${args[@]}"
"$bin/sim" history --out "$work/again.jsonl" "${args[@]}"
"$bin/sim" history --out "$work/h.csv" "${args[@]}"
cmp "$work/h.jsonl" "$work/again.jsonl"
if "$bin/sim" history --out "$work/bad.jsonl" --until yesterday 2>/dev/null; then
  echo "FAIL: a bad --until was accepted"; exit 1
fi
/usr/bin/python3 - "$work" <<'PY'
import csv, json, sys
work = sys.argv[1]
events = [json.loads(l) for l in open(f"{work}/h.jsonl")]
rows = list(csv.DictReader(open(f"{work}/h.csv", newline="")))
def fail(m):
    print("FAIL:", m); sys.exit(1)
if len(events) != len(rows) or len(events) < 3000:
    fail(f"{len(events)} JSON lines, {len(rows)} CSV rows")
until = "2026-12-01T00:00:00"
by_auction, last_t = {}, ""
for e, r in zip(events, rows):
    d, t = e["data"], e["event_type"]
    if r["event_type"] != t or int(r["auction_id"]) != d["auction_id"]:
        fail(f"CSV row {r} is not {e}")
    if t == "bid.placed":
        if r["bid_amount"] != d["bid_amount"] or r["bidder_email"] != d["bidder_email"]:
            fail(f"CSV row {r} is not {e}")
        ts = d["bid_timestamp"]
        if ts > until + "Z" or ts < last_t:
            fail(f"bid at {ts} out of time order (after {last_t})")
        last_t = ts
    by_auction.setdefault(d["auction_id"], []).append(t)
closed = [a for a, ts in by_auction.items() if ts[-1] == "auction.closed"]
running = [a for a, ts in by_auction.items() if "auction.closed" not in ts]
for a, ts in by_auction.items():
    if ts[0] != "auction.opened" or ts.count("auction.opened") != 1 or ts.count("auction.closed") > 1:
        fail(f"auction {a}: {ts[:3]}...{ts[-3:]}")
if not closed or not running:
    fail(f"{len(closed)} closed and {len(running)} running auctions: want both")
print(f"PASS: {len(events)} events, {len(closed)} closed and {len(running)} running auctions")
PY
