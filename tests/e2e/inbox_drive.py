"""The transactional inbox end to end (DESIGN §1.7, ADR 0021/0022) against
the real gavel, with the platform's writes made by real transactions:

- out of order commits: T1 inserts a row and stays open, T2 inserts the
  next and commits; T2's event is stored at once, T1's when T1 commits, and
  an open transaction delays only its own row (GAVEL_INBOX_HOLD seconds,
  60 in the soak form);
- a burst of GAVEL_INBOX_EVENTS events (20,000 by default) written by
  concurrent transactions, some rolled back, while the source is turned off
  and on again and gavel is killed with SIGKILL once (its flag off at that
  moment, so the restart must keep it off): every committed row is stored
  exactly once, none of the rolled-back ones, each auction in the order its
  rows were committed; invalid rows land in gavel_inbox_rejected with the
  reason; the inbox is empty at the end.

Usage: inbox_drive.py BIN_DIR postgres|mysql"""
import json
import os
import random
import signal
import sys
import subprocess
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, value, wait  # noqa: E402

KIND = sys.argv[2] if len(sys.argv) > 2 else "postgres"
EVENTS = int(os.environ.get("GAVEL_INBOX_EVENTS", "20000"))
HOLD = float(os.environ.get("GAVEL_INBOX_HOLD", "8"))
WRITERS = 8
AUCTIONS_PER_WRITER = 6


