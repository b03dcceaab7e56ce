"""Pull API bench: a page of 1,000 events and an auction digest on a large
outbox (issue 12: 10,000,000 rows), measured through Gavel's HTTP API.

  /usr/bin/python3 bench/pull.py --rows 10000000

The outbox is filled in SQL while Gavel is stopped (its embedded cluster
started alone by pg_ctl), with what a week of auction closes leaves behind:
ROWS events of ROWS/100 auctions (open, 98 bids, close), 1,000 auctions
open at a time, their events interleaved in storage order, producer and
bid timestamps spread over the last 7 days (one daily partition each),
100 bidders' worth of ids per 1,000 auctions, stored in transactions of
100,000 rows. The webhook destination's position is set past them (this
measures reads, not a 10M-event delivery), then Gavel serves the reads
with its default settings. One client, one keep-alive connection, one
request at a time; latency = request sent to last byte of the answer.

Figures: the whole outbox walked with `after` in pages of 1,000 (every
page timed, every event seen exactly once), pages of 1,000 under each
filter, GET /v1/auctions/<id> (state, digest, destination progress) and
GET /v1/auctions pages. Writes bench/reports/pull-<rows>.json and .md."""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
import reportlib  # noqa: E402
from reportlib import pct  # noqa: E402
from metrics_harness import Gavel, log  # noqa: E402

PG = "/usr/lib/postgresql/15/bin"
PER_AUCTION = 100  # open, 98 bids, close
CONCURRENT = 1000  # auctions open at a time
CHUNK = 100_000  # rows per platform transaction


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.getuid() == 0 else cmd


def fill_sql(rows):
    """The outbox, auctions and destination position, in SQL. Row i (0-based)
    belongs to group g = i / (CONCURRENT * PER_AUCTION); inside a group the
    auctions take turns, so auction a's k-th event is row
    g*CONCURRENT*PER_AUCTION + k*CONCURRENT + a%CONCURRENT."""
    group = CONCURRENT * PER_AUCTION
    span_ms = 7 * 86400 * 1000
    out = ["set synchronous_commit = off;"]
    out += [f"select gavel_outbox_partition(current_date - {d});" for d in range(8)]
    # Timestamps: row i at start + i * span / rows (ms), start 7 days ago.
    for lo in range(0, rows, CHUNK):
        hi = min(rows, lo + CHUNK) - 1
        out.append(f"""
insert into outbox (event_id, auction_id, event_type, bid_sequence, bid_id,
                    bidder_user_id, producer_ts, created_at, envelope, bid_ts)
select e.id, e.auction, e.type, e.seq, e.bid, e.bidder, e.ts, e.ts,
       '{{"metadata":{{"event_id":"' || e.id || '","event_type":"' || e.type ||
       '","schema_version":"1.0","producer_timestamp":"' ||
       to_char(e.ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ||
       '","bid_sequence":' || e.seq || '}},"data":{{"auction_id":' || e.auction ||
       case when e.type = 'bid.placed' then
         ',"bid_id":' || e.bid || ',"bid_amount":' || (100 + e.k * 5) || '.00,' ||
         '"bid_timestamp":"' ||
         to_char(e.ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ||
         '","bidder_user_id":' || e.bidder
       else '' end || '}}}}',
       case when e.type = 'bid.placed' then e.ts end
from (
  select i, k, auction, ts,
         case when k = 0 then 'auction.opened'
              when k = {PER_AUCTION - 1} then 'auction.closed'
              else 'bid.placed' end as type,
         case when k = 0 then 'auction.opened-' || auction
              when k = {PER_AUCTION - 1} then 'auction.closed-' || auction
              else 'bid.placed-' || (auction * 1000 + k) end as id,
         greatest(1, least(k + 1, {PER_AUCTION - 1})) as seq,
         case when k between 1 and {PER_AUCTION - 2} then auction * 1000 + k end as bid,
         case when k between 1 and {PER_AUCTION - 2}
              then (((auction - 1000000) / {CONCURRENT}) * 100 + (auction * 7 + k) % 100)::text end
           as bidder
  from (
    select i, (i % {group}) / {CONCURRENT} as k,
           1000000 + (i / {group}) * {CONCURRENT} + i % {CONCURRENT} as auction,
           (now() - interval '7 days') + (i * {span_ms}::float8 / {rows}) * interval '1 ms'
             as ts
    from generate_series({lo}::bigint, {hi}::bigint) i) s) e
order by e.i;""")
    auctions = rows // PER_AUCTION
    out.append(f"""
insert into auctions (auction_id, last_sequence, total_bid_count, heartbeat_count,
                      end_date, closed, current_price)
select 1000000 + a, {PER_AUCTION - 1}, {PER_AUCTION - 2}, 0, now(), true,
       '{100 + (PER_AUCTION - 2) * 5}.00'
from generate_series(0, {auctions - 1}) a;
insert into destination_positions (destination, delivered_through)
select 'webhook', max(position) from outbox
on conflict (destination) do update set delivered_through = excluded.delivered_through;
vacuum analyze outbox;
vacuum analyze auctions;""")
    return "\n".join(out)


