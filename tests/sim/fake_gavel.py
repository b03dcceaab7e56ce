#!/usr/bin/env python3
"""A tiny stand-in for Gavel's ingest API and webhook delivery, for testing
the simulator alone (sim burst -> fake_gavel -> sim receive -> sim verify).

Implements the docs/envelope.md and docs/ingest.md rules that the verifier
checks: per-auction bid_sequence (opened = 1, bids +1, closed carries the last), implicit open by
a first bid, duplicates answered with the original sequence, 409 after close,
envelopes serialised once and delivered in order with Standard Webhooks
signatures. Not fast, not durable: a test double only.

  fake_gavel.py --listen 127.0.0.1:8099 --token T --webhook http://127.0.0.1:9000/hook \
      --secret whsec_... [--fail-rate 0.05] [--lose-every 0] [--redeliver-every 0]
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import queue
import random
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def iso_now():
    t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.auctions = {}  # id -> dict(seq, bids, closed)
        self.events = {}  # event_id -> (bid_sequence)
        self.outbox = queue.Queue()
        self.rng = random.Random(7)
        self.count = 0

    def envelope(self, event_id, event_type, seq, data):
        env = {
            "metadata": {
                "event_id": event_id,
                "event_type": event_type,
                "schema_version": "1.0",
                "producer_timestamp": iso_now(),
                "bid_sequence": seq,
            },
            "data": data,
        }
        return json.dumps(env, separators=(",", ":"))

    def ingest(self, ev):
        """Returns (http, result dict). Caller holds the lock."""
        et = ev.get("event_type")
        data = ev.get("data")
        if not isinstance(data, dict) or "auction_id" not in data:
            return 422, {"status": "rejected", "error": "data.auction_id required"}
        aid = data["auction_id"]
        a = self.auctions.setdefault(aid, {"seq": 0, "bids": 0, "closed": False})
        if et == "auction.opened":
            eid = f"auction.opened-{aid}"
        elif et == "bid.placed":
            eid = f"bid.placed-{data.get('bid_id')}"
        elif et == "auction.closed":
            eid = f"auction.closed-{aid}"
        else:
            return 422, {"status": "rejected", "error": "event_type"}
        if eid in self.events:
            return 202, {"event_id": eid, "bid_sequence": self.events[eid], "status": "duplicate"}
        if a["closed"]:
            return 409, {"status": "rejected", "error": "auction closed"}
        if et == "bid.placed" and a["seq"] == 0:
            # implicit open
            a["seq"] = 1
            oid = f"auction.opened-{aid}"
            self.events[oid] = 1
            self.outbox.put(self.envelope(oid, "auction.opened", 1, {"auction_id": aid}))
        if et in ("auction.opened", "bid.placed"):
            a["seq"] += 1
            if et == "bid.placed":
                a["bids"] += 1
        else:
            a["closed"] = True
            data = dict(data)
            data["total_bid_count"] = a["bids"]
        self.events[eid] = a["seq"]
        self.outbox.put(self.envelope(eid, et, a["seq"], data))
        return 202, {"event_id": eid, "bid_sequence": a["seq"], "status": "accepted"}


def deliverer(state, args):
    u = urllib.parse.urlsplit(args.webhook)
    key = base64.b64decode(args.secret[len("whsec_"):])
    conn = None
    n = 0
    sent = []  # for redelivery
    while True:
        body = state.outbox.get()
        n += 1
        if args.lose_every and n % args.lose_every == 0:
            continue
        batch = [body]
        if args.redeliver_every and n % args.redeliver_every == 0 and sent:
            batch.append(sent[-1])  # at-least-once: an earlier event again (same bytes)
        sent = (sent + [body])[-10:]
        for b in batch:
            env = json.loads(b)
            eid = env["metadata"]["event_id"]
            while True:
                ts = int(time.time())
                sig = base64.b64encode(
                    hmac.new(key, f"{eid}.{ts}.{b}".encode(), hashlib.sha256).digest()
                ).decode()
                if args.bad_signature_every and n % args.bad_signature_every == 0:
                    sig = "v1," + base64.b64encode(b"x" * 32).decode()
                else:
                    sig = "v1," + sig
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                    conn.request("POST", u.path or "/", body=b.encode(), headers={
                        "content-type": "application/json",
                        "webhook-id": eid,
                        "webhook-timestamp": str(ts),
                        "webhook-signature": sig,
                    })
                    r = conn.getresponse()
                    r.read()
                    if 200 <= r.status < 300 or r.status == 401:
                        break
                except Exception:
                    conn = None
                time.sleep(0.05)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:8099")
    p.add_argument("--token", required=True)
    p.add_argument("--webhook", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--lose-every", type=int, default=0)
    p.add_argument("--redeliver-every", type=int, default=0)
    p.add_argument("--bad-signature-every", type=int, default=0)
    args = p.parse_args()
    state = State(args)
    threading.Thread(target=deliverer, args=(state, args), daemon=True).start()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def reply(self, code, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            if self.headers.get("Authorization") != f"Bearer {args.token}":
                return self.reply(401, {"error": "token"})
            if args.fail_rate and state.rng.random() < args.fail_rate:
                return self.reply(503, {"error": "injected"}, {"Retry-After": "0"})
            try:
                doc = json.loads(raw)
            except Exception:
                return self.reply(400, {"error": "malformed"})
            with state.lock:
                if isinstance(doc, list):
                    results = []
                    for ev in doc:
                        code, res = state.ingest(ev)
                        if code != 202:
                            res = {"status": "rejected", "error": res.get("error")}
                        results.append(res)
                    return self.reply(200, {"results": results})
                code, res = state.ingest(doc)
                return self.reply(code, res)

    host, port = args.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    print(f"listening on {host}:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
