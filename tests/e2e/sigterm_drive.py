"""SIGTERM during a burst: Gavel stops accepting, finishes the commits in
flight, lets the destination deliver what is committed, stores its position
and exits 0; restarted, the burst completes and sim verify finds nothing
acknowledged lost (and few redeliveries: the position was stored). A second
signal during the drain exits at once."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main, wait  # noqa: E402


def run(bin_dir):
    g = Gavel(bin_dir, "sigterm", extra_toml="")
    try:
        g.start()
        burst = g.burst(auctions=100, events=20000, connections=16)
        wait(lambda: g.acked() >= 5000 or burst.poll() is not None, "a third of the burst", 120,
             step=0.02)
        n = g.acked()
        t = time.time()
        rc = g.stop(signal.SIGTERM, timeout=40)
        log(f"SIGTERM after {n} acks: exit code {rc} in {time.time() - t:.2f}s")
        if rc != 0:
            fail(f"exit code {rc} after SIGTERM")
        drained = [l for l in open(f"{g.work}/gavel.log") if "drained:" in l]
        if not drained:
            fail("no drain summary in the log: " + g.tail_log())
        log("log:", drained[-1].strip())
        if "positions stored" not in drained[-1]:
            fail("positions not stored at shutdown")
        if "destinations caught up" not in drained[-1]:
            fail("the destination did not catch up within the drain timeout")

        g.start()
        if burst.wait(timeout=300) != 0:
            fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])
        wait(lambda: g.destination()["lag_events"] == 0, "everything delivered", 120)
        if g.stop() != 0:
            fail("second run did not exit 0")
        if g.verify(["--expect-closed"]) != 0:
            fail("sim verify: acknowledged events lost or out of order")
        report = json.load(open(f"{g.work}/report.json"))
        redeliveries = report.get("redeliveries", report.get("counts", {}).get("redeliveries"))
        log("redeliveries after the restart:", redeliveries)
        if isinstance(redeliveries, int) and redeliveries > 100:
            fail("many redeliveries: the position was not stored at shutdown")

        # A second signal during the drain ends the process at once: the
        # receiver is down, so the drain would wait for the destination.
        g.stop_receiver()
        g.start()
        g.burst(auctions=5, events=300, extra=["--first-auction-id", "9000"]).wait(timeout=120)
        t = time.time()
        g.gavel.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        g.gavel.send_signal(signal.SIGTERM)
        rc = g.gavel.wait(timeout=10)
        g.gavel = None
        log(f"two signals: exit code {rc} in {time.time() - t:.2f}s")
        if rc == 0 or time.time() - t > 3:
            fail("a second signal did not end the process at once")
    finally:
        g.cleanup()


main(run)
