"""Webhook destinations with pii = clear | mask | hash against a local
receiver that records every attempt's body; the expected pseudonyms are
computed here with Python's hmac, not by Gavel's code."""
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import (Gavel, fail, free_port, http, log, main,  # noqa: E402
                             teams_alerts_toml, teams_hook, wait)

KEY = "pii-key-" + os.urandom(8).hex()
PEOPLE = {  # bidder_user_id -> (name, email)
    5: ("Émile Zoë Hansen", "emile.hansen@example.com"),
    6: ("Ann Li", "ann.li@example.org"),
}
REJECTED_BID = 9999  # the clear destination answers 400 for it, echoing the body


class Receiver:
    """POST /clear, /mask, /hash: every attempt's body by path. /hash fails
    each event's first attempt with 503 (so every event is retried); /clear
    rejects REJECTED_BID with 400 and the request body in the answer."""

    def __init__(self, port):
        self.attempts = {"clear": [], "mask": [], "hash": []}
        self.ok = {"clear": set(), "mask": set(), "hash": set()}
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                path = self.path.strip("/")
                with lock:
                    seen = outer.attempts.setdefault(path, [])
                    first = not any(json.loads(b)["metadata"]["event_id"] ==
                                    json.loads(body)["metadata"]["event_id"] for b in seen)
                    seen.append(body)
                data = json.loads(body)["data"]
                if path == "hash" and first:
                    return self.answer(503, "try again")
                if path == "clear" and data.get("bid_id") == REJECTED_BID:
                    return self.answer(400, "rejected: " + body)
                with lock:
                    outer.ok[path].add(json.loads(body)["metadata"]["event_id"])
                self.answer(200, "ok")

            def answer(self, status, text):
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, path):
        """event_id -> the bodies of its attempts."""
        out = {}
        for b in list(self.attempts[path]):
            out.setdefault(json.loads(b)["metadata"]["event_id"], []).append(b)
        return out


def pseudonym(text):
    return hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def bid(auction, bid_id, user):
    name, email = PEOPLE[user]
    return {"event_type": "bid.placed", "data": {
        "auction_id": auction, "bid_id": bid_id, "bid_amount": "875.10",
        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": user,
        "bidder_name": name, "bidder_email": email}}


