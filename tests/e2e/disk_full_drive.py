"""Disk full under a burst (see disk_full.sh): the embedded cluster's data
directory on a small tmpfs, filled by a ballast file until commits fail.
Ingest answers 503 and never 2xx for an event it did not commit; /readyz,
/v1/pipeline, /metrics and the alerts show the storage condition; Gavel stays
up; once the ballast is deleted ingest recovers by itself and every
acknowledged event is in the outbox and delivered. Exit 77: cannot mount."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, value, wait  # noqa: E402

SKIP = 77
# initdb takes ~40 MB; the rest is what a burst and the WAL may use.
TMPFS_MB = int(os.environ.get("GAVEL_DISK_FULL_MB", "160"))
# Space left free when the ballast is in place: less than one WAL segment
# (16 MB), so the burst fills it within seconds.
HEADROOM_MB = int(os.environ.get("GAVEL_DISK_FULL_HEADROOM_MB", "6"))
DEADLINE = 180
PROBE_AUCTION = 880001


def skip(msg):
    log("SKIP:", msg)
    raise SystemExit(SKIP)


def free_mb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / (1 << 20)


def probe(g, n):
    """One bid of an auction the burst does not know: (status, Retry-After?, event_id)."""
    bid_id = 880_000_000 + n
    body = {"event_type": "bid.placed",
            "data": {"auction_id": PROBE_AUCTION, "bid_id": bid_id,
                     "bid_amount": "1.00", "bid_timestamp": "2026-06-09T14:23:11Z"}}
    try:
        st, _, headers = http("POST", g.base + "/v1/events", body, token=g.token, timeout=20)
    except OSError:
        return 0, False, None
    return st, "retry-after" in {k.lower() for k in headers}, f"bid.placed-{bid_id}"


def acked_ids(g):
    ids = []
    try:
        with open(f"{g.work}/acks.jsonl") as f:
            for line in f:
                line = line.strip()
                if line:
                    ack = json.loads(line)
                    if ack["status"] in ("accepted", "duplicate"):
                        ids.append(ack["event_id"])
    except (OSError, ValueError):
        pass
    return ids


def storage_view(g):
    """(readyz status, readyz text, pipeline storage object, metric value)."""
    rst, rbody, _ = http("GET", g.base + "/readyz", timeout=10)
    try:
        rtext = json.loads(rbody).get("status", "")
    except ValueError:
        rtext = rbody
    st, body, _ = http("GET", g.base + "/v1/pipeline", token=g.token, timeout=10)
    storage = json.loads(body).get("storage") if st == 200 else None
    samples, _, _ = g.scrape()
    return rst, rtext, storage, value(samples, "gavel_storage_writable")


def top_up(path, keep_free=256 << 10):
    """Grows the ballast by whatever the server freed (an aborted extension,
    a removed temporary WAL file), so the disk stays full while it is checked."""
    grow = int(free_mb(os.path.dirname(path)) * (1 << 20)) - keep_free
    if grow <= 0:
        return
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        os.posix_fallocate(fd, os.fstat(fd).st_size, grow)
    except OSError:
        pass  # the server took it first: full anyway
    finally:
        os.close(fd)


def alive_or_fail(g):
    if g.gavel.poll() is not None:
        fail(f"gavel exited with {g.gavel.returncode}; log:\n" + g.tail_log(40))


def run(bin_dir):
    if os.getuid() != 0:
        skip("needs root to mount a tmpfs")
    g = Gavel(bin_dir, "disk-full", keep=bool(os.environ.get("GAVEL_E2E_KEEP")),
              database_toml='restart_limit = 1000\nrestart_period = "10m"',
              extra_toml='[alerts]\ninterval = "300ms"\ninstance = "e2e"\n')
    mnt = f"{g.work}/pg"
    os.makedirs(mnt)
    mounted = False
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0755",
                            "tmpfs", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            skip("mount -t tmpfs not permitted here: " + r.stderr.strip())
        mounted = True
        g.start()
        ballast = f"{mnt}/ballast"
        size = int((free_mb(mnt) - HEADROOM_MB) * (1 << 20))
        if size <= 0:
            fail(f"only {free_mb(mnt):.0f} MB free on a {TMPFS_MB} MB tmpfs after start")
        fd = os.open(ballast, os.O_CREAT | os.O_WRONLY, 0o600)
        os.posix_fallocate(fd, 0, size)
        os.close(fd)
        log(f"ballast {size >> 20} MB; {free_mb(mnt):.1f} MB left free")

        # Retried for longer than the harness's default: the disk stays full
        # for as long as the checks below take.
        burst = subprocess.Popen(
            [f"{g.bin}/sim", "burst", "--target", g.base, "--token", g.token,
             "--auctions", "60", "--events", "20000", "--connections", "8",
             "--rate", "1500", "--acks", f"{g.work}/acks.jsonl", "--retry-for", "400s",
             "--quiet"],
            stdout=open(f"{g.work}/burst.out", "a"), stderr=open(f"{g.work}/burst.err", "a"))
        g.procs.append(burst)
        # Fill until a commit fails for want of space and Gavel says so.
        probes = {}  # event_id -> status of the probe

        def full():
            alive_or_fail(g)
            n = len(probes) + 1
            st, ra, eid = probe(g, n)
            probes[eid] = st
            if st == 503 and not ra:
                fail("a 503 without Retry-After")
            if st != 503:
                return False
            rst, rtext, storage, writable = storage_view(g)
            log(f"probe {n}: 503; /readyz {rst} {rtext!r}; storage {storage}; "
                f"writable {writable}")
            return storage and storage.get("state") != "ok"
        wait(full, "commits failing with the storage condition", DEADLINE, step=0.2)
        full_at = time.time()

        # While full: nothing dies, ingest answers 503, the condition shows
        # everywhere; a few seconds so that the alert fires.
        seen = {"readyz": False, "pipeline": False, "metric": False}
        while time.time() < full_at + 8:
            top_up(ballast)
            alive_or_fail(g)
            n = len(probes) + 1
            st, _, eid = probe(g, n)
            probes[eid] = st
            rst, rtext, storage, writable = storage_view(g)
            seen["readyz"] |= rst == 503 and "storage" in rtext
            seen["pipeline"] |= bool(storage) and storage.get("state") != "ok" \
                and bool(storage.get("last_error"))
            seen["metric"] |= writable == 0
            time.sleep(0.5)
        log("while full:", seen, "last storage:", storage)
        if not all(seen.values()):
            fail(f"storage condition not shown everywhere while full: {seen}")
        wait(lambda: "ALERT: database storage" in open(f"{g.work}/gavel.log").read(),
             "the storage alert", 30)

        rst, rtext, storage, writable = storage_view(g)
        log(f"before the ballast goes: /readyz {rst} {rtext!r}, storage {storage['state']}")
        os.unlink(ballast)
        freed = time.time()
        log(f"ballast deleted; {free_mb(mnt):.1f} MB free")

        def back():
            alive_or_fail(g)
            n = len(probes) + 1
            st, _, eid = probe(g, n)
            probes[eid] = st
            return st == 202
        wait(back, "ingest answering 202 again by itself", DEADLINE, step=0.2)
        log(f"ingest back {time.time() - freed:.1f}s after the ballast went")
        wait(lambda: storage_view(g)[0] == 200, "/readyz 200", 60)
        rst, rtext, storage, writable = storage_view(g)
        if storage.get("state") != "ok" or writable != 1:
            fail(f"storage after recovery: {storage}, writable {writable}")

        if burst.wait(timeout=600) != 0:
            fail("sim burst failed: " + open(f"{g.work}/burst.err").read()[-2000:])
        alive_or_fail(g)
        # Every acknowledged event (burst and probes) is committed.
        acked = acked_ids(g) + [e for e, st in probes.items() if 200 <= st < 300]
        if not acked:
            fail("nothing acknowledged")
        with open(f"{g.work}/acked_ids.txt", "w") as f:
            f.write("\n".join(acked) + "\n")
        missing = g.psql(
            "create temp table acked(event_id text); "
            f"copy acked from '{g.work}/acked_ids.txt'; "
            "select count(*) from acked a where not exists "
            "(select 1 from outbox o where o.event_id = a.event_id)")
        log(f"{len(acked)} acknowledged, not in the outbox: {missing}")
        if missing.strip().splitlines()[-1] != "0":
            fail(f"{missing} acknowledged event(s) not in the outbox")
        wait(lambda: g.destination()["lag_events"] == 0, "everything delivered", 180)
        if g.stop() != 0:
            fail("gavel did not exit 0")
        if g.verify(["--expect-closed"]) != 0:
            fail("sim verify: acknowledged events lost or out of order")
        log(f"probes by status: {sorted(set(probes.values()))}")
    finally:
        # The cluster stops before the tmpfs goes, and the work dir after.
        keep, g.keep = g.keep, True
        g.cleanup()
        if mounted:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        if not keep:
            subprocess.run(["rm", "-rf", g.work])


if __name__ == "__main__":
    main(run)
