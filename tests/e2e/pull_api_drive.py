"""Driver of pull_api.sh (see there)."""
import hashlib
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, wait  # noqa: E402

CLOSE_LAST = {"auction.opened": 0, "bid.placed": 0, "auction.closed": 1}


def digest(events):
    """The digest of DESIGN §1.8, written again here (independently of
    protocols::digest_of): ids in bid_sequence order, the close last,
    joined by newlines; heartbeats out."""
    kept = sorted((CLOSE_LAST[t], seq, eid) for eid, t, seq in events if t in CLOSE_LAST)
    return len(kept), hashlib.sha256("\n".join(e[2] for e in kept).encode()).hexdigest()


def raw_envelopes(body):
    """The envelopes of a /v1/events answer as the exact text sent."""
    prefix = '{"events":['
    if not body.startswith(prefix):
        fail("unexpected /v1/events body: " + body[:200])
    dec = json.JSONDecoder()
    out, i = [], len(prefix)
    while body[i] != "]":
        obj, end = dec.raw_decode(body, i)
        out.append(body[i:end])
        i = end + 1 if body[end] == "," else end
    return out, json.loads(body)["next"]


def run(bin_dir):
    # The bytes paged must be the bytes delivered: an analyst token (read +
    # pii) sees envelopes unmasked (tests/e2e/scopes.sh covers the masking).
    analyst = "analyst-" + os.urandom(8).hex()
    g = Gavel(bin_dir, "pull-api", extra_toml=f"""[[token]]
name = "analyst"
secret = "{analyst}"
scopes = ["read", "pii"]
""")
    try:
        g.start()
        if g.burst(auctions=20, events=3000).wait(timeout=300) != 0:
            fail("burst failed")

        def settled():
            p = g.pipeline()
            d = p["destinations"][0]
            return p["head_position"] > 0 and d["delivered_through"] == p["head_position"]
        wait(settled, "every event delivered", 120)

        def received():
            out = {}
            for line in open(f"{g.work}/arrivals.jsonl"):
                a = json.loads(line)
                out.setdefault(a["event_id"], a)
            return out
        # Open auctions keep taking heartbeats while this runs: what is paged
        # lies between what was stored before and what is stored after.
        stored_before = int(g.psql("select count(*) from outbox"))
        arrivals = received()
        closed = sorted({a["auction_id"] for a in arrivals.values()
                         if a["event_type"] == "auction.closed"})
        log(len(arrivals), "distinct events received,", len(closed), "auctions closed")
        if len(closed) < 10:
            fail("too few closed auctions to test digests")

        def get(path, token=analyst):
            return http("GET", g.base + path, token=token)

        def events(query):
            ids, raw, pages, after = [], [], 0, None
            while True:
                q = dict(query)
                if after:
                    q["after"] = after
                st, body, _ = get("/v1/events?" + urllib.parse.urlencode(q))
                if st != 200:
                    fail(f"/v1/events?{q} answered {st}: {body}")
                envs, after = raw_envelopes(body)
                pages += 1
                raw += envs
                if after is None:
                    return raw, pages

        # -- every event once, as stored: the bytes the receiver got ----------
        raw, pages = events({"limit": 137})
        metas = [json.loads(e)["metadata"] for e in raw]
        ids = [m["event_id"] for m in metas]
        if len(ids) != len(set(ids)):
            fail("an event was returned twice")
        wait(settled, "every event delivered", 120)
        stored_after = int(g.psql("select count(*) from outbox"))
        arrivals_after = received()
        if not set(arrivals) <= set(ids) <= set(arrivals_after):
            fail(f"pages hold {len(set(ids))} events, the receiver {len(arrivals)} before "
                 f"and {len(arrivals_after)} after")
        if not stored_before <= len(ids) <= stored_after:
            fail(f"{len(ids)} events paged, {stored_before}..{stored_after} stored")
        arrivals = arrivals_after
        for e, m in zip(raw, metas):
            if hashlib.sha256(e.encode()).hexdigest() != arrivals[m["event_id"]]["sha256"]:
                fail(f"{m['event_id']}: the bytes differ from what was delivered")
        log(f"GET /v1/events: {len(ids)} events in {pages} pages, bytes as delivered")

        # -- filters ----------------------------------------------------------
        a = closed[0]
        mine = [json.loads(e) for e in events({"auction_id": a, "limit": 50})[0]]
        seqs = [m["metadata"]["bid_sequence"] for m in mine]
        if seqs != sorted(seqs) or {m["data"]["auction_id"] for m in mine} != {a}:
            fail(f"auction {a}: not in bid_sequence order or other auctions: {seqs}")
        if len(mine) != sum(1 for x in arrivals.values() if x["auction_id"] == a):
            fail(f"auction {a}: {len(mine)} events, the receiver got another number")
        if mine[-1]["metadata"]["event_type"] not in ("auction.closed", "producer.heartbeat"):
            fail("the close is not among the last of its sequence number")
        for t in ("auction.opened", "bid.placed", "auction.closed", "producer.heartbeat"):
            got = [json.loads(e)["metadata"]["event_type"] for e in events({"event_type": t, "limit": 1000})[0]]
            want = sum(1 for x in arrivals.values() if x["event_type"] == t)
            if set(got) - {t} or len(got) != want:
                fail(f"event_type={t}: {len(got)} events, want {want}")
        bids = [json.loads(e) for e in raw if '"bid.placed"' in e]
        who = next((b["data"].get("bidder_user_id") for b in bids if "bidder_user_id" in b["data"]), None)
        if who is not None:
            got = [json.loads(e)["data"] for e in events({"bidder_user_id": str(who), "limit": 1000})[0]]
            want = sum(1 for b in bids if str(b["data"].get("bidder_user_id")) == str(who))
            if len(got) != want or any(str(d["bidder_user_id"]) != str(who) for d in got):
                fail(f"bidder_user_id={who}: {len(got)} events, want {want}")
        # Half-open windows split at a producer_timestamp cover everything once.
        ts = sorted(m["producer_timestamp"] for m in metas)
        cut = ts[len(ts) // 2]
        lo = events({"to": cut, "limit": 1000})[0]
        hi = events({"from": cut, "limit": 1000})[0]
        if len(lo) + len(hi) != len(ids) or set(lo) & set(hi):
            fail(f"from/to split at {cut}: {len(lo)} + {len(hi)} != {len(ids)}")
        bts = sorted(b["data"]["bid_timestamp"] for b in bids)
        bcut = bts[len(bts) // 2]
        blo = events({"bid_to": bcut, "limit": 1000})[0]
        bhi = events({"bid_from": bcut, "limit": 1000})[0]
        if len(blo) + len(bhi) != len(bids) or any('"bid.placed"' not in e for e in blo + bhi):
            fail(f"bid_from/bid_to split: {len(blo)} + {len(bhi)} != {len(bids)} bids")
        log("filters: auction_id, event_type, bidder_user_id, from/to, bid_from/bid_to ok")

        # -- bad parameters: 400 naming them ------------------------------------
        for q, field in [("auction=1", "auction"), ("limit=1001", "limit"), ("limit=0", "limit"),
                         ("limit=x", "limit"), ("auction_id=-3", "auction_id"),
                         ("event_type=bid", "event_type"), ("from=yesterday", "from"),
                         ("to=2026-06-09", "to"), ("bid_from=1", "bid_from"),
                         ("bid_to=2026-06-09T14:00Z", "bid_to"), ("bidder_user_id=", "bidder_user_id"),
                         ("after=nope", "after"), ("limit=5&limit=6", "limit"),
                         ("from=2026-06-09T14:00:00Z&to=2026-06-09T13:00:00Z", "to")]:
            st, body, _ = get("/v1/events?" + q)
            err = json.loads(body).get("error", {}) if st == 400 else {}
            if st != 400 or err.get("field") != field or err.get("status") != 400:
                fail(f"/v1/events?{q}: {st} {body}, want 400 naming {field}")
        for path, status in [("/v1/auctions/abc", 400), ("/v1/auctions/99999999", 404),
                             ("/v1/auctions?state=shut", 400), ("/v1/auctions?x=1", 400)]:
            st, body, _ = get(path)
            if st != status:
                fail(f"{path}: {st} {body}, want {status}")
        if get("/v1/events", token="wrong")[0] != 401 or get(f"/v1/auctions/{a}", token=None)[0] != 401:
            fail("a bad token was not refused")
        log("bad parameters answered 400 naming them; 404, 401")

        # -- digests: Gavel's against the receiver's -----------------------------
        for auction in closed:
            st, body, _ = get(f"/v1/auctions/{auction}")
            if st != 200:
                fail(f"/v1/auctions/{auction}: {st} {body}")
            s = json.loads(body)
            n, sha = digest([(x["event_id"], x["event_type"], x["bid_sequence"])
                             for x in arrivals.values() if x["auction_id"] == auction])
            if (s["digest"]["events"], s["digest"]["sha256"]) != (n, sha):
                fail(f"auction {auction}: Gavel {s['digest']}, receiver ({n}, {sha})")
            w = s["destinations"]["webhook"]
            if s["state"] != "closed" or w["pending"] != 0 or w["dead_letters"] != 0 \
                    or w["delivered_through_sequence"] != s["last_sequence"] \
                    or s["total_bid_count"] + 1 != s["last_sequence"] or not s["closed_at"]:
                fail(f"auction {auction}: {s}")
        listed, after = [], None
        while True:
            q = {"state": "closed", "limit": 7} | ({"after": after} if after else {})
            st, body, _ = get("/v1/auctions?" + urllib.parse.urlencode(q))
            if st != 200:
                fail(f"/v1/auctions: {st} {body}")
            page = json.loads(body)
            listed += page["auctions"]
            after = page["next"]
            if not after:
                break
        if sorted(x["auction_id"] for x in listed) != closed:
            fail("GET /v1/auctions?state=closed lists other auctions")
        log(f"digests of {len(closed)} closed auctions equal the receiver's; listing ok")
        rc = g.verify(["--expect-closed", "--gavel", g.base, "--token", g.token])
        report = json.load(open(f"{g.work}/report.json"))
        pull = report["destinations"][0].get("pull", {})
        if rc != 0 or pull.get("equal") != len(closed):
            fail(f"sim verify --gavel: rc {rc}, {pull}")
        log("sim verify --gavel:", pull["equal"], "digests equal")

        # -- gavel reconcile ----------------------------------------------------
        rows = [(x["event_id"], x["auction_id"], x["bid_sequence"])
                for x in arrivals.values() if x["event_type"] != "producer.heartbeat"]

        def reconcile(rows_or_text, name="export.csv", config=f"{g.work}/gavel.toml"):
            path = f"{g.work}/{name}"
            with open(path, "w") as f:
                if isinstance(rows_or_text, str):
                    f.write(rows_or_text)
                else:
                    f.write("event_id,auction_id,bid_sequence\n")
                    f.writelines(f"{e},{a},{s}\n" for e, a, s in rows_or_text)
            r = subprocess.run([f"{g.bin}/gavel", "reconcile", "--config", config, "--file", path],
                               capture_output=True, text=True, timeout=120)
            return r.returncode, r.stdout + r.stderr

        rc, out = reconcile(rows)
        if rc != 0:
            fail(f"reconcile of an equal export: {rc}\n{out}")
        jl = "".join(json.dumps({"event_id": e, "auction_id": a, "bid_sequence": s}) + "\n"
                     for e, a, s in rows)
        rc, out = reconcile(jl, "export.jsonl")
        if rc != 0:
            fail(f"reconcile of an equal JSON lines export: {rc}\n{out}")
        bid_rows = [i for i, r in enumerate(rows) if r[0].startswith("bid.placed-")]
        gone = rows[bid_rows[0]]
        rc, out = reconcile([r for r in rows if r != gone])
        if rc != 1 or f"auction {gone[1]}: missing {gone[0]} (bid_sequence {gone[2]})" not in out:
            fail(f"deleted row: {rc}\n{out}")
        rc, out = reconcile(rows + [("bid.placed-987654321", closed[0], 9999)])
        if rc != 1 or f"auction {closed[0]}: extra bid.placed-987654321" not in out:
            fail(f"extra row: {rc}\n{out}")
        x, y = rows[bid_rows[1]], next(rows[i] for i in bid_rows[2:] if rows[i][1] == rows[bid_rows[1]][1])
        swapped = [(r[0], r[1], y[2]) if r == x else (r[0], r[1], x[2]) if r == y else r for r in rows]
        rc, out = reconcile(swapped)
        if rc != 1 or f"out of order {x[0]}" not in out or f"out of order {y[0]}" not in out \
                or "digest mismatch" not in out:
            fail(f"swapped pair: {rc}\n{out}")
        rc, out = reconcile("not,an,export\n")
        if rc != 2:
            fail(f"a file without the columns: {rc}\n{out}")
        r = subprocess.run([f"{g.bin}/gavel", "reconcile", "--config", f"{g.work}/gavel.toml",
                            "--file", f"{g.work}/no-such-file"], capture_output=True, text=True)
        if r.returncode != 2:
            fail(f"a missing file: {r.returncode}")
        with open(f"{g.work}/unreachable.toml", "w") as f:
            f.write('[database]\nurl = "postgresql://127.0.0.1:1/postgres"\n')
        rc, out = reconcile(rows, config=f"{g.work}/unreachable.toml")
        if rc != 2:
            fail(f"an unreachable database: {rc}\n{out}")
        log("reconcile: equal 0; deleted, extra, swapped 1; unreadable input or database 2")
    finally:
        if g.gavel:
            g.stop()
        g.cleanup()


if __name__ == "__main__":
    main(run)
