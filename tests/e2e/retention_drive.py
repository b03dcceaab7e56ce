"""Retention against a real Gavel data directory: rows back-dated past
max_age go when every destination has them and stay when not; `gavel prune
--dry-run` shows the plan and changes nothing; what stayed is still delivered
afterwards (sim verify: nothing acknowledged lost)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main, wait  # noqa: E402


def run(bin_dir):
    g = Gavel(bin_dir, "retention")
    try:
        g.start()
        # Delivered: auctions 1..10.
        if g.burst(auctions=10, events=600).wait(timeout=300) != 0:
            fail("first burst failed")
        wait(lambda: g.destination()["lag_events"] == 0, "first burst delivered", 60)
        # Not delivered: the receiver is down for auctions 500..509.
        g.stop_receiver()
        if g.burst(auctions=10, events=600, extra=["--first-auction-id", "500"]).wait(timeout=300) != 0:
            fail("second burst failed")
        log("pipeline:", {k: g.destination()[k] for k in ("state", "delivered_through", "lag_events")})
        # Back-date: the delivered rows 33 days, the undelivered ones 32 days
        # (two old daily partitions).
        g.psql("select gavel_outbox_partition(((now() at time zone 'UTC')::date - 33)), "
               "gavel_outbox_partition(((now() at time zone 'UTC')::date - 32))")
        g.psql("update outbox set created_at = created_at - interval '33 days' where auction_id < 500")
        g.psql("update outbox set created_at = created_at - interval '32 days' where auction_id >= 500")
        before_old = int(g.psql("select count(*) from outbox where auction_id < 500"))
        before_new = int(g.psql("select count(*) from outbox where auction_id >= 500"))
        log(f"rows: {before_old} delivered (33 days old), {before_new} undelivered (32 days old)")
        # An admin command next to a running serve leaves its cluster up.
        live = subprocess.run([f"{g.bin}/gavel", "prune", "--dry-run", "--config",
                               f"{g.work}/gavel.toml"], capture_output=True, text=True)
        if live.returncode != 0:
            fail("prune --dry-run next to serve failed: " + live.stderr[-2000:])
        if int(g.psql("select 1")) != 1 or g.pipeline()["database"] != "ok":
            fail("gavel prune stopped the cluster of a running serve")
        if g.stop() != 0:
            fail("gavel did not exit 0")

        cfg = f"{g.work}/gavel.toml"
        dry = subprocess.run([f"{g.bin}/gavel", "prune", "--dry-run", "--config", cfg],
                             capture_output=True, text=True)
        log("gavel prune --dry-run:\n" + dry.stdout)
        if dry.returncode != 0:
            fail("prune --dry-run failed: " + dry.stderr[-2000:])
        lines = [l for l in dry.stdout.splitlines() if l.startswith("outbox_p")]
        drops = [l for l in lines if l.rstrip().endswith("drop")]
        if len([l for l in drops if int(l.split()[3]) > 0]) != 1:
            fail("expected exactly one non-empty partition to go")
        if not any("not delivered everywhere yet" in l for l in lines):
            fail("the undelivered partition is not reported as kept")

        real = subprocess.run([f"{g.bin}/gavel", "prune", "--config", cfg],
                              capture_output=True, text=True)
        log("gavel prune:\n" + real.stdout)
        if real.returncode != 0:
            fail("prune failed: " + real.stderr[-2000:])

        g.start_receiver()
        g.start()
        after_old = int(g.psql("select count(*) from outbox where auction_id < 500"))
        after_new = int(g.psql("select count(*) from outbox where auction_id >= 500"))
        log(f"after prune: {after_old} delivered rows left, {after_new} undelivered rows left")
        if after_old != 0:
            fail("delivered rows older than max_age were not removed")
        if after_new != before_new:
            fail("undelivered rows were removed")
        # What stayed is delivered now.
        wait(lambda: g.destination()["lag_events"] == 0, "the backlog delivered", 60)
        if g.stop() != 0:
            fail("gavel did not exit 0")
        if g.verify(["--expect-closed"]) != 0:
            fail("sim verify failed")
    finally:
        g.cleanup()


main(run)
