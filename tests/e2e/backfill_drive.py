"""`gavel backfill` against a real Gavel: resumption after SIGKILL of the
client and of Gavel, one write path (duplicates, not copies), the backfill
lane's opt-out, and what the Event Hubs emulator received, checked here
from the history file itself, not with Gavel's code."""
import json
import pty
import re
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_procs import Harness, drive_args, eventhub_destination  # noqa: E402

BIN, SRC, WORK, OPTS = drive_args(events=50000)
EVENTS = OPTS["events"]
H = Harness(WORK, "backfill", BIN)
log, fail, http, wait = H.log, H.fail, H.http, H.wait

CA = H.test_ca(SRC)
EH_KEY = "eh-key-" + os.urandom(6).hex()
SECRET = "whsec_" + __import__("base64").b64encode(os.urandom(24)).decode()
TOKEN = "ingest-" + os.urandom(6).hex()
HISTORY = f"{WORK}/history.jsonl"
FIRST = 1_000_000
LIVE_AUCTION = 9_000_001  # an auction only live traffic knows

subprocess.run([f"{BIN}/sim", "history", "--out", HISTORY, "--months", "12",
                "--events", str(EVENTS), "--auctions", str(max(50, EVENTS // 100)),
                "--first-auction-id", str(FIRST), "--until", "2026-12-01T00:00:00Z",
                "--seed", "11"], check=True)
# Per auction, (event_type, bid_id) in file order: small enough for a
# history of a million events.
by_auction = {}
RECORDS = 0
first_line = {}
for x in open(HISTORY):
    e = json.loads(x)
    a = e["data"]["auction_id"]
    by_auction.setdefault(a, []).append((e["event_type"], e["data"].get("bid_id")))
    first_line.setdefault(a, e)
    RECORDS += 1
# One auction of the history is known live before the backfill: its events
# take the live lane, so even the opted-out destination sees all of it.
KNOWN = sorted(by_auction)[len(by_auction) // 2]
log(f"{RECORDS} events in {len(by_auction)} auctions; auction {KNOWN} known live first")

_, addr = H.start_sim("eventhub", "eventhub",
                      "--tls-cert", f"{CA}/server.pem", "--tls-key", f"{CA}/server.key",
                      "--hub", "bids", "--key-name", "send", "--key", EH_KEY,
                      "--out", f"{WORK}/eventhub.jsonl")
EH = "https://localhost:" + addr.rsplit(":", 1)[1]
_, addr = H.start_sim("receive", "receive", "--secret", SECRET,
                      "--out", f"{WORK}/webhook.jsonl")
DESTINATIONS = eventhub_destination("warehouse", EH, EH_KEY, CA, """retry_initial = "50ms"
retry_max = "1s"
""") + f"""[[destination]]
name = "live_only"
kind = "webhook"
url = "http://{addr}/hook"
secret = "{SECRET}"
backfill = false
retry_initial = "50ms"
retry_max = "1s"
"""
gavel, G = H.start_gavel(TOKEN, DESTINATIONS)
CONFIG = f"{WORK}/gavel.toml"


def post(events):
    st, body = http("POST", G + "/v1/events", events, token=TOKEN)
    if st not in (200, 202):
        fail(f"ingest answered {st}: {body}")


known_first = first_line[KNOWN]
first_line.clear()
post([known_first])
post([{"event_type": "auction.opened", "data": {
    "auction_id": LIVE_AUCTION, "start_date": "2026-12-01T10:00:00Z",
    "end_date": "2026-12-09T10:00:00Z"}}])


def backfill(*extra, job="history", file=HISTORY):
    out = open(f"{WORK}/backfill-{job}.out", "a")
    err = open(f"{WORK}/backfill-{job}.err", "a")
    return subprocess.Popen([f"{BIN}/gavel", "backfill", "--config", CONFIG, "--source",
                             "default", "--file", file, "--job", job, *extra],
                            stdout=out, stderr=err)


def job_state(job="history"):
    st, body = http("GET", G + "/v1/backfills/" + job, token=TOKEN)
    return body if st == 200 else None


def resumes(job="history"):
    """(byte, records) of each "resumes at" line the runs of `job` printed."""
    out = []
    for line in open(f"{WORK}/backfill-{job}.err"):
        m = re.search(r"resumes at byte (\d+) \((\d+) records done\)", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def progress_lines(job="history"):
    out = []
    for line in open(f"{WORK}/backfill-{job}.out"):
        j = json.loads(line)
        if not j.get("summary"):
            out.append(j)
    return out


# 1. The client killed mid-way; the rerun starts past what is done.
client = backfill("--progress", "json")
wait(lambda: (job_state() or {}).get("records_processed", 0) >= RECORDS // 5,
     "a fifth of the history", 600)
client.send_signal(signal.SIGKILL)
client.wait()
time.sleep(1)  # a batch in flight may still land (and move the checkpoint)
done1 = job_state()
log(f"client killed at {done1['records_processed']} records, byte {done1['offset']}")
if done1["state"] != "running" or not 0 < done1["percent_complete"] < 100:
    fail(f"GET /v1/backfills/history after the kill: {done1}")
st, listed = http("GET", G + "/v1/backfills", token=TOKEN)
if st != 200 or [j["job"] for j in listed["backfills"]] != ["history"]:
    fail(f"GET /v1/backfills: {st} {listed}")

# 2. Resumed, then Gavel killed mid-way (SIGKILL), restarted, resumed again.
client = backfill("--progress", "json")
wait(lambda: (job_state() or {}).get("records_processed", 0) >= RECORDS // 2,
     "half of the history", 600)
gavel.send_signal(signal.SIGKILL)
gavel.wait()
client.send_signal(signal.SIGKILL)
client.wait()
if resumes() != [(done1["offset"], done1["records_processed"])]:
    fail(f"the rerun did not resume at byte {done1['offset']}: {resumes()}")
H.procs.remove(gavel)
gavel, G2 = H.start_gavel(TOKEN, DESTINATIONS)
assert G2 == G or True
G = G2
done2 = job_state()
log(f"gavel killed at {done2['records_processed']} records, byte {done2['offset']}")
if done2["offset"] <= done1["offset"]:
    fail(f"no progress stored between the kills: {done1} then {done2}")

# 3. To the end, verified.
client = backfill("--progress", "json", "--verify")
if client.wait(timeout=1800) != 0:
    fail("the last run failed:\n" + open(f"{WORK}/backfill-history.err").read()[-3000:])
err = open(f"{WORK}/backfill-history.err").read()
if resumes()[-1] != (done2["offset"], done2["records_processed"]):
    fail(f"the last run did not resume at byte {done2['offset']}: {resumes()}")
summary = [json.loads(x) for x in open(f"{WORK}/backfill-history.out") if '"summary"' in x][-1]
if summary["run_records"] != RECORDS - done2["records_processed"]:
    fail(f"the last run sent {summary['run_records']} records; "
         f"{RECORDS - done2['records_processed']} were left")
if "verify: clean" not in err:
    fail("--verify was not clean:\n" + err[-3000:])
final = job_state()
if final["state"] != "done" or final["records_processed"] != RECORDS or \
        final["percent_complete"] != 100:
    fail(f"the job at the end: {final}")
# Records sent again after a kill (beyond the checkpoint) count again as
# duplicates; every record is counted at least once, and only the one event
# ingested live before the backfill is a duplicate of something not sent by it.
counted = final["accepted"] + final["duplicate"] + sum(final["rejected"].values())
if counted < RECORDS or final["accepted"] + sum(final["rejected"].values()) > RECORDS:
    fail(f"the counts do not cover every record once: {final}")
prog = progress_lines()
if not prog or any("records_processed" not in p or "percent_complete" not in p for p in prog):
    fail(f"progress lines: {prog[:3]}")
log(f"done: {final['accepted']} accepted, {final['duplicate']} duplicate, "
    f"rejected {final['rejected']}; {len(prog)} progress lines")

# 4. The same file under another job: every record a duplicate, nothing
# stored twice. Then a CSV bid log of other auctions, and --rate.
c = backfill("--progress", "none", job="again")
if c.wait(timeout=1800) != 0:
    fail("the second job over the same file failed:\n" +
         open(f"{WORK}/backfill-again.err").read()[-2000:])
again = job_state("again")
if again["accepted"] != 0 or again["duplicate"] != RECORDS - sum(again["rejected"].values()):
    fail(f"the same file again: {again}")
log(f"the same file again: {again['duplicate']} duplicates, nothing accepted")
csv_path = f"{WORK}/history.csv"
subprocess.run([f"{BIN}/sim", "history", "--out", csv_path, "--months", "6",
                "--events", "4000", "--auctions", "40", "--first-auction-id", "7000000",
                "--until", "2026-12-01T00:00:00Z", "--seed", "5"], check=True)
csv_rows = [r for r in __import__("csv").DictReader(open(csv_path, newline=""))]
# --rate: 3,000 records at 1,000/s take at least about 3 s.
small = f"{WORK}/small.jsonl"
subprocess.run([f"{BIN}/sim", "history", "--out", small, "--months", "2",
                "--events", "3000", "--auctions", "30", "--first-auction-id", "5000000",
                "--until", "2026-12-01T00:00:00Z", "--seed", "3"], check=True)
small_n = sum(1 for _ in open(small))
t0 = time.time()
c = backfill("--progress", "json", "--rate", "1000", job="rated", file=small)
if c.wait(timeout=300) != 0:
    fail("the --rate job failed:\n" + open(f"{WORK}/backfill-rated.err").read()[-2000:])
took = time.time() - t0
if took < small_n / 1000 * 0.8:
    fail(f"{small_n} records at --rate 1000 took {took:.1f} s")
log(f"--rate 1000: {small_n} records in {took:.1f} s")
# On a terminal: the progress bar on stderr, nothing on stdout.
pid, fd = pty.fork()
if pid == 0:
    os.execv(f"{BIN}/gavel", [f"{BIN}/gavel", "backfill", "--config", CONFIG, "--source",
                              "default", "--file", small, "--job", "tty", "--rate", "1500"])
screen = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    screen += chunk
_, status = os.waitpid(pid, 0)
text = screen.decode(errors="replace")
if os.waitstatus_to_exitcode(status) != 0 or not re.search(r"\r\[#* *\] +\d+\.\d%", text) \
        or "ev/s" not in text or "ETA" not in text or "backfill tty:" not in text:
    fail(f"no progress bar on a terminal: {text[-600:]!r}")
log("a progress bar on a terminal: " + repr(text.split("\r")[2][:70]))
c = backfill("--progress", "json", "--verify", job="csv", file=csv_path)
if c.wait(timeout=600) != 0:
    fail("the CSV job failed:\n" + open(f"{WORK}/backfill-csv.err").read()[-2000:])
csv_job = job_state("csv")
if csv_job["records_processed"] != len(csv_rows) or csv_job["state"] != "done" or \
        csv_job["accepted"] + sum(csv_job["rejected"].values()) != len(csv_rows):
    fail(f"the CSV job: {csv_job} for {len(csv_rows)} rows")
log(f"CSV: {csv_job['accepted']} of {len(csv_rows)} rows accepted, rejected "
    f"{csv_job['rejected']}, verified")
# The same bids again as JSON lines: every one a duplicate, most with
# content that differs from the CSV's (CSV carries no JSON types). Counted
# each; logged at most once per 10 s, not once per event.
csv_as_jsonl = f"{WORK}/history-csv.jsonl"
subprocess.run([f"{BIN}/sim", "history", "--out", csv_as_jsonl, "--months", "6",
                "--events", "4000", "--auctions", "40", "--first-auction-id", "7000000",
                "--until", "2026-12-01T00:00:00Z", "--seed", "5"], check=True)


def conflicting():
    st, text = http("GET", G + "/metrics", token=TOKEN)
    m = re.search(r"^gavel_ingest_conflicting_duplicates_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def differs_lines():
    return sum("resent with content that differs" in x for x in open(f"{WORK}/gavel.log"))


before, lines_before = conflicting(), differs_lines()
t0 = time.time()
c = backfill("--progress", "none", job="csv-as-jsonl", file=csv_as_jsonl)
if c.wait(timeout=600) != 0:
    fail("the JSON-lines copy of the CSV failed:\n" +
         open(f"{WORK}/backfill-csv-as-jsonl.err").read()[-2000:])
differing = conflicting() - before
logged = differs_lines() - lines_before
if differing < 100 or logged > (time.time() - t0) / 10 + 2:
    fail(f"{differing:.0f} duplicates with differing content were logged in {logged} lines")
log(f"the CSV's bids as JSON lines: {differing:.0f} duplicates with differing content, "
    f"{logged} log line(s)")
for r in csv_rows:
    a = int(r["auction_id"])
    by_auction.setdefault(a, [])
    data = {"auction_id": a}
    if r.get("bid_id"):
        data["bid_id"] = int(r["bid_id"])
    by_auction[a].append((r.get("event_type") or "bid.placed", data.get("bid_id")))

# 5. What the destinations received, from the files' point of view.
for x in open(small):
    e = json.loads(x)
    by_auction.setdefault(e["data"]["auction_id"], []).append(
        (e["event_type"], e["data"].get("bid_id")))
expected = {}  # auction -> event ids (bids after a close are refused)
for a, evs in by_auction.items():
    ids, closed = [], False
    for t, bid_id in evs:
        if t == "auction.opened":
            ids.append(f"auction.opened-{a}")
        elif t == "bid.placed" and not closed:
            ids.append(f"bid.placed-{bid_id}")
        elif t == "auction.closed":
            ids.append(f"auction.closed-{a}")
            closed = True
    expected[a] = ids


def arrivals(path):
    """auction -> [(event_id, bid_sequence, total_bid_count)] in arrival
    order, heartbeats left out."""
    out = {}
    for line in open(path):
        r = json.loads(line)
        if r["event_type"] != "producer.heartbeat":
            out.setdefault(r["auction_id"], []).append(
                (r["event_id"], r["bid_sequence"], r["total_bid_count"]))
    return out


def line_count(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# The emulator's log holds at least one line per expected event once it is
# complete; read it in full only then (a million lines take a while).
want = sum(len(ids) for ids in expected.values())
wait(lambda: line_count(f"{WORK}/eventhub.jsonl") >= want or time.sleep(1),
     f"{want} arrivals at the Event Hubs emulator", 900)


def missing(eh):
    return {a: set(ids) - {i for i, _, _ in eh.get(a, [])} for a, ids in expected.items()}


eh = arrivals(f"{WORK}/eventhub.jsonl")
for _ in range(120):
    if not any(missing(eh).values()):
        break
    time.sleep(2)
    eh = arrivals(f"{WORK}/eventhub.jsonl")
gone = {a: m for a, m in missing(eh).items() if m}
if gone:
    a = next(iter(gone))
    fail(f"{len(gone)} auctions incomplete at the Event Hubs emulator; auction {a} lacks "
         f"{sorted(gone[a])[:5]}")
for a, ids in expected.items():
    first_seen, last = {}, 0
    for event_id, seq, total in eh[a]:
        first_seen.setdefault(event_id, (seq, total))
    # At least once: a restart may deliver again what arrived before it, so
    # the order is that of each event's first arrival.
    for event_id, (seq, _) in first_seen.items():
        if seq < last:
            fail(f"auction {a}: {event_id} (sequence {seq}) first arrived after sequence {last}")
        last = max(last, seq)
    seqs = sorted(seq for i, (seq, _) in first_seen.items() if not i.startswith("auction.closed"))
    if seqs != list(range(1, len(seqs) + 1)):
        fail(f"auction {a}: sequences {seqs[:10]}... are not 1..{len(seqs)}")
    close = first_seen.get(f"auction.closed-{a}")
    bids = sum(1 for i in first_seen if i.startswith("bid.placed"))
    if close and close[1] != bids:
        fail(f"auction {a}: the close says {close[1]} bids, {bids} arrived")
log(f"Event Hubs emulator: {len(expected)} auctions complete, in order, gap-free")

# 6. The opted-out webhook: live auctions only, each whole.
live = {LIVE_AUCTION: [f"auction.opened-{LIVE_AUCTION}"], KNOWN: expected[KNOWN]}
wait(lambda: all({i for i, _, _ in arrivals(f"{WORK}/webhook.jsonl").get(a, [])} >= set(ids)
                 for a, ids in live.items()), "the live auctions at the webhook", 300)
time.sleep(2)
wh = arrivals(f"{WORK}/webhook.jsonl")
others = set(wh) - set(live)
if others:
    fail(f"backfill = false received backfilled auctions: {sorted(others)[:10]}")
log(f"backfill = false: only the {len(live)} live auctions, auction {KNOWN} whole "
    f"({len(expected[KNOWN])} events)")
gavel.send_signal(signal.SIGTERM)
if gavel.wait(timeout=60) != 0:
    fail(f"gavel exited {gavel.returncode} on SIGTERM")
log("OK")