def bid(auction, bid_id, amount):
    return json.dumps({"event_type": "bid.placed", "data": {
        "auction_id": auction, "bid_id": bid_id, "bid_amount": f"{amount}.00",
        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": bid_id % 97 + 1}})


class Platform:
    """The auction platform's side: its own database and the one INSERT it
    adds to a bid's transaction."""

    def __init__(self, g):
        self.g = g
        if KIND == "postgres":
            import psycopg2
            self.driver = psycopg2
            sock = f"{g.work}/pg/sock"
            port = next(f.split(".")[-1] for f in os.listdir(sock)
                        if f.startswith(".s.PGSQL.") and not f.endswith(".lock"))
            self.args = dict(host=sock, port=port, user="postgres", dbname="postgres")
        else:
            import pymysql
            self.driver = pymysql
            d = os.path.realpath(os.environ["GAVEL_TEST_MYSQL_DIR"])
            self.db = "inbox_" + os.urandom(4).hex()
            root = pymysql.connect(unix_socket=f"{d}/mysqld.sock", user="root", autocommit=True)
            root.cursor().execute(f"create database {self.db}")
            root.close()
            self.args = dict(unix_socket=f"{d}/mysqld.sock", user="root", database=self.db)

    def connect(self):
        c = self.driver.connect(**self.args)
        c.autocommit = False
        return c

    def insert(self, cur, event):
        cur.execute("INSERT INTO gavel_inbox (event) VALUES (%s)", (event,))

    def scalar(self, sql):
        c = self.connect()
        try:
            cur = c.cursor()
            cur.execute(sql)
            row = cur.fetchone()
            c.commit()
            return row[0]
        finally:
            c.close()

    def gavel_toml(self):
        if KIND == "postgres":
            return '[[source]]\nname = "platform"\nkind = "postgres_inbox"\npoll_interval = "1s"\n'
        d = os.path.realpath(os.environ["GAVEL_TEST_MYSQL_DIR"])
        port = open(f"{d}/port").read().strip()
        pw = urllib.parse.quote(os.environ.get("GAVEL_TEST_MYSQL_PASSWORD", "gavel"), safe="")
        return ('[[source]]\nname = "platform"\nkind = "mysql_inbox"\npoll_interval = "200ms"\n'
                f'url = "mysql://gavel:{pw}@127.0.0.1:{port}/{self.db}"\n')


def gavel_db(g):
    """Gavel's own cluster (the outbox), over its Unix socket."""
    import psycopg2
    sock = f"{g.work}/pg/sock"
    port = next(f.split(".")[-1] for f in os.listdir(sock)
                if f.startswith(".s.PGSQL.") and not f.endswith(".lock"))
    c = psycopg2.connect(host=sock, port=port, user="postgres", dbname="postgres")
    c.autocommit = True
    return c


def bids_of(g, auction):
    """The bids of one auction in the outbox, in bid_sequence order. Read in
    SQL: the pull API's pages wait behind any open transaction of the
    database, and the platform's open one is in this very cluster here."""
    c = gavel_db(g)
    try:
        cur = c.cursor()
        cur.execute("select bid_id from outbox where auction_id = %s and "
                    "event_type = 'bid.placed' order by bid_sequence", (auction,))
        return [r[0] for r in cur.fetchall()]
    finally:
        c.close()


def source(g):
    st, body, _ = http("GET", g.base + "/v1/sources", token=g.token)
    if st != 200:
        fail(f"GET /v1/sources: {st} {body}")
    return next(s for s in json.loads(body)["sources"] if s["name"] == "platform")


def flip(g, action):
    st, body, _ = http("POST", f"{g.base}/v1/sources/platform/{action}", {}, token=g.token)
    if st != 200:
        fail(f"{action} platform: {st} {body}")


def out_of_order(g, p):
    """T1 holds row n open while T2 commits row n+1 (and more rows follow)."""
    t1, t2 = p.connect(), p.connect()
    p.insert(t1.cursor(), bid(9001, 900101, 10))
    p.insert(t2.cursor(), bid(9002, 900201, 10))
    t2.commit()
    started = time.monotonic()
    wait(lambda: bids_of(g, 9002) == [900201], "the later row, committed first", 15, step=0.1)
    # Rows committed while T1 stays open flow too: T1 delays only its own.
    w = p.connect()
    for i in range(5):
        p.insert(w.cursor(), bid(9003, 900301 + i, 10 + i))
        w.commit()
    wait(lambda: len(bids_of(g, 9003)) == 5, "rows committed behind the open one", 15, step=0.1)
    if bids_of(g, 9001):
        fail("the open transaction's row was taken before its commit")
    time.sleep(max(0.0, HOLD - (time.monotonic() - started)))
    if bids_of(g, 9001):
        fail("the open transaction's row was taken before its commit")
    t1.commit()
    wait(lambda: bids_of(g, 9001) == [900101], "the row committed late", 15, step=0.1)
    for c in (t1, t2, w):
        c.close()
    log(f"out of order commits: the late row flowed after a {HOLD:.0f} s hold, nothing skipped")


def burst(g, p):
    committed = {}   # auction -> bid ids in commit order
    rolled_back = set()
    invalid = []
    lock = threading.Lock()
    errors = []
    per_writer = EVENTS // WRITERS

    def writer(w):
        rnd = random.Random(w)
        auctions = [10000 + w * 100 + a for a in range(AUCTIONS_PER_WRITER)]
        next_bid = {a: a * 1000 for a in auctions}
        c = p.connect()
        written = 0
        try:
            while written < per_writer:
                cur = c.cursor()
                rows = []
                for _ in range(rnd.randint(1, 5)):
                    a = rnd.choice(auctions)
                    next_bid[a] += 1
                    rows.append((a, next_bid[a]))
                    p.insert(cur, bid(a, next_bid[a], next_bid[a] % 100000))
                bad = rnd.random() < 0.002
                if bad:
                    p.insert(cur, '{"event_type": "bid.placed", "data": {"auction_id": "x"}}')
                if rnd.random() < 0.1:
                    c.rollback()
                    with lock:
                        rolled_back.update(b for _, b in rows)
                else:
                    c.commit()
                    with lock:
                        for a, b in rows:
                            committed.setdefault(a, []).append(b)
                        if bad:
                            invalid.append(w)
                written += len(rows)
                time.sleep(0.012)  # about 2,000 rows/s in all: the burst outlasts the flips
        except Exception as e:  # reported by the main thread
            errors.append(f"writer {w}: {e!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    wait(lambda: source(g)["accepted"] > EVENTS // 10, "the first tenth stored", 120, step=0.2)

    # Off: the rows wait; nothing more is stored (a batch in flight may end).
    flip(g, "disable")
    time.sleep(0.5)
    before = source(g)["accepted"]
    time.sleep(2)
    s = source(g)
    if s["accepted"] > before:
        fail(f"the disabled inbox kept taking rows: {before} -> {s['accepted']}")
    wait(lambda: (source(g)["depth"] or 0) > 0, "rows waiting in the disabled inbox", 10)
    # Killed while off: the restart must keep it off.
    g.gavel.send_signal(signal.SIGKILL)
    g.gavel.wait()
    g.gavel = None
    g.start()
    s = source(g)
    if s["enabled"] or s["state"] != "disabled":
        fail(f"the flag did not survive SIGKILL and a restart: {s}")
    time.sleep(1.5)
    if source(g)["accepted"] != 0:
        fail("the disabled inbox was read after the restart")
    flip(g, "enable")

    # Killed again mid-flow, this time while taking rows.
    wait(lambda: source(g)["accepted"] > 200, "rows flowing after the restart", 60, step=0.2)
    g.gavel.send_signal(signal.SIGKILL)
    g.gavel.wait()
    g.gavel = None
    g.start()

    for t in threads:
        t.join()
    if errors:
        fail("; ".join(errors))
    total = sum(len(v) for v in committed.values())
    wait(lambda: int(p.scalar("select count(*) from gavel_inbox")) == 0,
         "the inbox drained", 300, step=0.5)
    # Exactly once, nothing rolled back, each auction in commit order.
    for a, expect in committed.items():
        got = bids_of(g, a)
        if got != expect:
            if sorted(got) == sorted(expect):
                fail(f"auction {a}: order differs from the commit order")
            extra = set(got) - set(expect)
            fail(f"auction {a}: {len(got)} stored, {len(expect)} committed; missing "
                 f"{sorted(set(expect) - set(got))[:10]}, extra {sorted(extra)[:10]}"
                 f"{' (rolled back!)' if extra & rolled_back else ''}")
    rejected = int(p.scalar("select count(*) from gavel_inbox_rejected"))
    if rejected != len(invalid):
        fail(f"{rejected} rows in gavel_inbox_rejected, {len(invalid)} invalid ones committed")
    reason = p.scalar("select reason from gavel_inbox_rejected limit 1") if rejected else "schema"
    if not reason.startswith("schema"):
        fail(f"rejection reason: {reason!r}")
    samples = g.scrape()[0]
    if value(samples, "gavel_source_propagation_seconds_count", source="platform") == 0:
        fail("no propagation observed for the inbox source")
    log(f"burst: {total} committed rows stored exactly once in commit order, "
        f"{len(rolled_back)} rolled back absent, {rejected} invalid rejected")


def run(bin_dir):
    g = Gavel(bin_dir, f"inbox_{KIND}", keep=False)
    try:
        p = Platform(g) if KIND == "mysql" else None
        g.extra_toml = (p.gavel_toml() if p else
                        '[[source]]\nname = "platform"\nkind = "postgres_inbox"\n'
                        'poll_interval = "1s"\n') + '[[source]]\nname = "default"\n'
        if KIND == "mysql":
            # The platform's DBA applies the DDL: `gavel migrate --source`.
            g.write_config()
            rc = subprocess.run([f"{g.bin}/gavel", "migrate", "--config", f"{g.work}/gavel.toml",
                                 "--source", "platform"]).returncode
            if rc != 0:
                fail(f"gavel migrate --source platform: exit {rc}")
        g.start()
        if p is None:
            p = Platform(g)  # Gavel's own cluster; Gavel created the inbox itself

            def table():
                try:
                    return p.scalar("select count(*) from gavel_inbox") == 0
                except p.driver.Error:
                    return False
            wait(table, "the inbox table", 30)
        out_of_order(g, p)
        burst(g, p)
    finally:
        g.cleanup()


if __name__ == "__main__":
    main(run)