class Client:
    def __init__(self, base, token):
        host, port = base.split("//")[1].split(":")
        self.c = http.client.HTTPConnection(host, int(port), timeout=120)
        self.token = token

    def get(self, path):
        t0 = time.perf_counter()
        self.c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
        r = self.c.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status} {body[:300]!r}")
        return ms, json.loads(body), len(body)


def summary(xs):
    return {"n": len(xs), "p50": round(pct(xs, 50), 2), "p90": round(pct(xs, 90), 2),
            "p99": round(pct(xs, 99), 2), "max": round(max(xs), 2)}


class Seen:
    """Event ids seen, one bit each: bid.placed-(a*1000+k), k in 1..98, and
    the auction's open (k = 0) and close (k = 999) of auction a (offset by
    1,000,000)."""

    def __init__(self):
        self.bits = bytearray(1 << 24)
        self.count = 0

    def add(self, event_id):
        kind, n = event_id.rsplit("-", 1)
        n = int(n)
        if kind == "auction.opened":
            n = n * 1000
        elif kind == "auction.closed":
            n = n * 1000 + 999
        n -= 1_000_000_000
        if not self.bits[n >> 3] & (1 << (n & 7)):
            self.bits[n >> 3] |= 1 << (n & 7)
            self.count += 1


def walk(cli, query, max_pages=None):
    """Follows `next` from the first page; returns (latencies of full pages, events)."""
    lat, seen, after = [], 0, None
    ids = Seen()
    while True:
        ms, page, _ = cli.get(f"/v1/events?limit=1000{query}" +
                              (f"&after={after}" if after else ""))
        n = len(page["events"])
        if n == 1000:
            lat.append(ms)
        for e in page["events"]:
            ids.add(e["metadata"]["event_id"])
        seen += n
        after = page["next"]
        if not after or (max_pages and len(lat) >= max_pages):
            return lat, seen, ids.count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "bin"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if a.rows % (CONCURRENT * PER_AUCTION):
        raise SystemExit(f"--rows must be a multiple of {CONCURRENT * PER_AUCTION}")
    name = f"pull-{a.rows // 1_000_000}m" if a.rows >= 1_000_000 else f"pull-{a.rows}"
    g = Gavel(a.bin, "bench-" + name, keep=a.keep)
    rnd = random.Random(12)
    try:
        g.start()
        g.stop()
        data = f"{g.work}/pg/data"
        subprocess.run(as_postgres([f"{PG}/pg_ctl", "-D", data, "-l", f"{g.work}/pg/fill.log",
                                    "-w", "start"]), check=True, capture_output=True)
        sock = f"{g.work}/pg/sock"
        port = next(f.split(".")[-1] for f in os.listdir(sock)
                    if f.startswith(".s.PGSQL.") and not f.endswith(".lock"))
        t0 = time.time()
        log(f"filling {a.rows} rows")
        fill = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", sock, "-p",
                               port, "-U", "postgres", "-d", "postgres"],
                              input=fill_sql(a.rows), text=True, capture_output=True)
        if fill.returncode != 0:
            raise SystemExit("fill: " + fill.stderr[-2000:])
        fill_s = time.time() - t0
        size = g.psql("select pg_size_pretty(sum(pg_total_relation_size(c.oid))) from "
                      "pg_inherits i join pg_class c on c.oid = i.inhrelid "
                      "where i.inhparent = 'outbox'::regclass")
        log(f"filled in {fill_s:.0f}s, outbox {size}")
        subprocess.run(as_postgres([f"{PG}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                       check=True, capture_output=True)
        g.start()
        time.sleep(5)  # the first scan of the outbox's tail, the registry
        cli = Client(g.base, g.token)
        load_before = os.getloadavg()
        auctions = a.rows // PER_AUCTION
        figures = {}

        log("walking the whole outbox")
        lat, seen, distinct = walk(cli, "")
        if seen != a.rows or distinct != a.rows:
            raise SystemExit(f"walk saw {seen} events, {distinct} distinct, of {a.rows}")
        figures["events_walk"] = summary(lat)

        log("filtered pages")
        lat = []
        for _ in range(a.samples):
            ms, page, _ = cli.get(f"/v1/events?limit=1000&auction_id="
                                  f"{1000000 + rnd.randrange(auctions)}")
            assert len(page["events"]) == PER_AUCTION
            lat.append(ms)
        figures["events_auction"] = summary(lat)
        lat, _, _ = walk(cli, "&event_type=auction.closed", max_pages=a.samples)
        figures["events_type_closed"] = summary(lat)
        lat = []
        for _ in range(a.samples // 10):
            # One bidder: 98 bids per 1,000 auctions / 100 bidders, over the week.
            ms, page, _ = cli.get(f"/v1/events?limit=1000&bidder_user_id="
                                  f"{rnd.randrange(auctions // CONCURRENT * 100)}")
            lat.append(ms)
        figures["events_bidder"] = summary(lat)
        lat = []
        for _ in range(a.samples // 10):
            day = rnd.randrange(1, 6)
            t = time.time() - day * 86400
            frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + 3600))
            ms, page, _ = cli.get(f"/v1/events?limit=1000&from={frm}&to={to}")
            assert len(page["events"]) == 1000, len(page["events"])
            lat.append(ms)
        figures["events_window_1h"] = summary(lat)

        log("auction digests")
        lat = []
        for _ in range(a.samples):
            ms, s, _ = cli.get(f"/v1/auctions/{1000000 + rnd.randrange(auctions)}")
            assert s["digest"]["events"] == PER_AUCTION, s
            lat.append(ms)
        figures["auction_digest"] = summary(lat)
        lat, after = [], None
        for _ in range(a.samples // 10):
            ms, page, _ = cli.get("/v1/auctions?state=closed&limit=100" +
                                  (f"&after={after}" if after else ""))
            after = page["next"]
            lat.append(ms)
        figures["auctions_page_100"] = summary(lat)
        result = {
            "scenario": name, "rows": a.rows, "auctions": auctions,
            **reportlib.context(load_before),
            "fill_seconds": round(fill_s), "outbox_size": size, "latency_ms": figures,
        }
    finally:
        g.cleanup()
    r = result
    rows = "\n".join(
        f"| {k} | {v['n']} | {v['p50']} | {v['p90']} | {v['p99']} | {v['max']} |"
        for k, v in r["latency_ms"].items())
    md = (f"# {name}: pull API on a {r['rows']:,}-row outbox\n\n"
                + reportlib.header(r) +
                f"Run: `/usr/bin/python3 bench/pull.py --rows {a.rows}` — outbox of "
                f"{r['rows']:,} events ({r['auctions']:,} closed auctions of {PER_AUCTION} "
                f"events, {CONCURRENT:,} open at a time, 7 daily partitions; {r['outbox_size']} "
                f"with indexes; filled in {r['fill_seconds']} s), Gavel on its embedded "
                f"PostgreSQL with default settings, one client on one keep-alive connection, "
                f"latency = request to last byte.\n\n"
                f"| request | n | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n"
                f"{rows}\n\n"
                f"- `events_walk`: every full page of `GET /v1/events?limit=1000`, following "
                f"`next` from the first page to the last (all {r['rows']:,} events, each seen "
                f"exactly once).\n"
                f"- `events_auction`: `auction_id=<random>&limit=1000` (the auction's "
                f"{PER_AUCTION} events).\n"
                f"- `events_type_closed`: pages of `event_type=auction.closed&limit=1000`.\n"
                f"- `events_bidder`: `bidder_user_id=<random>&limit=1000`.\n"
                f"- `events_window_1h`: `from`/`to` one hour on a random day, first page "
                f"of 1,000.\n"
                f"- `auction_digest`: `GET /v1/auctions/<random id>` (state, digest of "
                f"{PER_AUCTION} events, the webhook destination's progress).\n"
                f"- `auctions_page_100`: `GET /v1/auctions?state=closed&limit=100` pages "
                f"(100 digests each).\n")
    reportlib.write(name, result, md)
    log(json.dumps(r["latency_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
