"""Per-source flags (DESIGN §1.7, ADR 0022) against the real gavel; see
source_flags.sh for what it proves."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, value, wait  # noqa: E402

PARTNER = "partner-" + os.urandom(12).hex()

SOURCES = f"""
[[source]]
name = "default"
kind = "http"
[[source]]
name = "partner"
kind = "http"
enabled = false
[[token]]
name = "partner-app"
secret = "{PARTNER}"
scopes = ["ingest:partner"]
"""


def bid(bid_id, auction=501, amount="10.00"):
    return {"event_type": "bid.placed", "data": {
        "auction_id": auction, "bid_id": bid_id, "bid_amount": amount,
        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": 5}}


def error_of(text, status, code, field=None):
    try:
        e = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        fail(f"not an error body: {text!r}")
    if e.get("status") != status or e.get("code") != code:
        fail(f"expected error {status} {code}, got {text}")
    if field is not None and e.get("field") != field:
        fail(f"expected field {field!r}, got {text}")


def sources(g):
    st, body, _ = http("GET", g.base + "/v1/sources", token=g.token)
    if st != 200:
        fail(f"GET /v1/sources answered {st}: {body}")
    return {s["name"]: s for s in json.loads(body)["sources"]}


def acked_ids(g):
    """Event ids the burst had acknowledged (accepted or duplicate: a retried
    request whose first attempt was stored answers duplicate)."""
    out = set()
    for line in open(f"{g.work}/acks.jsonl"):
        a = json.loads(line)
        if a["status"] in ("accepted", "duplicate"):
            out.add(a["event_id"])
    return out


def arrived_ids(g):
    try:
        return {json.loads(line)["event_id"] for line in open(f"{g.work}/arrivals.jsonl")}
    except FileNotFoundError:
        return set()


def flip(g, name, action, token=None):
    return http("POST", f"{g.base}/v1/sources/{name}/{action}", {}, token=token or g.token)


def run(bin_dir):
    g = Gavel(bin_dir, "source_flags", extra_toml=SOURCES, keep=False)
    try:
        g.start()

        # -- the listing and the file's defaults ------------------------------
        s = sources(g)
        if sorted(s) != ["default", "partner"]:
            fail(f"sources listed: {sorted(s)}")
        if not s["default"]["enabled"] or s["default"]["state"] != "enabled":
            fail(f"default should be enabled: {s['default']}")
        if s["partner"]["enabled"] or s["partner"]["default_enabled"] or \
                s["partner"]["state"] != "disabled":
            fail(f"partner should be off by its file default: {s['partner']}")
        if s["default"]["last_event_at"] is not None or "depth" in s["default"]:
            fail(f"a fresh http source: {s['default']}")

        # -- a disabled http source answers 503 source_disabled ----------------
        st, text, headers = http("POST", g.base + "/v1/events", bid(1), token=PARTNER)
        if st != 503 or headers.get("Retry-After") is None:
            fail(f"disabled partner: {st} {headers} {text}")
        error_of(text, 503, "source_disabled", "source")
        # ... and the partner's token covers no other source.
        st, text, _ = http("POST", g.base + "/v1/events?source=default", bid(2), token=PARTNER)
        if st != 403:
            fail(f"partner token into default: {st} {text}")
        st, text, _ = http("POST", g.base + "/v1/events?source=nope", bid(3), token=g.token)
        if st != 400:
            fail(f"unknown ?source=: {st} {text}")
        error_of(text, 400, "unknown_source", "source")

        # -- control: unknown source and action, scope --------------------------
        st, text, _ = flip(g, "nope", "disable")
        if st != 404:
            fail(f"flip of an unknown source: {st} {text}")
        error_of(text, 404, "unknown_source")
        st, text, _ = flip(g, "partner", "toggle")
        if st != 404:
            fail(f"unknown action: {st} {text}")
        st, text, _ = flip(g, "partner", "enable", token=PARTNER)
        if st != 403:
            fail(f"an ingest token flipped a source: {st} {text}")

        # -- on: the partner takes events; its counts and metrics follow -------
        st, text, _ = flip(g, "partner", "enable")
        if st != 200:
            fail(f"enable partner: {st} {text}")
        body = json.loads(text)
        if not body["enabled"] or body["changed_by"] != "ingest.tokens[0]" or not body["changed_at"]:
            fail(f"enable answer: {body}")
        st, text, _ = http("POST", g.base + "/v1/events", bid(4), token=PARTNER)
        if st != 202:
            fail(f"enabled partner: {st} {text}")
        st, text, _ = http("POST", g.base + "/v1/events",
                           {"event_type": "bid.placed", "data": {"auction_id": 501}}, token=PARTNER)
        if st != 422:
            fail(f"invalid event: {st} {text}")
        s = sources(g)["partner"]
        if (s["accepted"], s["rejected"]) != (1, 1) or s["last_event_at"] is None:
            fail(f"partner counts: {s}")
        samples, _, _ = g.scrape()
        if value(samples, "gavel_source_events_total", source="partner", outcome="accepted") != 1 \
                or value(samples, "gavel_source_rejected_total", source="partner", reason="schema") != 1 \
                or value(samples, "gavel_source_enabled", source="partner") != 1 \
                or value(samples, "gavel_source_propagation_seconds_count", source="partner") != 1:
            fail("partner metrics: " + str({k: v for k, v in samples.items()
                                            if k[0].startswith("gavel_source")}))

        # -- a burst whose source goes off and on again --------------------------
        # Open loop at 1000/s: the burst is still running when its source goes off.
        burst = g.burst(auctions=20, events=8000, connections=8, extra=("--rate", "1000"))
        wait(lambda: g.acked() >= 500, "the first acknowledgements", 60)
        st, text, _ = flip(g, "default", "disable")
        if st != 200:
            fail(f"disable default: {st} {text}")
        acked_off = g.acked()
        time.sleep(2)
        # Nothing is taken while it is off (a request in flight at the flip
        # may still finish).
        if g.acked() > acked_off + 8 * 1000:
            fail("the disabled source kept taking events")
        refused = value(g.scrape()[0], "gavel_ingest_requests_total", code="503")
        if refused == 0:
            fail("the burst was never answered 503 while its source was off")
        st, text, _ = flip(g, "default", "enable")
        if st != 200:
            fail(f"enable default: {st} {text}")
        if burst.wait(timeout=240) != 0:
            fail("the burst did not finish: " + open(f"{g.work}/burst.err").read()[-2000:])
        wait(lambda: acked_ids(g) <= arrived_ids(g), "every acknowledged event delivered", 120)
        if g.verify() != 0:
            fail("sim verify found a loss or an order break after the flips")
        log(f"burst: {g.acked()} acknowledged, {int(refused)} answered 503 while off")

        # -- persisted: the flips survive a restart and beat the file -------------
        st, text, _ = flip(g, "default", "disable")
        if st != 200:
            fail(f"disable default: {st} {text}")
        if g.stop() != 0:
            fail("gavel did not stop cleanly")
        g.start()
        s = sources(g)
        if s["default"]["enabled"] or not s["partner"]["enabled"]:
            fail(f"flags after the restart: {s}")
        st, text, _ = http("POST", g.base + "/v1/events", bid(9001, auction=502), token=g.token)
        if st != 503:
            fail(f"first request after the restart into a disabled source: {st} {text}")
        error_of(text, 503, "source_disabled")
        rows = g.psql("select name || '=' || enabled || '/' || changed_by from source_flags "
                      "order by name")
        if rows.split() != ["default=false/ingest.tokens[0]", "partner=true/ingest.tokens[0]"]:
            fail(f"source_flags: {rows!r}")

        # -- a flip made in the database takes effect within a second ------------
        g.psql("update source_flags set enabled = true where name = 'default'")
        wait(lambda: http("POST", g.base + "/v1/events", bid(9002, auction=502),
                          token=g.token)[0] == 202,
             "the database's flip in effect", 10, step=0.2)
        log("flags: persisted across the restart, database flip applied")
    finally:
        g.cleanup()


if __name__ == "__main__":
    main(run)
