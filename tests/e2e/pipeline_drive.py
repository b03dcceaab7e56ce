"""GET /v1/pipeline against a running Gavel: values move as events flow and
when the destination fails (its receiver stopped) and recovers; auctions in
their final window show their newest heartbeat."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main, wait, value  # noqa: E402


def run(bin_dir):
    g = Gavel(bin_dir, "pipeline", extra_toml="""
[auction]
heartbeat_interval = "10s"
final_heartbeat_interval = "1s"
final_window = "5m"
""")
    try:
        g.start()
        # A fresh destination first catches up from the outbox (nothing there).
        p = wait(lambda: (lambda x: x if x["destinations"][0]["state"] == "ok" else None)(
            g.pipeline()), "the destination to settle", 30)
        d = p["destinations"][0]
        log("idle:", d["state"], "lag", d["lag_events"], "head", p["head_position"])
        if d["state"] != "ok" or d["lag_events"] != 0 or p["database"] != "ok":
            fail(f"idle pipeline not ok: {p}")
        for key in ["delivered_through", "lag_events", "lag_seconds", "oldest_undelivered_at",
                    "retries_5m", "dead_letters_5m", "last_error", "state"]:
            if key not in d:
                fail(f"destination lacks {key}")
        for key in ["auctions", "sequence_gaps", "head_position"]:
            if key not in p:
                fail(f"pipeline lacks {key}")

        # Auctions stay open (no close) and end within a minute: all of them
        # are in their final window and beat every second.
        burst = g.burst(auctions=10, events=1000,
                        extra=["--close-fraction", "0", "--close-window", "60s"])
        if burst.wait(timeout=300) != 0:
            fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])
        p = wait(lambda: (lambda x: x if x["destinations"][0]["lag_events"] == 0
                          and x["head_position"] > 0 else None)(g.pipeline()),
                 "delivery to catch up", 60)
        head1 = p["head_position"]
        log("after burst: head", head1, "active", p["auctions"]["active"],
            "in final window", p["auctions"]["in_final_window"])
        if p["auctions"]["active"] != 10:
            fail(f"expected 10 active auctions: {p['auctions']}")
        fw = wait(lambda: (lambda x: x if x["auctions"]["in_final_window"] == 10 and all(
            a["last_heartbeat_at"] for a in x["auctions"]["final_window"]) else None)(g.pipeline()),
            "heartbeats of the final-window auctions", 30)
        log("newest heartbeats:", [a["last_heartbeat_at"] for a in fw["auctions"]["final_window"]][:3])
        if fw["sequence_gaps"] != []:
            fail(f"sequence gaps reported: {fw['sequence_gaps']}")
        # Heartbeats flow: the head moves by itself.
        wait(lambda: g.pipeline()["head_position"] > head1, "heartbeats to move the head", 10)

        # The destination fails: its receiver goes away. Heartbeats keep
        # committing (10 auctions, one per second each), so lag builds up.
        g.stop_receiver()
        log("receiver stopped")
        bad = wait(lambda: (lambda d: d if d["state"] in ("retrying", "circuit-open")
                            and d["lag_events"] > 0 else None)(g.destination()),
                   "the destination to report failure", 30)
        log("failing:", bad["state"], "lag", bad["lag_events"], "events",
            bad["lag_seconds"], "s, last error:", bad["last_error"])
        if not bad["oldest_undelivered_at"]:
            fail("no oldest_undelivered_at while lagging")
        time.sleep(2.5)
        worse = g.destination()
        log("later:", worse["state"], "lag", worse["lag_events"], "events", worse["lag_seconds"], "s")
        if not (worse["lag_seconds"] > bad["lag_seconds"] and worse["lag_events"] > bad["lag_events"]):
            fail("lag did not grow while the destination was down")
        if worse["retries_5m"] == 0 and worse.get("retries", 0) == 0:
            fail("no retries counted while failing")
        if not worse["last_error"]:
            fail("no last_error while failing")
        samples, _, _ = g.scrape()
        if value(samples, "gavel_destination_lag_seconds", destination="webhook") <= 0:
            fail("gavel_destination_lag_seconds not positive while failing")
        if value(samples, "gavel_destination_up", destination="webhook") != 0:
            fail("gavel_destination_up not 0 while failing")

        g.start_receiver()
        log("receiver back")
        ok = wait(lambda: (lambda d: d if d["state"] == "ok" and d["lag_events"] <= 10 else None)(
            g.destination()), "recovery", 60)
        log("recovered:", ok["state"], "lag", ok["lag_events"], ok["lag_seconds"], "s")
        rc = g.stop()
        if rc != 0:
            fail(f"gavel exited {rc}")
    finally:
        g.cleanup()


main(run)
