#!/usr/bin/python3
"""End to end: Gavel delivering to Event Hubs (HTTPS, test CA), HubSpot and a
webhook at once, all emulated by `sim` on loopback, with faults injected
during an auction-close burst:

- an Event Hubs outage in the middle of the burst (other destinations go on);
- Event Hubs responses dropped after the emulator accepted the batch
  (redelivery with the same event_id and bytes, never N+1 before N);
- HubSpot: its server-side limit (40 per 10 s) is below what Gavel's two
  HubSpot destinations sharing the account may use together (2 x 25), so
  429 storms come; each honours Retry-After and the rate-limit headers, and
  together they never offer more than their configured limits allow in any
  10 s window;
- a poison auction on HubSpot: its first event is dead-lettered, only that
  auction parks (its later events wait in the dead-letter table, in order),
  everything else flows; after the poison is removed a redrive delivers them
  in order;
- the webhook destination's worker crashed on purpose again and again: it is
  restarted with backoff, then marked failed at the restart intensity limit,
  then restarted by an operator; nothing is lost.

Then `sim verify` checks every destination: nothing lost, per-auction order
and gap-free sequences, duplicates only with identical bytes.

usage: destinations_drive.py BIN_DIR SOURCE_DIR WORK_DIR [--events N] [--outage S]
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Harness, acks_count, drive_args, eventhub_destination, hubspot_destination  # noqa: E402

BIN, SRC, WORK, OPTS = drive_args(events=3000, outage=6)
EVENTS, OUTAGE_S = OPTS["events"], OPTS["outage"]
# Many auctions: HubSpot requests carry one event per auction, so its
# throughput at 2 x 25 requests per 10 s depends on how many auctions are open.
AUCTIONS = max(30, EVENTS // 20)
POISON_AUCTION = 7
H = Harness(WORK, "destinations", BIN)
log, fail, start, http, wait = H.log, H.fail, H.start, H.http, H.wait
procs = H.procs

CA = H.test_ca(SRC)

EH_KEY = "eh-key-" + os.urandom(6).hex()
HS_TOKEN = "hs-token-" + os.urandom(6).hex()
SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
TOKEN = "ingest-" + os.urandom(6).hex()

_, addr = H.start_sim("eventhub", "eventhub",
                      "--tls-cert", f"{CA}/server.pem", "--tls-key", f"{CA}/server.key",
                      "--hub", "bids", "--key-name", "send", "--key", EH_KEY,
                      "--out", f"{WORK}/eventhub.jsonl", "--drop-after-accept", "0.02")
eh_port = addr.rsplit(":", 1)[1]
EH = f"https://localhost:{eh_port}"
_, addr = H.start_sim("hubspot", "hubspot", "--token", HS_TOKEN,
                      "--out", f"{WORK}/hubspot.jsonl", "--rate-limit", "40/10s")
HS = "http://" + addr
_, addr = H.start_sim("receive", "receive", "--secret", SECRET, "--out", f"{WORK}/webhook.jsonl")
WH = "http://" + addr

gavel, G = H.start_gavel(TOKEN, eventhub_destination("warehouse", EH, EH_KEY, CA, """retry_initial = "50ms"
retry_max = "1s"
circuit_open = "500ms"
request_timeout = "2s"
""") + "".join(hubspot_destination(name, HS, HS_TOKEN, """requests_per_10s = 25
retry_initial = "100ms"
retry_max = "2s"
""") for name in ("crm", "crm2")) + f"""[[destination]]
name = "hooks"
kind = "webhook"
url = "{WH}/hook"
secret = "{SECRET}"
retry_initial = "50ms"
retry_max = "1s"
restart_limit = 3
restart_period = "60s"
""", server="fault_injection = true\n")
log("gavel up on", G)


def pipeline():
    st, body = http("GET", G + "/v1/pipeline", token=TOKEN)
    if st != 200:
        fail(f"/v1/pipeline answered {st}: {body}")
    return {d["name"]: d for d in body["destinations"]}


# Poison one auction on HubSpot before anything flows.
st, _ = http("POST", HS + f"/_sim/poison?property=auction_id&value={POISON_AUCTION}")
assert st == 200, st

burst = subprocess.Popen([f"{BIN}/sim", "burst", "--target", G, "--token", TOKEN,
                          "--auctions", str(AUCTIONS), "--events", str(EVENTS),
                          "--connections", "8", "--acks", f"{WORK}/acks.jsonl",
                          "--retry-for", "120s", "--quiet"],
                         stdout=open(f"{WORK}/burst.out", "w"), stderr=open(f"{WORK}/burst.log", "w"))
procs.append(burst)


def acked():
    return acks_count(f"{WORK}/acks.jsonl")


wait(lambda: acked() >= EVENTS // 4 or burst.poll() is not None, "a quarter of the burst", 120)
st, body = http("POST", EH + f"/_sim/outage?for={OUTAGE_S}s")
assert st == 200, (st, body)
outage_end = time.time() + OUTAGE_S
log(f"Event Hubs outage for {OUTAGE_S} s after {acked()} acks")

# Crash the webhook worker twice during the burst: restarted each time.
for i in range(2):
    wait(lambda: pipeline()["hooks"]["state"] not in ("restarting",), "hooks running", 30)
    st, _ = http("POST", G + "/v1/destinations/hooks/crash", {}, TOKEN)
    assert st == 202, st
    time.sleep(0.3)

# While Event Hubs is down, the webhook keeps delivering.
wh_before = http("GET", WH + "/_sim/stats")[1]["arrivals"]
time.sleep(1.0)
wh_after = http("GET", WH + "/_sim/stats")[1]["arrivals"]
p = pipeline()
if time.time() < outage_end:
    log("during the outage:", p["warehouse"]["state"], "webhook arrivals", wh_before, "->", wh_after)
    if p["warehouse"]["state"] not in ("retrying", "circuit-open", "catching-up"):
        fail("Event Hubs down but its destination reports " + p["warehouse"]["state"])
    if wh_after <= wh_before and burst.poll() is None:
        fail("webhook stopped while only Event Hubs was down")

rc = burst.wait(timeout=300)
if rc != 0:
    fail(f"sim burst exited {rc}: " + open(f"{WORK}/burst.log").read()[-2000:])
n_acked = acked()
log("burst done,", n_acked, "acks")
head = max(json.loads(l).get("position", 0) for l in open(f"{WORK}/acks.jsonl")) if False else None


def settled(name):
    d = pipeline()[name]
    return d["state"] == "ok" and d.get("in_memory", 0) == 0 and d.get("lag_events", 0) == 0


wait(lambda: settled("warehouse"), "Event Hubs to drain its backlog", 180)
log("Event Hubs drained:", pipeline()["warehouse"])

# Crash the webhook worker until the supervisor gives up (limit 3 in 60 s).
for i in range(4):
    d = wait(lambda: (lambda x: x if x["state"] != "restarting" else None)(pipeline()["hooks"]),
             "hooks restarted", 60)
    if d["state"] == "failed":
        break
    http("POST", G + "/v1/destinations/hooks/crash", {}, TOKEN)
    time.sleep(0.2)
d = wait(lambda: (lambda x: x if x["state"] == "failed" else None)(pipeline()["hooks"]),
         "hooks marked failed", 60)
log("webhook destination failed after", d.get("restarts"), "restarts:", d.get("last_error"))
if d.get("restarts", 0) < 3:
    fail("expected at least 3 restarts before failing, got %s" % d.get("restarts"))
st, _ = http("POST", G + "/v1/destinations/hooks/restart", {}, TOKEN)
assert st == 202, st
wait(lambda: settled("hooks"), "hooks to deliver everything after the operator restart", 120)

# HubSpot: everything but the poison auction; its events are dead letters.
for name in ("crm", "crm2"):
    wait(lambda: settled(name), f"{name} to deliver all but the parked auction", 480)
st, body = http("GET", G + "/v1/dead-letters?destination=crm&limit=1000", token=TOKEN)
assert st == 200, (st, body)
dls = body["dead_letters"]
expected = [json.loads(l) for l in open(f"{WORK}/acks.jsonl")]
poison_ids = {a["event_id"] for a in expected if a.get("auction_id") == POISON_AUCTION and a.get("status") in ("accepted", "duplicate")}
if not dls:
    fail("no dead letters for the poison auction")
if {d["auction_id"] for d in dls} != {POISON_AUCTION}:
    fail("dead letters outside the poison auction: %s" % sorted({d["auction_id"] for d in dls}))
if dls[0]["status"] != "dead" or any(d["status"] != "parked" for d in dls[1:]):
    fail("expected one dead letter followed by parked ones: %s" % [d["status"] for d in dls][:5])
seqs = [d["bid_sequence"] for d in dls]
if seqs != sorted(seqs):
    fail("dead letters out of order")
log(f"{len(dls)} dead letters, all of auction {POISON_AUCTION}; first: {dls[0]['reason']}")
hs_events = [json.loads(l) for l in open(f"{WORK}/hubspot.jsonl")]
if any(a.get("auction_id") == POISON_AUCTION for a in hs_events):
    fail("a parked auction's event reached HubSpot")
hs_stats = http("GET", HS + "/_sim/stats")[1]
log("HubSpot stats:", json.dumps(hs_stats))
if hs_stats["max_requests_in_window"] > 50:
    fail("Gavel offered %d requests in a 10 s window (limits 2 x 25)" % hs_stats["max_requests_in_window"])
if hs_stats["rate_limited"] == 0:
    log("note: no 429 was provoked this run")

# Remove the poison, redrive, and everything arrives in order.
http("DELETE", HS + "/_sim/poison")
for name in ("crm", "crm2"):
    st, body = http("POST", G + "/v1/dead-letters/redrive", {"destination": name, "auction_id": POISON_AUCTION}, TOKEN)
    if st != 202 or body.get("auctions_redriven") != 1:
        fail(f"redrive of {name} answered {st} {body}")
wait(lambda: http("GET", G + "/v1/dead-letters", token=TOKEN)[1]["dead_letters"] == [],
     "the redriven dead letters to be delivered", 180)
log("redrive delivered; dead letters empty")

final = pipeline()
log("pipeline:", json.dumps(final))
time.sleep(0.5)
for p in (procs[0], procs[1], procs[2]):
    p.send_signal(signal.SIGTERM)
for p in (procs[0], procs[1], procs[2]):
    p.wait(timeout=10)
# Gavel itself: SIGTERM, and it must exit 0.
gavel.send_signal(signal.SIGTERM)
if gavel.wait(timeout=60) != 0:
    fail("gavel exited %s on SIGTERM" % gavel.returncode)
ok = True
for name, file in (("warehouse", "eventhub.jsonl"), ("crm", "hubspot.jsonl"), ("hooks", "webhook.jsonl")):
    r = H.verify(f"{WORK}/acks.jsonl", f"{WORK}/{file}",
                 "--report", f"{WORK}/verify-{name}.json", "--expect-closed")
    log(f"verify {name}: rc={r.returncode}\n" + r.stdout[-1500:] + r.stderr[-1500:])
    ok = ok and r.returncode == 0
eh_stats = None
if not ok:
    fail("sim verify found problems")
log("OK")
