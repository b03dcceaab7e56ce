"""Backfill bench (issue 13): `gavel backfill` of a `sim history` into an
otherwise idle Gavel with an Event Hubs emulator, measured end to end.

  /usr/bin/python3 bench/backfill.py --events 1000000

Figures: the client's throughput (records stored per second: every batch
committed and its checkpoint stored before the next is sent), the time
until the emulator has received every event, and the time for the whole
history. The Gavel is the e2e harness's (embedded PostgreSQL, default
settings) with one eventhub destination (`sim eventhub`, 4 partitions, TLS
with a test CA). Writes bench/reports/backfill-<events>.json and .md."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
import reportlib  # noqa: E402
from e2e_procs import Harness, eventhub_destination  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "bin"))
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--connections", type=int, default=2)
    a = ap.parse_args()
    bin_dir = os.path.abspath(a.bin)
    work = tempfile.mkdtemp(prefix="gavel-bench-backfill.")
    os.chmod(work, 0o755)
    load_before = os.getloadavg()
    H = Harness(work, "bench-backfill", bin_dir)
    ca = H.test_ca(os.path.join(here, ".."))
    history = f"{work}/history.jsonl"
    subprocess.run([f"{bin_dir}/sim", "history", "--out", history, "--months", "12",
                    "--events", str(a.events), "--auctions", str(max(100, a.events // 100)),
                    "--until", "2026-12-01T00:00:00Z", "--seed", "1"], check=True)
    records = sum(1 for _ in open(history, "rb"))
    key = "bench-" + os.urandom(6).hex()
    _, addr = H.start_sim("eventhub", "eventhub", "--tls-cert", f"{ca}/server.pem",
                          "--tls-key", f"{ca}/server.key", "--hub", "bids",
                          "--key-name", "send", "--key", key, "--out", f"{work}/eventhub.jsonl")
    eh = "https://localhost:" + addr.rsplit(":", 1)[1]
    token = "bench-" + os.urandom(6).hex()
    gavel, base = H.start_gavel(token, eventhub_destination("warehouse", eh, key, ca))
    t0 = time.time()
    run = subprocess.run([f"{bin_dir}/gavel", "backfill", "--config", f"{work}/gavel.toml",
                          "--source", "default", "--file", history, "--job", "bench",
                          "--progress", "json", "--batch", str(a.batch),
                          "--connections", str(a.connections)],
                         capture_output=True, text=True)
    stored_s = time.time() - t0
    if run.returncode != 0:
        sys.exit("backfill failed: " + run.stderr[-2000:])
    lines = [json.loads(x) for x in run.stdout.splitlines() if x.strip()]
    summary = lines[-1]
    rates = [p["events_per_second"] for p in lines[:-1]]
    # Delivered: the destination's position at the head.
    while True:
        st, p = H.http("GET", base + "/v1/pipeline", token=token)
        d = p["destinations"][0]
        if d["lag_events"] == 0 and d["delivered_through"] >= p["head_position"] > 0:
            break
        if time.time() - t0 > 7200:
            sys.exit("not delivered within 2 hours")
        time.sleep(0.5)
    delivered_s = time.time() - t0
    gavel.terminate()
    gavel.wait(timeout=60)
    H.stop_all()
    result = {
        "events": records, "batch": a.batch, "connections": a.connections,
        "stored_seconds": round(stored_s, 1),
        "stored_per_second": round(records / stored_s),
        "delivered_seconds": round(delivered_s, 1),
        "delivered_per_second": round(records / delivered_s),
        "progress_rates": rates, "job": summary,
        **reportlib.context(load_before),
    }
    # The target is the batch ingest rate measured on the same machine:
    # bench/run.sh max-rate-batch100's report (run it just before).
    ref, ref_rate = {}, None
    try:
        ref = json.load(open(os.path.join(here, "reports", "max-rate-batch100.json")))
        ref_rate = ref["runs"]["main"]["burst"]["throughput_per_s"]
    except (OSError, KeyError, ValueError):
        pass
    rate = records / stored_s
    verdict = "not measured (no max-rate-batch100 report)" if not ref_rate else (
        f"**met** ({rate / ref_rate:.2f}× of it)" if rate >= ref_rate
        else f"**missed** ({rate / ref_rate:.2f}× of it)")
    result["target_batch_ingest_per_s"] = ref_rate
    result["target_batch_ingest_run"] = ref.get("started")
    md = f"""# Backfill of {records:,} events into an idle Gavel

{reportlib.header(result)}`gavel backfill --batch {a.batch} --connections {a.connections}` of a `sim history` (12 months,
{max(100, a.events // 100):,} auctions) into Gavel on its embedded PostgreSQL with one
Event Hubs destination (`sim eventhub`, TLS); nothing else running.

| figure | value |
|---|---|
| records stored (client: every batch committed and checkpointed) | {records:,} in {stored_s:.1f} s = **{records / stored_s:,.0f}/s** |
| every event received by the Event Hubs emulator | {delivered_s:.1f} s after the start = {records / delivered_s:,.0f}/s |
| job summary | accepted {summary['accepted']:,}, duplicate {summary['duplicate']:,}, rejected {summary['rejected']} |

Target (issue 13): at least the batch ingest rate of today's reports:
[max-rate-batch100](max-rate-batch100.md), run {ref.get("started", "n/a")}
(16 connections sending batches of 100 at once, closed loop, a webhook
destination delivering meanwhile): {f"{ref_rate:,.0f}" if ref_rate else "n/a"} events/s.
Backfill: {rate:,.0f} events/s, {verdict}.
"""
    reportlib.write(f"backfill-{a.events}", result, md)
    print(md)


if __name__ == "__main__":
    main()
