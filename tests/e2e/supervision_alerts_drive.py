"""Supervisor escalation raises real alerts: Gavel with its real
destination, store, registry, health model and alerts actor, posting to a
local Teams webhook receiver. Checks one alert per incident and the recovery
after each operator restart: a dead letter (poison event), a destination
worker crashed past its restart limit, the core crashed past its limit."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, teams_alerts_toml, teams_hook, wait  # noqa: E402


def posts(teams, text):
    """How many Teams posts so far mention `text`."""
    return sum(1 for b in teams.bodies() if text in b)


def bid(auction, bid_id):
    return {"event_type": "bid.placed",
            "data": {"auction_id": auction, "bid_id": bid_id, "bid_amount": "10.00",
                     "bid_timestamp": "2026-06-09T14:23:11Z"}}


def run(bin_dir):
    teams = teams_hook()
    g = Gavel(bin_dir, "supervision-alerts", server_toml="fault_injection = true",
              extra_toml="""[store]
restart_limit = 1
restart_period = "10m"
""" + teams_alerts_toml('failing_for = "60s"\n'), destination_toml='restart_limit = 2\nrestart_period = "10m"')
    try:
        g.start()
        for i in range(1, 51):
            st, body, _ = http("POST", g.base + "/v1/events", bid(100, i), token=g.token)
            if st != 202:
                fail(f"ingest answered {st}: {body}")
        wait(lambda: g.destination()["lag_events"] == 0, "the healthy events delivered", 30)
        wait(lambda: g.pipeline()["core"]["state"] == "ok", "core ok", 10)
        time.sleep(2)  # several evaluations of a healthy pipeline
        if teams.bodies():
            fail(f"notices during a healthy run: {teams.bodies()}")

        # 1. A poison event: dead-lettered (the receiver answers 422), alerted.
        st, _, _ = http("POST", f"http://127.0.0.1:{g.recv_port}/_sim/poison?event_id=bid.placed-9001")
        if st != 200:
            fail(f"poisoning the receiver: {st}")
        st, body, _ = http("POST", g.base + "/v1/events", bid(200, 9001), token=g.token)
        if st != 202:
            fail(f"ingest of the poison event answered {st}: {body}")
        wait(lambda: posts(teams, "ALERT: new dead letters on webhook") == 1, "the dead-letter alert", 30)
        log("dead letter alerted")

        # 2. The destination worker crashed past its limit (2): failed, alerted.
        def dest_state():
            return g.destination()["state"]
        for n in range(3):
            wait(lambda: dest_state() not in ("restarting", "unknown"), "the worker running", 60)
            st, body, _ = http("POST", g.base + "/v1/destinations/webhook/crash", token=g.token)
            if st != 202:
                fail(f"crash: {st} {body}")
            wait(lambda: g.destination()["restarts"] >= n + 1 or dest_state() == "failed",
                 f"crash {n + 1} seen", 60)
        wait(lambda: dest_state() == "failed", "the destination failed", 60)
        wait(lambda: posts(teams, "ALERT: destination webhook stopped (restart intensity exceeded)") == 1,
             "the destination's restart-intensity alert", 30)
        log("destination escalation alerted")
        st, body, _ = http("POST", g.base + "/v1/destinations/webhook/restart", token=g.token)
        if st != 202:
            fail(f"destination restart: {st} {body}")
        wait(lambda: posts(teams, "RECOVERED: destination webhook stopped (restart intensity exceeded)") == 1,
             "the destination's recovery notice", 30)

        # 3. The core (store and registry) crashed past its limit (1).
        for which in ("registry", "store"):
            wait(lambda: g.pipeline()["core"]["state"] == "ok", "core ok", 60)
            st, body, _ = http("POST", f"{g.base}/v1/components/{which}/crash", token=g.token)
            if st != 202:
                fail(f"crash {which}: {st} {body}")
        wait(lambda: g.pipeline()["core"]["state"] == "failed", "the core failed", 60)
        wait(lambda: posts(teams, "ALERT: store and registry stopped (restart intensity exceeded)") == 1,
             "the core's restart-intensity alert", 30)
        log("core escalation alerted")
        st, body, _ = http("POST", g.base + "/v1/components/core/restart", token=g.token)
        if st != 202:
            fail(f"core restart: {st} {body}")
        wait(lambda: posts(teams, "RECOVERED: store and registry stopped (restart intensity exceeded)") == 1,
             "the core's recovery notice", 30)
        st, body, _ = http("POST", g.base + "/v1/events", bid(100, 51), token=g.token)
        if st != 202:
            fail(f"ingest after the operator restart answered {st}: {body}")

        # One notice per incident: exactly those, nothing repeated.
        for text in ("ALERT: new dead letters on webhook",
                     "ALERT: destination webhook stopped (restart intensity exceeded)",
                     "RECOVERED: destination webhook stopped (restart intensity exceeded)",
                     "ALERT: store and registry stopped (restart intensity exceeded)",
                     "RECOVERED: store and registry stopped (restart intensity exceeded)"):
            if posts(teams, text) != 1:
                fail(f"{posts(teams, text)} posts with '{text}'")
        log(f"{len(teams.bodies())} Teams posts:",
            json.dumps([b[b.find('[e2e]'):b.find('[e2e]') + 90] for b in teams.bodies()]))
        if g.stop() != 0:
            fail("gavel did not exit 0")
    finally:
        teams.shutdown()
        g.cleanup()


if __name__ == "__main__":
    main(run)
