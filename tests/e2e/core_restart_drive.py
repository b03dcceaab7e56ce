"""The core supervisor against a running Gavel: the registry and the store
are crashed mid-burst (POST /v1/components/<name>/crash, fault injection)
and come back with the next epoch; past restart_limit the core is failed
until POST /v1/components/core/restart; nothing acknowledged is lost."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, value, wait  # noqa: E402

LIMIT = 3


def core(g):
    return g.pipeline()["core"]


def crash(g, which):
    st, body, _ = http("POST", f"{g.base}/v1/components/{which}/crash", token=g.token)
    if st != 202:
        fail(f"crash {which}: {st} {body}")


def wait_core(g, what, **expect):
    def ok():
        c = core(g)
        return all(c.get(k) == v for k, v in expect.items()) and c
    return wait(ok, what, 60)


def burst_done(g, burst, seconds):
    if burst.wait(timeout=seconds) != 0:
        fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])


def delivered_and_verified(g, seconds):
    """Everything delivered, Gavel stopped cleanly, sim verify OK."""
    wait(lambda: g.destination()["lag_events"] == 0, "everything delivered", seconds)
    if g.stop() != 0:
        fail("gavel did not exit 0")
    if g.verify(["--expect-closed"]) != 0:
        fail("sim verify: acknowledged events lost or out of order")


def chaos(bin_dir, seconds):
    """Soak form: the store or the registry (at random) crashed every 1-4 s
    while a long burst runs, for `seconds`; then everything acknowledged must
    have arrived, in order, without gaps."""
    import random
    rnd = random.Random(int(os.environ.get("GAVEL_CHAOS_SEED", "7")))
    g = Gavel(bin_dir, "core-chaos", server_toml="fault_injection = true",
              extra_toml='[store]\nrestart_limit = 1000\nrestart_period = "1s"')
    try:
        g.start()
        # Open loop at 1,500 events/s, so the burst lasts the whole chaos.
        burst = g.burst(auctions=300, events=1500 * seconds, connections=32,
                        extra=["--rate", "1500"])
        end = time.time() + seconds
        crashes = {"store": 0, "registry": 0}
        while time.time() < end and burst.poll() is None:
            time.sleep(rnd.uniform(1, 4))
            c = core(g)
            if c["state"] != "ok":
                continue
            which = rnd.choice(["store", "registry"])
            crash(g, which)
            crashes[which] += 1
        log(f"crashes: {crashes}, acks so far {g.acked()}")
        wait_core(g, "the core back after the last crash", state="ok")
        burst_done(g, burst, 600)
        c = core(g)
        log("core at the end:", c)
        if c["store_restarts"] != crashes["store"] or \
                c["registry_restarts"] != crashes["store"] + crashes["registry"]:
            fail(f"restart counts {c} do not match the crashes {crashes}")
        delivered_and_verified(g, 300)
    finally:
        g.cleanup()


def run(bin_dir):
    if len(sys.argv) > 3 and sys.argv[2] == "--chaos":
        return chaos(bin_dir, int(sys.argv[3]))
    g = Gavel(bin_dir, "core-restart", server_toml="fault_injection = true",
              extra_toml=f'[store]\nrestart_limit = {LIMIT}\nrestart_period = "10m"')
    try:
        g.start()
        c = core(g)
        if c["state"] != "ok" or c["epoch"] != 0:
            fail(f"core at start: {c}")
        burst = g.burst(auctions=100, events=30000, connections=16)

        wait(lambda: g.acked() >= 4000 or burst.poll() is not None, "4,000 acks", 120, step=0.02)
        crash(g, "registry")
        c = wait_core(g, "the registry restarted", state="ok", registry_restarts=1)
        log(f"registry crashed after {g.acked()} acks, back: {c}")
        if c["store_restarts"] != 0 or c["epoch"] != 1 or "registry failed" not in c["last_error"]:
            fail(f"after the registry crash: {c}")

        n = g.acked()
        wait(lambda: g.acked() >= n + 4000 or burst.poll() is not None, "4,000 more acks", 120,
             step=0.02)
        crash(g, "store")
        c = wait_core(g, "the store restarted", state="ok", store_restarts=1)
        log(f"store crashed after {g.acked()} acks, back: {c}")
        if c["registry_restarts"] != 2 or c["epoch"] != 2:
            fail(f"after the store crash: {c}")
        samples, _, _ = g.scrape()
        if value(samples, "gavel_actor_restarts_total", actor="store") != 1:
            fail("gavel_actor_restarts_total{actor=store} is not 1")

        # Two more crashes: the fourth within the period is over the limit.
        n = g.acked()
        wait(lambda: g.acked() >= n + 2000 or burst.poll() is not None, "2,000 more acks", 120,
             step=0.02)
        crash(g, "registry")
        wait_core(g, "the registry restarted again", state="ok", registry_restarts=3)
        crash(g, "registry")
        c = wait_core(g, "the core failed", state="failed")
        log("over the limit:", c)
        st, _, _ = http("GET", g.base + "/readyz")
        if st != 503:
            fail(f"/readyz answered {st} while the core is failed")
        st, body, headers = http("POST", g.base + "/v1/events",
                                 {"event_type": "bid.placed",
                                  "data": {"auction_id": 99999, "bid_id": 1,
                                           "bid_amount": "1.00",
                                           "bid_timestamp": "2026-06-09T14:23:11Z"}},
                                 token=g.token)
        if st != 503 or "retry-after" not in {k.lower() for k in headers}:
            fail(f"ingest while failed answered {st} {body}")
        time.sleep(2)  # stays failed: no restart without an operator
        if core(g)["state"] != "failed":
            fail("the core restarted by itself past its limit")
        st, body, _ = http("POST", g.base + "/v1/components/core/restart", token=g.token)
        if st != 202:
            fail(f"operator restart: {st} {body}")
        c = wait_core(g, "the operator restart", state="ok")
        log("after the operator restart:", c)

        burst_done(g, burst, 300)
        delivered_and_verified(g, 120)
    finally:
        g.cleanup()


main(run)
