"""Inbox bench: the platform's commit -> Gavel's outbox commit, measured on a
real run (Gavel on its embedded PostgreSQL, fsync on, a postgres_inbox in
that same cluster, a webhook destination on `sim receive`).

  /usr/bin/python3 bench/inbox.py --rate 5000 --seconds 60   # open loop
  /usr/bin/python3 bench/inbox.py --top --seconds 30          # closed loop

Open loop: WRITERS threads commit one row per transaction at RATE rows/s in
all, each recording its commit time (the platform's clock, the same host as
the cluster). Latency of a row = its outbox row's created_at (the outbox
transaction) - its platform commit. Closed loop (--top): the writers commit
as fast as they can; the top rate is rows stored / (last outbox commit -
first platform commit). Every committed row is checked to be stored exactly
once. Writes bench/reports/inbox-<rate|top>.json and .md."""
import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
from metrics_harness import Gavel, log, wait  # noqa: E402

import psycopg2  # noqa: E402


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--top", action="store_true")
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "bin"))
    a = ap.parse_args()
    name = "inbox-top" if a.top else f"inbox-{a.rate // 1000}k"
    g = Gavel(a.bin, "bench-" + name, extra_toml=(
        '[[source]]\nname = "platform"\nkind = "postgres_inbox"\npoll_interval = "1s"\n'
        'batch = 1000\n[[source]]\nname = "default"\n'))
    commits = {}
    lock = threading.Lock()
    try:
        g.start()
        sock = f"{g.work}/pg/sock"
        port = next(f.split(".")[-1] for f in os.listdir(sock)
                    if f.startswith(".s.PGSQL.") and not f.endswith(".lock"))
        args = dict(host=sock, port=port, user="postgres", dbname="postgres")

        def table():
            try:
                c = psycopg2.connect(**args)
                c.cursor().execute("select 1 from gavel_inbox limit 1")
                c.close()
                return True
            except psycopg2.Error:
                return False
        wait(table, "the inbox table", 30)
        stop_at = time.time() + a.seconds
        per_writer = a.rate / a.writers

        def writer(w):
            c = psycopg2.connect(**args)
            cur = c.cursor()
            n = 0
            start = time.time()
            while time.time() < stop_at:
                bid = w * 10_000_000 + n + 1
                auction = 100000 + (bid % 500)
                cur.execute("INSERT INTO gavel_inbox (event) VALUES (%s)", (json.dumps({
                    "event_type": "bid.placed", "data": {
                        "auction_id": auction, "bid_id": bid, "bid_amount": "10.00",
                        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": 7}}),))
                c.commit()
                t = time.time()
                with lock:
                    commits[bid] = t
                n += 1
                if not a.top:
                    due = start + n / per_writer
                    if due > t:
                        time.sleep(due - t)
            c.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(a.writers)]
        load_before = os.getloadavg()
        first = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def drained():
            c = psycopg2.connect(**args)
            cur = c.cursor()
            cur.execute("select count(*) from gavel_inbox")
            n = cur.fetchone()[0]
            c.close()
            return n == 0
        wait(drained, "the inbox drained", 600, step=0.5)
        c = psycopg2.connect(**args)
        cur = c.cursor()
        cur.execute("select bid_id, extract(epoch from created_at) from outbox "
                    "where event_type = 'bid.placed' and bid_id is not null")
        stored = cur.fetchall()
        c.close()
        lat = []
        seen = set()
        last = 0.0
        for bid, at in stored:
            if bid in commits:
                seen.add(bid)
                lat.append((float(at) - commits[bid]) * 1000)
                last = max(last, float(at))
        missing = len(commits) - len(seen)
        duplicates = len(stored) - len(set(b for b, _ in stored))
        written_rate = len(commits) / a.seconds
        result = {
            "scenario": name, "machine": {"nproc": os.cpu_count(), "kernel": platform.release()},
            "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                                     text=True, cwd=here).stdout.strip(),
            "load_before": load_before, "load_after": os.getloadavg(),
            "settings": {"rate": None if a.top else a.rate, "seconds": a.seconds,
                         "writers": a.writers, "batch": 1000, "poll_interval": "1s"},
            "rows_committed": len(commits), "rows_stored": len(seen), "missing": missing,
            "duplicates": duplicates, "platform_commit_rate": round(written_rate),
            "stored_rate": round(len(seen) / max(1e-9, last - first)) if seen else 0,
            "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                           "max": max(lat) if lat else None},
        }
    finally:
        g.cleanup()
    out = os.path.join(here, "reports", name)
    with open(out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    r = result
    with open(out + ".md", "w") as f:
        f.write(f"# {name}: inbox commit -> outbox commit\n\n"
                f"Machine: {r['machine']['nproc']} cores, kernel {r['machine']['kernel']}; "
                f"load {r['load_before'][0]:.2f} before, {r['load_after'][0]:.2f} after; "
                f"commit {r['commit'][:12]}.\n\n"
                f"Run: `/usr/bin/python3 bench/inbox.py "
                f"{'--top' if a.top else '--rate ' + str(a.rate)} --seconds {a.seconds}` — "
                f"{a.writers} platform writers, one row per transaction, Gavel on its embedded "
                f"PostgreSQL (fsync on) with the inbox in the same cluster.\n\n"
                f"| figure | value |\n|---|---|\n"
                f"| rows committed by the platform | {r['rows_committed']} "
                f"({r['platform_commit_rate']}/s) |\n"
                f"| rows stored (exactly once) | {r['rows_stored']} (missing {r['missing']}, "
                f"duplicates {r['duplicates']}) |\n"
                f"| stored rate, first commit to last outbox commit | {r['stored_rate']}/s |\n"
                f"| latency p50 / p90 / p99 / max (ms) | {r['latency_ms']['p50']:.0f} / "
                f"{r['latency_ms']['p90']:.0f} / {r['latency_ms']['p99']:.0f} / "
                f"{r['latency_ms']['max']:.0f} |\n")
    log(json.dumps({k: r[k] for k in ("rows_committed", "rows_stored", "missing", "duplicates",
                                      "stored_rate", "latency_ms")}))
    return 0 if r["missing"] == 0 and r["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
