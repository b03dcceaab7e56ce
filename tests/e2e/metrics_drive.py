"""/metrics against a running Gavel: the Prometheus parser reads every scrape,
and the ingest, store, delivery and lag series move as a burst flows."""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main, value, wait  # noqa: E402


def run(bin_dir):
    g = Gavel(bin_dir, "metrics")
    try:
        g.start()
        before, families, text = g.scrape()
        names = {f.name for f in families}
        log(f"first scrape: {len(families)} families, {len(text)} bytes")
        for want in ["gavel_ingest_requests", "gavel_store_commit_duration_seconds",
                     "gavel_outbox_head_position", "gavel_destination_lag_events",
                     "gavel_destination_lag_seconds", "gavel_auctions_active",
                     "gavel_http_connections_active", "gavel_database_up"]:
            if want not in names:
                fail(f"{want} missing from /metrics: {sorted(names)}")
        # HELP and TYPE lines precede every family.
        if "# TYPE gavel_store_commit_duration_seconds histogram" not in text:
            fail("no histogram TYPE line")

        burst = g.burst(auctions=20, events=3000)
        if burst.wait(timeout=300) != 0:
            fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])
        acks = sum(1 for _ in open(f"{g.work}/acks.jsonl"))
        log(acks, "acknowledged events")

        def drained():
            s, _, _ = g.scrape()
            return s if value(s, "gavel_destination_lag_events", destination="webhook") == 0 \
                and value(s, "gavel_outbox_head_position") > 0 else None
        after = wait(drained, "the webhook to catch up (lag 0)", 120, step=0.5)

        def moved(name, **labels):
            a, b = value(before, name, **labels), value(after, name, **labels)
            log(f"{name}{labels or ''}: {a} -> {b}")
            if not b > a:
                fail(f"{name}{labels} did not move ({a} -> {b})")
            return b - a

        accepted = moved("gavel_ingest_events_total", status="accepted")
        moved("gavel_ingest_requests_total", code="202")
        moved("gavel_ingest_request_duration_seconds_count")
        moved("gavel_store_commits_total", outcome="ok")
        committed = moved("gavel_store_events_committed_total")
        moved("gavel_store_commit_batch_events_count")
        moved("gavel_store_commit_duration_seconds_count")
        moved("gavel_store_commit_duration_seconds_bucket", le="+Inf")
        moved("gavel_http_requests_total")
        moved("gavel_outbox_head_position")
        moved("gavel_destination_delivered_through", destination="webhook")
        moved("gavel_delivery_latency_seconds_count", destination="webhook")
        moved("gavel_delivery_latency_seconds_bucket", destination="webhook", le="+Inf")
        delivered = moved("gavel_destination_deliveries_total", destination="webhook",
                          outcome="delivered")
        moved("gavel_destination_requests_total", destination="webhook")
        if delivered < accepted:
            fail(f"delivered {delivered} < accepted {accepted}")
        for name, labels in [("gavel_destination_failures_total",
                              {"destination": "webhook", "class": "permanent"}),
                             ("gavel_destination_retries_total", {"destination": "webhook"}),
                             ("gavel_destination_dead_letters_total", {"destination": "webhook"}),
                             ("gavel_destination_circuit_state", {"destination": "webhook"}),
                             ("gavel_actor_restarts_total", {"actor": "destination:webhook"})]:
            key = (name, tuple(sorted(labels.items())))
            if key not in after:
                fail(f"{name}{labels} missing")
        if committed < accepted:
            fail(f"committed {committed} < accepted {accepted}")
        # Heartbeats are committed on the auctions' own schedule; the burst's
        # auctions were opened, so at least the final-window ones beat.
        log("heartbeats committed:", value(after, "gavel_heartbeat_events_total"))
        if value(after, "gavel_database_up") != 1:
            fail("gavel_database_up is not 1")
        # Histogram buckets are cumulative and end with +Inf == _count.
        inf = value(after, "gavel_store_commit_duration_seconds_bucket", le="+Inf")
        if inf != value(after, "gavel_store_commit_duration_seconds_count"):
            fail("+Inf bucket differs from _count")
        if accepted < acks * 0.9:
            fail(f"accepted counter {accepted} far below the {acks} acks")
        rc = g.stop()
        if rc != 0:
            fail(f"gavel exited {rc} on SIGTERM")
        if g.verify() != 0:
            fail("sim verify failed")
    finally:
        g.cleanup()


main(run)
