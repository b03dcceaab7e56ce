"""Token scopes, PII masking and the audit log (DESIGN §1.9, ADR 0019)
against the real gavel: every route answered 401 without a known token, 403
to a known token lacking the route's scope and neither to one that has it
(the expected scopes are written out here from the design, not read from
Gavel's table); dead letters masked without `pii` and clear with it; one
audit record per `pii` read, listed newest first with keyset paging; legacy
`ingest.tokens` still ingest and administer; no secret in gavel's output."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, wait  # noqa: E402

NAME = "Émile Zoë Hansen"
EMAIL = "emile.hansen@example.com"
POISON = "bid.placed-9001"


def secret(name):
    return f"{name}-" + os.urandom(12).hex()


# name -> (secret, scopes)
TOKENS = {
    "ingester": (secret("ingester"), ["ingest:default"]),
    "webonly": (secret("webonly"), ["ingest:web"]),
    "reader": (secret("reader"), ["read"]),
    "analyst": (secret("analyst"), ["read", "pii"]),
    "ops": (secret("ops"), ["admin"]),
    "auditor": (secret("auditor"), ["admin", "pii"]),
}
# What each caller may reach, from DESIGN §1.9 (admin implies read; a legacy
# ingest.tokens entry is ingest:* + admin).
REACH = {
    "ingester": {"ingest"},
    "webonly": {"ingest"},
    "reader": {"read"},
    "analyst": {"read"},
    "ops": {"read", "admin"},
    "auditor": {"read", "admin"},
    "legacy": {"ingest", "read", "admin"},
}


def bid(bid_id, auction=77):
    return {"event_type": "bid.placed", "data": {
        "auction_id": auction, "bid_id": bid_id, "bid_amount": "875.10",
        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": 5,
        "bidder_name": NAME, "bidder_email": EMAIL}}


# (method, path, body, the scope DESIGN §1.9 gives it). The bodies and names
# are chosen so an allowed call changes nothing that matters here (no such
# destination; crash routes are off without server.fault_injection).
ROUTES = [
    ("GET", "/healthz", None, None),
    ("GET", "/readyz", None, None),
    ("GET", "/metrics", None, None),
    ("POST", "/v1/events", "bid", "ingest"),
    ("GET", "/v1/pipeline", None, "read"),
    ("GET", "/v1/dead-letters", None, "admin"),
    ("POST", "/v1/dead-letters/redrive", {"destination": "nope"}, "admin"),
    ("POST", "/v1/components/store/crash", {}, "admin"),
    ("POST", "/v1/destinations/nope/restart", {}, "admin"),
    ("POST", "/v1/destinations/webhook/crash", {}, "admin"),
    ("GET", "/v1/audit", None, "admin"),
    ("GET", "/v1/sources", None, "read"),
    # No such source: an allowed call is a 404 and flips nothing.
    ("POST", "/v1/sources/nope/disable", {}, "admin"),
    # An auction with no events: a pii read of nothing leaves no audit record.
    ("GET", "/v1/events?auction_id=424242", None, "read"),
    ("GET", "/v1/auctions", None, "read"),
    ("GET", "/v1/auctions/77", None, "read"),
]


def error_of(body, status, code):
    try:
        e = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        fail(f"not an error body: {body!r}")
    if e.get("status") != status or e.get("code") != code or "field" not in e or not e.get("message"):
        fail(f"expected error {status} {code}, got {body}")


def run(bin_dir):
    toml = "".join(f'[[token]]\nname = "{n}"\nsecret = "{s}"\nscopes = {json.dumps(sc)}\n'
                   for n, (s, sc) in TOKENS.items())
    g = Gavel(bin_dir, "scopes", extra_toml=toml, receiver_args=["--poison-event-id", POISON])
    callers = {n: s for n, (s, _) in TOKENS.items()}
    callers["legacy"] = g.token
    bid_ids = iter(range(10000, 20000))
    try:
        g.start()

        # -- the route x scope matrix ---------------------------------------
        cases = 0
        for method, path, body, needs in ROUTES:
            def call(token):
                b = bid(next(bid_ids)) if body == "bid" else body
                return http(method, g.base + path, b, token=token)
            if needs is None:
                st, text, _ = call(None)
                if st != 200:
                    fail(f"{method} {path} without a token: {st} {text}")
                cases += 1
                continue
            for token in (None, "unknown-" + os.urandom(8).hex()):
                st, text, headers = call(token)
                if st != 401 or headers.get("WWW-Authenticate") != "Bearer":
                    fail(f"{method} {path} with {'no' if token is None else 'an unknown'} token: "
                         f"{st} {headers.get('WWW-Authenticate')} {text}")
                error_of(text, 401, "unauthorized")
                cases += 1
            for name, tok in callers.items():
                st, text, _ = call(tok)
                allowed = needs in REACH[name]
                if name == "webonly" and needs == "ingest":
                    # Its one source (web) takes no HTTP events: the token is
                    # let through to ingest, which refuses the source.
                    allowed = False
                if allowed and st in (401, 403):
                    fail(f"{name} {REACH[name]} refused on {method} {path} ({needs}): {st} {text}")
                if not allowed:
                    if st != 403:
                        fail(f"{name} {REACH[name]} got {st} on {method} {path} ({needs}), not 403: {text}")
                    error_of(text, 403, "forbidden")
                cases += 1
        log(f"route x scope matrix: {cases} cases as the design says")

        # The source an event belongs to (DESIGN §1.7).
        st, text, _ = http("POST", g.base + "/v1/events?source=nope", bid(next(bid_ids)), token=g.token)
        if st != 400 or json.loads(text)["error"]["field"] != "source":
            fail(f"unknown ?source= answered {st} {text}")
        st, text, _ = http("POST", g.base + "/v1/events?source=default", bid(next(bid_ids)),
                           token=callers["webonly"])
        if st != 403:
            fail(f"ingest:web into default answered {st} {text}")
        st, _, _ = http("POST", g.base + "/v1/events?source=default", bid(next(bid_ids)),
                        token=callers["ingester"])
        if st != 202:
            fail(f"ingest:default into ?source=default answered {st}")

        # -- legacy ingest.tokens ingest, read and administer -----------------
        st, text, _ = http("POST", g.base + "/v1/events", bid(9001), token=g.token)
        if st != 202:
            fail(f"legacy token ingest: {st} {text}")

        # -- masking on the dead-letter path ---------------------------------
        def dead_letters(token, query="destination=webhook"):
            st, text, _ = http("GET", g.base + "/v1/dead-letters?" + query, token=token)
            if st != 200:
                fail(f"dead letters answered {st}: {text}")
            return text
        text = wait(lambda: (lambda t: t if POISON in t else None)(dead_letters(callers["ops"])),
                    "the poisoned bid to be dead-lettered", 60)
        audit_before = json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]
        if audit_before:
            fail(f"audit records before any pii read: {audit_before}")
        for name in ("ops", "legacy"):
            text = dead_letters(callers[name])
            letter = json.loads(text)["dead_letters"][0]
            data = json.loads(letter["envelope"])["data"]
            if data["bidder_name"] != "É*** Z*** H***" or data["bidder_email"] != "e***@example.com":
                fail(f"{name} sees unmasked or wrongly masked data: {data}")
            if '"bid_amount":"875.10"' not in letter["envelope"]:
                fail(f"the money text changed: {letter['envelope']}")
            for clear in (NAME, EMAIL, "Hansen", "emile.hansen"):
                if clear in text or json.dumps(clear)[1:-1] in text:
                    fail(f"{name} without pii sees {clear!r}: {text}")
        log("dead letters masked without pii:", data["bidder_name"], data["bidder_email"])
        if json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]:
            fail("a read without pii was audited")

        text = dead_letters(callers["auditor"])
        letters = json.loads(text)["dead_letters"]
        data = json.loads(letters[0]["envelope"])["data"]
        if data["bidder_name"] != NAME or data["bidder_email"] != EMAIL:
            fail(f"auditor (admin + pii) sees masked data: {data}")
        audit = json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])
        if len(audit["audit"]) != 1:
            fail(f"one pii read left {len(audit['audit'])} audit records: {audit}")
        a = audit["audit"][0]
        if (a["token"], a["route"], a["query"], a["records"]) != (
                "auditor", "/v1/dead-letters", "destination=webhook", len(letters)) or not a["at"]:
            fail(f"audit record: {a}")
        log("one pii read, one audit record:", a)

        # A pii read that returns nothing discloses nothing: no record.
        empty = dead_letters(callers["auditor"], "destination=webhook&auction_id=424242")
        if json.loads(empty)["dead_letters"]:
            fail("expected no dead letters for auction 424242")

        # Three more pii reads, then page through the log newest first.
        for i in range(3):
            dead_letters(callers["auditor"], f"destination=webhook&limit={10 + i}")
        st, text, _ = http("GET", g.base + "/v1/audit?limit=2", token=callers["auditor"])
        page1 = json.loads(text)
        if st != 200 or [r["query"] for r in page1["audit"]] != [
                "destination=webhook&limit=12", "destination=webhook&limit=11"] or not page1["next"]:
            fail(f"audit page 1: {st} {text}")
        st, text, _ = http("GET", g.base + "/v1/audit?limit=2&after=" + page1["next"],
                           token=callers["auditor"])
        page2 = json.loads(text)
        if [r["query"] for r in page2["audit"]] != [
                "destination=webhook&limit=10", "destination=webhook"] or page2["next"] is None:
            fail(f"audit page 2: {text}")
        st, text, _ = http("GET", g.base + "/v1/audit?limit=2&after=" + page2["next"],
                           token=callers["auditor"])
        page3 = json.loads(text)
        if page3["audit"] != [] or page3["next"] is not None:
            fail(f"audit page 3: {text}")
        ids = [r["id"] for r in page1["audit"] + page2["audit"]]
        if ids != sorted(ids, reverse=True) or len(set(ids)) != 4:
            fail(f"audit ids not newest first: {ids}")
        # Listing the audit log is not a read of records: still four.
        if len(json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]) != 4:
            fail("listing the audit log added records")
        for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                             ("after=abc", "after"), ("after=-3", "after")):
            st, text, _ = http("GET", g.base + "/v1/audit?" + query, token=callers["ops"])
            if st != 400:
                fail(f"/v1/audit?{query} answered {st}")
            error_of(text, 400, "bad_parameter")
            if json.loads(text)["error"]["field"] != field:
                fail(f"/v1/audit?{query} names {text}, not {field}")
        log("audit log pages newest first; bad parameters named")

        # /v1/pipeline carries no PII (the dead letter's destination error
        # included).
        st, text, _ = http("GET", g.base + "/v1/pipeline", token=callers["analyst"])
        for clear in (NAME, EMAIL, "Hansen", "emile"):
            if clear in text:
                fail(f"/v1/pipeline shows {clear!r}: {text}")
        if len(json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]) != 4:
            fail("a pipeline read was audited")

        # The pull API masks too, and audits its pii reads.
        def pull(token):
            st, text, _ = http("GET", g.base + "/v1/events?auction_id=77", token=token)
            if st != 200:
                fail(f"/v1/events answered {st}: {text}")
            bids = [e for e in json.loads(text)["events"]
                    if e["metadata"]["event_type"] == "bid.placed"]
            if not bids:
                fail(f"/v1/events returned no bid of auction 77: {text}")
            return text, bids[0]["data"]
        for name in ("reader", "ops"):
            text, data = pull(callers[name])
            if data["bidder_name"] != "É*** Z*** H***" or data["bidder_email"] != "e***@example.com":
                fail(f"{name} sees unmasked pull data: {data}")
            for clear in (NAME, EMAIL, "Hansen", "emile.hansen"):
                if clear in text or json.dumps(clear)[1:-1] in text:
                    fail(f"{name} without pii sees {clear!r} on /v1/events")
        if len(json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]) != 4:
            fail("a masked pull read was audited")
        text, data = pull(callers["analyst"])
        if data["bidder_name"] != NAME or data["bidder_email"] != EMAIL:
            fail(f"analyst (read + pii) sees masked pull data: {data}")
        audit = json.loads(http("GET", g.base + "/v1/audit", token=callers["ops"])[1])["audit"]
        if len(audit) != 5 or (audit[0]["token"], audit[0]["route"], audit[0]["query"]) != (
                "analyst", "/v1/events", "auction_id=77"):
            fail(f"the pii pull read left no single audit record: {audit[:2]}")
        log("pull API masked without pii, clear and audited with it")

        # Legacy administers: redrive is accepted.
        st, text, _ = http("POST", g.base + "/v1/dead-letters/redrive", {"destination": "webhook"},
                           token=g.token)
        if st != 202:
            fail(f"legacy redrive: {st} {text}")
    finally:
        g.stop()
        out = g.tail_log(100000) + open(f"{g.work}/gavel.out").read()
        g.cleanup()
    leaked = [n for n, s in callers.items() if s in out]
    if leaked:
        fail(f"gavel's output shows the secrets of {leaked}")
    for clear in (NAME, EMAIL):
        if clear in out:
            fail(f"gavel's output shows {clear!r}")
    log(f"no secret and no PII in {len(out)} bytes of gavel's output")


main(run)