class PiiGavel(Gavel):
    def __init__(self, bin_dir, recv_port):
        super().__init__(bin_dir, "pii", receiver=False)
        self.hook_port = recv_port

    def write_config(self):
        dests = ""
        for mode in ("clear", "mask", "hash"):
            dests += (f'[[destination]]\nname = "{mode}"\nkind = "webhook"\n'
                      f'url = "http://127.0.0.1:{self.hook_port}/{mode}"\n'
                      f'secret = "{self.secret}"\nretry_initial = "50ms"\nretry_max = "200ms"\n'
                      f'pii = "{mode}"\n' + (f'pii_key = "{KEY}"\n' if mode == "hash" else ""))
        with open(f"{self.work}/gavel.toml", "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1:{self.port}"
[database]
data_dir = "{self.work}/pg"
[ingest]
tokens = ["{self.token}"]
[log]
level = "debug"
{teams_alerts_toml()}
{dests}""")


def post(g, events):
    st, body, _ = http("POST", g.base + "/v1/events", events, token=g.token)
    if st not in (200, 202):
        fail(f"ingest answered {st}: {body}")


def check_bodies(recv, ids):
    clear, masked, hashed = (recv.delivered(p) for p in ("clear", "mask", "hash"))
    for event_id, user in ids.items():
        name, email = PEOPLE[user]
        for path, got in (("clear", clear), ("mask", masked), ("hash", hashed)):
            if event_id not in got:
                fail(f"{event_id} not delivered to {path}")
        c = json.loads(clear[event_id][-1])["data"]
        if (c["bidder_name"], c["bidder_email"]) != (name, email):
            fail(f"clear changed the bidder: {c}")
        m = json.loads(masked[event_id][-1])["data"]
        want = (" ".join(w[0] + "***" for w in name.split()), email[0] + "***" + email[email.index("@"):])
        if (m["bidder_name"], m["bidder_email"]) != want:
            fail(f"mask: {m['bidder_name']!r} {m['bidder_email']!r}, want {want}")
        attempts = hashed[event_id]
        if len(attempts) < 2:
            fail(f"hash: {event_id} was not retried ({len(attempts)} attempt)")
        if len(set(attempts)) != 1:
            fail(f"hash: {event_id}'s retries differ:\n" + "\n".join(attempts))
        h = json.loads(attempts[0])["data"]
        if (h["bidder_name"], h["bidder_email"]) != (pseudonym(name), pseudonym(email)):
            fail(f"hash: {h} is not HMAC-SHA256(pii_key, text)")
        if h["bid_amount"] != "875.10" or h["bidder_user_id"] != user:
            fail(f"hash changed other fields: {h}")
        for path in ("mask", "hash"):
            for b in (masked if path == "mask" else hashed)[event_id]:
                for secret in (name, email, json.dumps(name)[1:-1], "Hansen", "hansen"):
                    if secret in b:
                        fail(f"{path} sent {secret!r}: {b}")


def check(bin_dir):
    recv_port = free_port()
    recv = Receiver(recv_port)
    teams = teams_hook("pii" + os.urandom(4).hex())
    g = PiiGavel(bin_dir, recv_port)
    try:
        g.start()
        first = {}
        events = [{"event_type": "auction.opened", "data": {
            "auction_id": 1, "start_date": "2026-06-09T13:00:00Z", "end_date": "2026-06-09T15:00:00Z"}}]
        for i, user in enumerate([5, 6, 5, 5, 6]):
            events.append(bid(1, 100 + i, user))
            first[f"bid.placed-{100 + i}"] = user
        post(g, events)
        wait(lambda: all(set(first) <= recv.ok[p] for p in ("clear", "mask", "hash")),
             "the bids at all three destinations", 60)
        check_bodies(recv, first)
        log("clear, mask and hash bodies as expected; retries byte-identical")

        # A restart: the same bidder gets the same pseudonym.
        if g.stop() != 0:
            fail("gavel did not stop cleanly")
        g.start()
        later = {"bid.placed-200": 5, "bid.placed-201": 6}
        post(g, [bid(2, 200, 5), bid(2, 201, 6)])
        wait(lambda: all(set(later) <= recv.ok[p] for p in ("clear", "mask", "hash")),
             "the bids after the restart", 60)
        check_bodies(recv, later)
        log("the same pseudonyms after a restart")

        # A destination rejects an event and echoes it: a dead letter, an
        # alert, errors in the log and the pipeline. None may carry the bidder.
        post(g, [bid(3, REJECTED_BID, 5)])
        wait(lambda: g.destination("clear")["dead_letters"] >= 1, "the dead letter", 60)
        wait(lambda: any("dead_letters" in b for b in teams.bodies()), "the dead-letter alert", 60)
        _, _, metrics = g.scrape()
        st, pipeline, _ = http("GET", g.base + "/v1/pipeline", token=g.token)
        g.stop()
        logtext = open(f"{g.work}/gavel.log").read() + open(f"{g.work}/gavel.out").read()
        for where, text in (("gavel's log", logtext), ("/metrics", metrics),
                            ("/v1/pipeline", pipeline), ("the alerts", "\n".join(teams.bodies()))):
            for name, email in PEOPLE.values():
                for secret in (name, email, json.dumps(name)[1:-1], "Hansen", email.split("@")[0]):
                    if secret in text:
                        i = text.index(secret)
                        fail(f"{secret!r} in {where}: ...{text[max(0, i - 200):i + 100]}...")
        if KEY in logtext:
            fail("the pii_key is in gavel's log")
        log("no bidder data in the log, metrics, pipeline or alerts")
    finally:
        g.cleanup()
        recv.server.shutdown()
        teams.shutdown()


if __name__ == "__main__":
    main(check)
