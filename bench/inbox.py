"""Inbox bench: the platform's commit -> Gavel's outbox commit, measured on a
real run (Gavel on its embedded PostgreSQL, fsync on, a postgres_inbox in
that same cluster, a webhook destination on `sim receive`).

  /usr/bin/python3 bench/inbox.py --rate 5000 --seconds 60   # open loop
  /usr/bin/python3 bench/inbox.py --top --seconds 30          # closed loop

Open loop: pgbench clients (the platform) commit one inbox row per
transaction at RATE rows/s in all (`pgbench -R`), each transaction also
recording the row's insert time (clock_timestamp(), the statement before
its COMMIT) in a side table. Latency of a row = its outbox row's created_at
(the outbox transaction) - that time: both on the cluster's clock. Closed loop (--top): the writers commit
as fast as they can; the top rate is rows stored / (last outbox commit -
first platform commit). Every committed row is checked to be stored exactly
once. Writes bench/reports/inbox-<rate|top>.json and .md."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
import reportlib  # noqa: E402
from reportlib import pct  # noqa: E402
from metrics_harness import Gavel, log, wait  # noqa: E402

import psycopg2  # noqa: E402


def machine_cpu():
    """(busy, all) CPU seconds of the whole machine since boot."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = f[3] + f[4]
    return (sum(f[:8]) - idle) / tick, sum(f[:8]) / tick


