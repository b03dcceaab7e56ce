"""The HTTP server's own time and connection limits on a running Gavel (see
http_limits.sh): raw sockets, for what a well-behaved client does not do.
Each phase restarts Gavel (same cluster) with the [server] keys it needs."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, log, main  # noqa: E402

# Long enough to mean "never" for timeouts of a few hundred milliseconds; the
# bounds below are loose on both sides (a shared machine is slow).
NEVER = 10.0

failures = []


def check(ok, what):
    if ok:
        log("ok  ", what)
    else:
        log("FAIL", what)
        failures.append(what)


class Raw:
    """One client connection, driven byte by byte."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=NEVER)
        self.opened = time.monotonic()
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """The next response: (status, headers with lower-case names, body),
        or None if the connection ended first."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self._recv()
            if not chunk:
                return None
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, val = line.partition(":")
            headers[name.strip().lower()] = val.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            chunk = self._recv()
            if not chunk:
                return None
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body.decode()

    def closed_after(self, since):
        """Seconds from `since` until the server closes the connection (end of
        stream or reset), or None if it is still open after NEVER."""
        self.sock.settimeout(NEVER)
        while True:
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                return time.monotonic() - since

    def close(self):
        self.sock.close()

    def _recv(self):
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def show(d):
    return "still open" if d is None else f"{d * 1000:.0f} ms"


def between(d, lo, hi):
    return d is not None and lo <= d <= hi


class Counters:
    """gavel_http_* from /metrics. A scrape is itself a request, counted in
    gavel_http_requests_total: `requests_since` leaves the scrapes out."""

    def __init__(self, g):
        self.g = g
        self.scrapes = 0

    def now(self):
        self.scrapes += 1
        raw = Raw(self.g.port)
        raw.send(get("/metrics").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        r = raw.response()
        raw.close()
        if not r or r[0] != 200:
            fail(f"/metrics answered {r and r[0]}")
        out = {"scrape": self.scrapes}
        for m in re.finditer(r"^(gavel_http_\w+) (\S+)$", r[2], re.M):
            out[m.group(1)] = float(m.group(2))
        return out

    def once(self, done):
        """The counters once `done` holds for them (or as they are after
        NEVER): the server counts a timeout just after the client has seen
        the close, and tells no one."""
        deadline = time.monotonic() + NEVER
        s = self.now()
        while not done(s) and time.monotonic() < deadline:
            time.sleep(0.02)
            s = self.now()
        return s

    def counted(self, before, name, want):
        """How far `name` moved since `before`, once it has moved `want`."""
        s = self.once(lambda s: s[name] - before[name] >= want)
        return s[name] - before[name], s

    def requests_since(self, before, s):
        return s["gavel_http_requests_total"] - before["gavel_http_requests_total"] \
            - (s["scrape"] - before["scrape"])


def timeouts_phase(g):
    """A connection that sends nothing, and one that stalls in its body."""
    m = Counters(g)
    silent = Raw(g.port)
    closed = silent.closed_after(silent.opened)
    log("silent connection closed after", show(closed))
    check(between(closed, 0.25, 5.0),
          "a connection that sends nothing is closed at the header deadline (300 ms)")

    before = m.now()
    stalled = Raw(g.port)
    stalled.send(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    closed = stalled.closed_after(stalled.opened)
    log("stalled body closed after", show(closed))
    # Above header_timeout (300 ms) too: the body has its own deadline.
    check(between(closed, 0.35, 5.0), "a stalled body is closed at the body deadline (400 ms)")
    moved, s = m.counted(before, "gavel_http_body_timeouts_total", 1)
    check(moved == 1, f"gavel_http_body_timeouts_total counted the stalled body once ({moved})")
    check(m.requests_since(before, s) == 0, "the stalled body was never handed to the handler")


def keepalive_phase(g):
    """keep-alive waits idle_timeout for a request, then header_timeout for
    its header."""
    m = Counters(g)
    before = m.now()
    # Idle after a request: closed at the idle deadline, not the header one.
    idle = Raw(g.port)
    idle.send(get("/healthz"))
    r = idle.response()
    if r is None:
        fail("no answer to GET /healthz")
    check(r[0] == 200, f"GET /healthz -> {r[0]}")
    served = time.monotonic()
    closed = idle.closed_after(served)
    log("idle keep-alive closed after", show(closed))
    check(between(closed, 1.2, 6.0), "an idle keep-alive is closed at idle_timeout (1.5 s)")

    paused = Raw(g.port)
    paused.send(get("/healthz"))
    first = paused.response()
    if first is None:
        fail("no answer to the first request of the paused connection")
    # The pause is the behaviour under test, not a wait: idle for longer than
    # header_timeout (300 ms) but within idle_timeout (1.5 s); the next
    # request must still get its whole header_timeout, not what is left of one.
    time.sleep(0.5)
    paused.send(get("/healthz"))
    second = paused.response()
    check(second is not None and second[0] == 200 and second[2] == first[2],
          f"a request after a 500 ms pause is served on the same connection ({second})")
    # ... and a stalled one is closed at that header deadline.
    started = time.monotonic()
    paused.send(b"GET /three HTTP/1.1\r\nHo")
    closed = paused.closed_after(started)
    log("stalled keep-alive header closed after", show(closed))
    check(between(closed, 0.25, 1.2),
          "a stalled keep-alive header is closed at header_timeout (300 ms), not idle_timeout")
    moved, _ = m.counted(before, "gavel_http_header_timeouts_total", 1)
    check(moved == 1, f"gavel_http_header_timeouts_total counted only the stalled header ({moved})")


def connections_phase(g):
    """Once a connection under max_connections (2) closes, a new one is
    served again."""
    # The readiness probe's connection may still hold its slot for a moment
    # after its answer arrived (the server releases it when it sees its own
    # close complete): a refused connection is retried until served.
    def served(path):
        deadline = time.monotonic() + NEVER
        while True:
            c = Raw(g.port)
            c.send(get(path))
            r = c.response()
            if r and r[0] == 404:
                return c
            c.close()
            if not (r and r[0] == 503) or time.monotonic() > deadline:
                fail(f"a connection under the limit was not served: {r and r[:1]}")
            time.sleep(0.02)

    first = served("/first")
    second = served("/second")
    third = Raw(g.port)
    third.send(get("/third"))
    r = third.response()
    check(r is not None and r[0] == 503 and "too_many_connections" in r[2],
          f"a third connection is refused while two are held ({r and r[:1]})")
    third.close()
    first.close()
    # The server releases the closed one's slot when it sees the close, and
    # tells no one: a new connection is refused until then.
    deadline = time.monotonic() + NEVER
    refused = 0
    while True:
        scrape = Raw(g.port)
        scrape.send(get("/metrics").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        r = scrape.response()
        scrape.close()
        if r and r[0] == 200:
            break
        if not (r and r[0] == 503) or time.monotonic() > deadline:
            fail(f"a new connection after one of two closed: {r and r[:1]} "
                 f"({refused} refused before)")
        refused += 1
        time.sleep(0.02)
    active = float(re.search(r"^gavel_http_connections_active (\S+)$", r[2], re.M).group(1))
    log(f"a new connection served ({refused} refused while the slot was released)")
    # This scrape and the second connection; refused ones hold no slot.
    check(active == 2, f"gavel_http_connections_active is 2 while serving it ({active})")
    second.close()


def run(bin_dir):
    g = Gavel(bin_dir, "http-limits", receiver=False)
    phases = [
        (timeouts_phase, 'header_timeout = "300ms"\nbody_timeout = "400ms"\nidle_timeout = "10s"'),
        (keepalive_phase, 'header_timeout = "300ms"\nidle_timeout = "1500ms"'),
        (connections_phase, "max_connections = 2"),
    ]
    try:
        for phase, server_toml in phases:
            g.server_toml = server_toml
            g.start()
            log(phase.__name__, "with", server_toml.replace("\n", ", "))
            phase(g)
            if g.stop() != 0:
                fail("gavel did not exit 0")
    finally:
        g.cleanup()
    if failures:
        fail(f"{len(failures)} check(s) failed: " + "; ".join(failures))


if __name__ == "__main__":
    main(run)
