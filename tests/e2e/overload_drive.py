"""Overload (ADR 0014): 2,000 keep-alive connections post batches of 100 at
once, far more than Gavel can make durable at a time, and retry every 503
after its Retry-After. Proves the "never"s only, with generous bounds (timed
figures go to bench/reports/, not here):

- no request goes unanswered (the sim's client timeout never fires) and no
  admitted request waits for server.request_timeout (no 503 `unavailable`);
- excess is shed with 503 + Retry-After (gavel_ingest_shed_total moves);
- Gavel's RSS, sampled every second, stays bounded and does not keep growing;
- every acknowledged event is delivered, in order, gap-free (sim verify).

usage: overload_drive.py BIN_DIR [--events N] [--connections N]
(CI: 160,000 events, 10-30 s of overload on this machine; soak: 600,000)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main, value, wait  # noqa: E402

ARGS = sys.argv[2:]


def arg(name, default):
    return int(ARGS[ARGS.index(name) + 1]) if name in ARGS else default


EVENTS = arg("--events", 160000)
CONNECTIONS = arg("--connections", 2000)
RSS_CAP_MIB = 1536  # "bounded": the unbounded failure grows past this


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(bin_dir):
    g = Gavel(bin_dir, "overload", keep=os.environ.get("GAVEL_KEEP_WORK") == "1",
              server_toml='request_timeout = "10s"\nmax_connections = 8192')
    try:
        g.start()
        log(f"{CONNECTIONS} connections, batches of 100, {EVENTS} events")
        # A client timeout far above the server's own deadline: if it fires,
        # Gavel left a request unanswered.
        burst = g.burst(auctions=CONNECTIONS * 2, events=EVENTS, connections=CONNECTIONS,
                        extra=["--batch", "100", "--request-timeout", "60s",
                               "--threads", "2", "--report", f"{g.work}/burst.json"])
        samples = []
        t0 = time.time()
        while burst.poll() is None:
            samples.append((round(time.time() - t0, 1), rss_kib(g.gavel.pid) // 1024))
            if time.time() - t0 > 900:
                fail("sim burst did not finish in 900 s")
            time.sleep(1)
        if burst.returncode != 0:
            fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])
        json.dump(samples, open(f"{g.work}/rss.json", "w"))
        rep = json.load(open(f"{g.work}/burst.json"))
        none = {"count": 0, "p50": 0, "p99": 0}
        att = rep.get("attempt_latency_ms", {})  # absent from sims before ADR 0014
        shed, adm = att.get("shed_503", none), att.get("admitted_2xx", none)
        log(f"burst: {rep['acked']} acked in {rep['elapsed_s']:.1f} s, {rep['requests']} "
            f"requests; shed {shed['count']} (p50 {shed['p50']:.1f} ms, p99 {shed['p99']:.1f} ms), "
            f"admitted {adm['count']} (p50 {adm['p50']:.1f} ms, p99 {adm['p99']:.1f} ms), "
            f"no answer {rep.get('no_answer', '?')}")
        s, _, _ = g.scrape()
        shed_total = sum(value(s, "gavel_ingest_shed_total", reason=r)
                         for r in ("queue_delay", "max_in_flight"))
        timed_out = value(s, "gavel_ingest_events_total", status="unavailable")
        log(f"gavel: shed {shed_total:.0f} requests, {timed_out:.0f} events answered 503 "
            f"unavailable, limit {value(s, 'gavel_admission_limit_events'):.0f} events")
        if rep.get("no_answer", 0) != 0:
            fail(f"{rep['no_answer']} requests got no answer")
        if timed_out != 0:
            fail(f"{timed_out:.0f} admitted events waited for request_timeout")
        if shed_total == 0 and rep["retries"] == 0:
            fail("nothing was shed: the test did not overload Gavel")
        peak = max(m for _, m in samples)
        half = len(samples) // 2
        first, second = max(m for _, m in samples[:half]), max(m for _, m in samples[half:])
        log(f"RSS: peak {peak} MiB; first half max {first} MiB, second half max {second} MiB")
        if peak > RSS_CAP_MIB:
            fail(f"RSS reached {peak} MiB")
        if second > first * 1.5 + 64:
            fail(f"RSS kept growing: {first} MiB then {second} MiB")

        def drained():
            st, _, _ = g.scrape()
            return value(st, "gavel_destination_lag_events", destination="webhook") == 0
        wait(drained, "the webhook to catch up", 600, step=1)
        g.stop_receiver()
        if g.verify(["--expect-closed"]) != 0:
            fail("sim verify found problems")
        log("verify OK")
    finally:
        g.cleanup()


if __name__ == "__main__":
    main(run)