def process_cpu(pid):
    """user + system CPU seconds of one live process."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--rows-per-txn", type=int, default=1,
                    help="inbox rows per platform transaction (a bid writing several events)")
    ap.add_argument("--top", action="store_true")
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "bin"))
    a = ap.parse_args()
    name = "inbox-top" if a.top else f"inbox-{a.rate // 1000}k"
    if a.rows_per_txn > 1:
        name += f"-{a.rows_per_txn}per-txn"
    g = Gavel(a.bin, "bench-" + name, extra_toml=(
        '[[source]]\nname = "platform"\nkind = "postgres_inbox"\npoll_interval = "1s"\n'
        'batch = 1000\n[[source]]\nname = "default"\n'))
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
        c = psycopg2.connect(**args)
        c.autocommit = True
        c.cursor().execute("create sequence bench_bid; create table bench_sent "
                           "(bid_id bigint primary key, t timestamptz not null)")
        c.close()
        # The platform: pgbench clients, each transaction one inbox row and
        # its insert time (clock_timestamp, a statement before the COMMIT).
        script = f"{g.work}/platform.sql"
        with open(script, "w") as f:
            row = ("INSERT INTO bench_sent (bid_id, t) VALUES (nextval('bench_bid'), "
                   "clock_timestamp());\n"
                   "INSERT INTO gavel_inbox (event) VALUES (json_build_object("
                   "'event_type', 'bid.placed', 'data', json_build_object("
                   "'auction_id', 100000 + currval('bench_bid') % 500, "
                   "'bid_id', currval('bench_bid'), 'bid_amount', '10.00', "
                   "'bid_timestamp', '2026-06-09T14:23:11Z', 'bidder_user_id', 7))::text);\n")
            f.write("BEGIN;\n" + row * a.rows_per_txn + "COMMIT;\n")
        cmd = ["/usr/lib/postgresql/15/bin/pgbench", "-n", "-c", str(a.writers), "-j", "2",
               "-T", str(a.seconds), "-f", script, "-h", args["host"], "-p", str(args["port"]),
               "-U", "postgres", "postgres"]
        if not a.top:
            cmd[2:2] = ["-R", str(a.rate // a.rows_per_txn)]
        load_before = os.getloadavg()
        cpu0 = (machine_cpu(), process_cpu(g.gavel.pid), process_cpu(g.recv.pid),
                resource.getrusage(resource.RUSAGE_CHILDREN))
        wall0 = time.time()
        bench = subprocess.run(cmd, capture_output=True, text=True)
        if bench.returncode != 0:
            raise SystemExit("pgbench: " + bench.stderr[-2000:])

        def drained():
            c = psycopg2.connect(**args)
            cur = c.cursor()
            cur.execute("select count(*) from gavel_inbox")
            n = cur.fetchone()[0]
            c.close()
            return n == 0
        wait(drained, "the inbox drained", 600, step=0.5)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        (busy1, all1), gavel1, sim1 = machine_cpu(), process_cpu(g.gavel.pid), process_cpu(
            g.recv.pid)
        (busy0, all0), gavel0, sim0, ru0 = cpu0
        pgbench_cpu = (ru.ru_utime + ru.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        cpu = {"wall_s": round(time.time() - wall0, 1),
               "machine_busy_pct": round(100 * (busy1 - busy0) / max(1e-9, all1 - all0), 1),
               "gavel_s": round(gavel1 - gavel0, 1), "sim_receive_s": round(sim1 - sim0, 1),
               "pgbench_s": round(pgbench_cpu, 1)}
        cpu["postgres_and_rest_s"] = round(busy1 - busy0 - cpu["gavel_s"] - cpu["sim_receive_s"]
                                           - cpu["pgbench_s"], 1)
        c = psycopg2.connect(**args)
        cur = c.cursor()
        cur.execute("select count(*), min(extract(epoch from t)) from bench_sent")
        sent, first = cur.fetchone()
        cur.execute("select (extract(epoch from o.created_at) - extract(epoch from s.t)) * 1000, "
                    "extract(epoch from o.created_at) from outbox o join bench_sent s "
                    "on s.bid_id = o.bid_id where o.event_type = 'bid.placed'")
        rows = cur.fetchall()
        cur.execute("select count(*) - count(distinct bid_id) from outbox "
                    "where event_type = 'bid.placed'")
        duplicates = cur.fetchone()[0]
        c.close()
        lat = [float(r[0]) for r in rows]
        last = max((float(r[1]) for r in rows), default=float(first or 0))
        missing = sent - len(rows)
        seen = rows
        written_rate = sent / a.seconds
        result = {
            "scenario": name, **reportlib.context(load_before),
            "settings": {"rate": None if a.top else a.rate, "seconds": a.seconds,
                         "writers": a.writers, "writer": "pgbench", "batch": 1000,
                         "rows_per_transaction": a.rows_per_txn,
                         "poll_interval": "1s"},
            "rows_committed": sent, "rows_stored": len(seen), "missing": missing,
            "duplicates": duplicates, "platform_commit_rate": round(written_rate),
            "stored_rate": round(len(seen) / max(1e-9, last - float(first))) if seen else 0,
            "pgbench": bench.stdout.strip().splitlines()[-6:], "cpu": cpu,
            "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                           "max": max(lat) if lat else None},
        }
    finally:
        g.cleanup()
    r = result
    md = (f"# {name}: inbox commit -> outbox commit\n\n"
                + reportlib.header(r) +
                f"Run: `/usr/bin/python3 bench/inbox.py "
                f"{'--top' if a.top else '--rate ' + str(a.rate)} --seconds {a.seconds}"
                f"{' --rows-per-txn ' + str(a.rows_per_txn) if a.rows_per_txn > 1 else ''}` — "
                f"{a.writers} pgbench clients as the platform, {a.rows_per_txn} row(s) per "
                f"transaction, Gavel on its embedded "
                f"PostgreSQL (fsync on) with the inbox in the same cluster.\n\n"
                f"| figure | value |\n|---|---|\n"
                f"| rows committed by the platform | {r['rows_committed']} "
                f"({r['platform_commit_rate']}/s) |\n"
                f"| rows stored (exactly once) | {r['rows_stored']} (missing {r['missing']}, "
                f"duplicates {r['duplicates']}) |\n"
                f"| stored rate, first commit to last outbox commit | {r['stored_rate']}/s |\n"
                f"| latency p50 / p90 / p99 / max (ms) | {r['latency_ms']['p50']:.0f} / "
                f"{r['latency_ms']['p90']:.0f} / {r['latency_ms']['p99']:.0f} / "
                f"{r['latency_ms']['max']:.0f} |\n"
                f"| CPU, pgbench start to inbox drained ({r['cpu']['wall_s']} s) | machine "
                f"{r['cpu']['machine_busy_pct']} % busy of {r['machine']['nproc']} cores; "
                f"Gavel {r['cpu']['gavel_s']} s, PostgreSQL and the rest "
                f"{r['cpu']['postgres_and_rest_s']} s, pgbench {r['cpu']['pgbench_s']} s, "
                f"sim receive {r['cpu']['sim_receive_s']} s |\n")
    reportlib.write(name, result, md)
    log(json.dumps({k: r[k] for k in ("rows_committed", "rows_stored", "missing", "duplicates",
                                      "stored_rate", "latency_ms")}))
    return 0 if r["missing"] == 0 and r["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
