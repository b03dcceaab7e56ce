#!/usr/bin/python3
"""End to end: Gavel delivering to `sim hubspot` at HubSpot's default limit
(100 requests per 10 s on both sides), two close bursts one after the other:

- hot: every bid on one auction (3,000 events, arrays of 100);
- spread: 3,000 events over 60 auctions.

Checks, from the emulator's arrival log (each line names the request that
carried it) and its counters:
- requests carry many events of one auction (≥ 50 of the hot one in some
  request), each auction's inputs in a request in bid_sequence order and
  contiguous;
- the emulator's limit is never exceeded (≤ 100 requests offered in any
  10 s window, no 429) and no request names an id twice;
- `sim verify`: nothing lost, per-auction order, gap-free, closes.
The delivery rate of each burst is logged (the bench measures it: bench/run.sh
hubspot-hot, hubspot-spread).

usage: hubspot_batching_drive.py BIN_DIR SOURCE_DIR WORK_DIR
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Harness, drive_args, hubspot_destination  # noqa: E402

BIN, SRC, WORK, _ = drive_args()
H = Harness(WORK, "hubspot_batching", BIN)
log, fail, start, http, wait = H.log, H.fail, H.start, H.http, H.wait

HS_TOKEN = "hs-token-" + os.urandom(6).hex()
TOKEN = "ingest-" + os.urandom(6).hex()
ARR = f"{WORK}/hubspot.jsonl"

hs_proc, addr = H.start_sim("hubspot", "hubspot", "--token", HS_TOKEN, "--out", ARR)
HS = "http://" + addr
gavel, G = H.start_gavel(TOKEN, hubspot_destination("crm", HS, HS_TOKEN, """retry_initial = "100ms"
retry_max = "2s"
"""))
log("gavel up on", G)


def arrivals():
    out = []
    try:
        for line in open(ARR):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    except FileNotFoundError:
        pass
    return out


def burst(name, auctions, events, first_id):
    r = subprocess.run([f"{BIN}/sim", "burst", "--target", G, "--token", TOKEN,
                        "--auctions", str(auctions), "--events", str(events), "--batch", "100",
                        "--connections", "4", "--implicit-open", "0", "--first-auction-id", str(first_id),
                        "--acks", f"{WORK}/acks-{name}.jsonl", "--retry-for", "120s", "--quiet"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        fail(f"sim burst {name} exited {r.returncode}: {r.stderr[-2000:]}")
    acks = [json.loads(l) for l in open(f"{WORK}/acks-{name}.jsonl")]
    ids = {a["event_id"] for a in acks if a.get("status") == "accepted"}
    t0 = time.time()
    wait(lambda: ids <= {a["event_id"] for a in arrivals()}, f"{name}: every accepted event at HubSpot", 300)
    mine = [a for a in arrivals() if a["event_id"] in ids]
    first = {}
    for a in mine:
        first.setdefault(a["event_id"], a["t_ms"])
    span = (max(first.values()) - min(first.values())) / 1000
    log(f"{name}: {len(ids)} events over {auctions} auction(s) at HubSpot in {span:.1f} s "
        f"({len(ids) / max(span, 1e-3):.0f} events/s; waited {time.time() - t0:.1f} s after the acks)")
    return mine


hot = burst("hot", 1, 3000, 1)
spread = burst("spread", 60, 3000, 1001)

# Request composition: per (request, auction), the inputs in request order.
by_req = {}
for a in arrivals():
    if "request" not in a:
        fail("arrival without a request number: " + json.dumps(a))
    by_req.setdefault((a["request"], a["auction_id"]), []).append(a["bid_sequence"])
most = {}
for (req, auction), seqs in by_req.items():
    # In order and contiguous: the auction's next events, none skipped.
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))) and not (
            len(seqs) >= 2 and seqs[:-1] == list(range(seqs[0], seqs[0] + len(seqs) - 1)) and seqs[-1] == seqs[-2]):
        fail(f"request {req}, auction {auction}: inputs not in sequence order: {seqs[:20]}")
    most[auction] = max(most.get(auction, 0), len(seqs))
requests = len({r for r, _ in by_req})
log(f"{requests} requests carried inputs; most of one auction in one request: hot {most.get(1)}, "
    f"spread max {max(v for k, v in most.items() if k >= 1001)}")
if most.get(1, 0) < 50:
    fail(f"the hot auction never had 50 events in one request (at most {most.get(1)})")
if max(v for k, v in most.items() if k >= 1001) < 2:
    fail("no spread auction had two events in one request")
if requests > 6000 // 50:
    fail(f"{requests} requests for 6,000 events: requests are not being filled")

st = http("GET", HS + "/_sim/stats")[1]
log("HubSpot stats:", json.dumps(st))
if st["max_requests_in_window"] > 100:
    fail(f"Gavel offered {st['max_requests_in_window']} requests in a 10 s window (limit 100)")
if st["rate_limited"] != 0:
    fail(f"{st['rate_limited']} requests answered 429: Gavel's own limit should keep it under")
if st.get("duplicate_ids", 0) != 0:
    fail(f"{st['duplicate_ids']} requests named one id twice")

gavel.send_signal(signal.SIGTERM)
if gavel.wait(timeout=60) != 0:
    fail("gavel exited %s on SIGTERM" % gavel.returncode)
hs_proc.send_signal(signal.SIGTERM)
hs_proc.wait(timeout=10)
with open(f"{WORK}/acks.jsonl", "w") as out:
    for name in ("hot", "spread"):
        out.write(open(f"{WORK}/acks-{name}.jsonl").read())
r = H.verify(f"{WORK}/acks.jsonl", ARR, "--report", f"{WORK}/verify.json", "--expect-closed")
log(f"verify: rc={r.returncode}\n" + r.stdout[-1500:] + r.stderr[-1500:])
if r.returncode != 0:
    fail("sim verify found problems")
log("OK")
