#!/usr/bin/python3
"""A long Event Hubs outage while ingest goes on, with two webhook
destinations (each with its own secret) alongside:

- Gavel's RSS stays flat during the outage (the Event Hubs destination holds
  a bounded window and then reads from the outbox),
- the webhooks keep receiving everything while Event Hubs is down,
- when Event Hubs returns, the backlog drains; `sim verify` finds nothing
  lost and per-auction order intact on all three destinations.

usage: outage_drive.py BIN_DIR SOURCE_DIR WORK_DIR [--outage SECONDS] [--rate EV_PER_S]
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Harness, drive_args, eventhub_destination  # noqa: E402

BIN, SRC, WORK, OPTS = drive_args(outage=60, rate=800)
OUTAGE, RATE = OPTS["outage"], OPTS["rate"]
H = Harness(WORK, "outage", BIN)
log, fail, start, http = H.log, H.fail, H.start, H.http
procs = H.procs

CA = H.test_ca(SRC)

KEY = "k-" + os.urandom(6).hex()
TOKEN = "t-" + os.urandom(6).hex()
SECRETS = ["whsec_" + base64.b64encode(os.urandom(24)).decode() for _ in range(2)]
_, addr = H.start_sim("eventhub", "eventhub",
                      "--tls-cert", f"{CA}/server.pem", "--tls-key", f"{CA}/server.key",
                      "--hub", "bids", "--key-name", "send", "--key", KEY,
                      "--out", f"{WORK}/eventhub.jsonl")
EH = "https://localhost:" + addr.rsplit(":", 1)[1]
hooks = []
for i in range(2):
    _, addr = H.start_sim(f"receive{i}", "receive",
                          "--secret", SECRETS[i], "--out", f"{WORK}/webhook{i}.jsonl")
    hooks.append("http://" + addr)
gavel, G = H.start_gavel(TOKEN, eventhub_destination("warehouse", EH, KEY, CA, """window = 2000
retry_initial = "100ms"
retry_max = "2s"
circuit_open = "1s"
""") + "".join(f"""
[[destination]]
name = "hook{i}"
kind = "webhook"
url = "{hooks[i]}/hook"
secret = "{SECRETS[i]}"
window = 2000
""" for i in range(2)))


def rss_kib():
    for line in open(f"/proc/{gavel.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pipeline():
    return {d["name"]: d for d in http("GET", G + "/v1/pipeline", token=TOKEN)[1]["destinations"]}


events = RATE * (OUTAGE + 10)
auctions = max(50, events // 200)
http("POST", EH + "/_sim/outage")  # until lifted
log(f"Event Hubs down; ingest at {RATE} events/s for ~{OUTAGE + 10} s ({events} events, {auctions} auctions)")
burst = subprocess.Popen([f"{BIN}/sim", "burst", "--target", G, "--token", TOKEN,
                          "--auctions", str(auctions), "--events", str(events),
                          "--connections", "16", "--rate", str(RATE),
                          "--close-window", f"{OUTAGE + 10}s",
                          "--acks", f"{WORK}/acks.jsonl", "--retry-for", "120s", "--quiet"],
                         stdout=open(f"{WORK}/burst.out", "w"), stderr=open(f"{WORK}/burst.log", "w"))
procs.append(burst)
t0 = time.time()
samples = []
while time.time() - t0 < OUTAGE:
    time.sleep(1)
    p = pipeline()
    samples.append((round(time.time() - t0, 1), rss_kib(), p["warehouse"]["in_memory"],
                    p["warehouse"]["lag_events"], p["hook0"]["lag_events"]))
json.dump(samples, open(f"{WORK}/rss.json", "w"))
third = [s for s in samples if s[0] >= OUTAGE / 3]
base, peak = third[0][1], max(s[1] for s in third)
max_mem = max(s[2] for s in samples)
log(f"RSS during the outage: {samples[0][1]} KiB at 1 s, {base} KiB at {third[0][0]} s, "
    f"peak {peak} KiB afterwards; Event Hubs held at most {max_mem} records; "
    f"its lag reached {samples[-1][3]} events while the webhooks' was {samples[-1][4]}")
if max_mem > 2000:
    fail(f"the Event Hubs destination held {max_mem} records (window 2000)")
if samples[-1][3] < RATE * OUTAGE / 4:
    fail("the outage did not build a backlog; the test proves nothing")
if samples[-1][4] > RATE * 5:
    fail("a webhook fell behind while only Event Hubs was down")
growth_mib = (peak - base) / 1024
backlog_mib = samples[-1][3] * 600 / 1024 / 1024
log(f"RSS growth over the last two thirds: {growth_mib:.1f} MiB "
    f"(the backlog's envelopes would take ~{backlog_mib:.0f} MiB)")
if growth_mib > max(8.0, backlog_mib / 4):
    fail(f"RSS grew by {growth_mib:.1f} MiB during the outage")
http("DELETE", EH + "/_sim/outage")
t1 = time.time()
lag_at_end = pipeline()["warehouse"]["lag_events"]
if burst.wait(timeout=300) != 0:
    fail("sim burst failed: " + open(f"{WORK}/burst.log").read()[-2000:])
deadline = time.time() + 600
while True:
    p = pipeline()
    if all(d["lag_events"] == 0 and d["state"] == "ok" for d in p.values()):
        break
    if time.time() > deadline:
        fail("backlog not drained: " + json.dumps(p))
    time.sleep(0.5)
drain = time.time() - t1
log(f"backlog of {lag_at_end} events drained {drain:.1f} s after Event Hubs returned")
for p in procs[:3]:
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
ok = True
for name in ("eventhub", "webhook0", "webhook1"):
    r = H.verify(f"{WORK}/acks.jsonl", f"{WORK}/{name}.jsonl", "--expect-closed")
    log(f"verify {name}: rc={r.returncode} " + " ".join(r.stdout.split()[:12]))
    ok = ok and r.returncode == 0
    if r.returncode:
        print(r.stdout[-2000:], r.stderr[-1000:])
gavel.send_signal(signal.SIGTERM)
gavel.wait(timeout=60)
if not ok:
    fail("sim verify found problems")
log("OK")
