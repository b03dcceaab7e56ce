"""Shared harness of the operations e2e tests (metrics, pipeline, alerts,
retention, sigterm): runs Gavel on its embedded PostgreSQL, `sim receive` and
`sim burst`, scrapes /metrics with the Prometheus project's own parser.
Run under /usr/bin/python3 (Debian's python3-prometheus-client)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.parser import text_string_to_metric_families

from e2e_procs import acks_count, free_port  # noqa: F401 (free_port re-exported for the drivers)

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.2f}s]", *a, flush=True)


def fail(msg):
    log("FAIL:", msg)
    raise SystemExit(1)


def wait(pred, what, seconds, step=0.1):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    fail(f"timed out after {seconds}s waiting for {what} (last: {last!r})")


def http(method, url, body=None, token=None, timeout=10):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


class TeamsHook:
    """A local Teams incoming-webhook receiver on 127.0.0.1:PORT, served by a
    thread until shutdown(); `posts` holds {"path", "body", "type"} of every
    POST, answered 200 "1" as Teams does."""

    def __init__(self, port):
        posts = self.posts = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append({"path": self.path, "body": body.decode(),
                              "type": self.headers.get("Content-Type")})
                self.send_response(200)
                self.send_header("Content-Length", "1")
                self.end_headers()
                self.wfile.write(b"1")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self):
        return [p["body"] for p in self.posts]

    def shutdown(self):
        self.server.shutdown()


def teams_hook(key="e2e"):
    """A TeamsHook on a free port, its URL (path /webhookb2/KEY) in
    GAVEL_TEST_TEAMS_URL for `teams_webhook_url = "env:GAVEL_TEST_TEAMS_URL"`."""
    port = free_port()
    os.environ["GAVEL_TEST_TEAMS_URL"] = f"http://127.0.0.1:{port}/webhookb2/{key}"
    return TeamsHook(port)


def teams_alerts_toml(more=""):
    """An [alerts] table evaluated every 300 ms, posting to the teams_hook()
    receiver as instance "e2e", its rate limits out of the way; `more` lines
    go after `interval`."""
    return ('[alerts]\ninterval = "300ms"\n' + more +
            'min_interval = "5m"\nmax_per_hour = 1000\ninstance = "e2e"\n'
            'teams_webhook_url = "env:GAVEL_TEST_TEAMS_URL"\n')


class Gavel:
    """One Gavel with a webhook destination on a `sim receive`."""

    def __init__(self, bin_dir, name, extra_toml="", receiver=True, keep=False,
                 server_toml="", destination_toml="", database_toml="", receiver_args=()):
        self.bin = os.path.abspath(bin_dir)
        self.work = tempfile.mkdtemp(prefix=f"gavel-e2e-{name}.")
        os.chmod(self.work, 0o755)
        self.keep = keep
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.secret = "whsec_" + __import__("base64").b64encode(os.urandom(24)).decode()
        self.token = "e2e-" + os.urandom(8).hex()
        self.extra_toml = extra_toml
        self.server_toml = server_toml  # more keys of [server]
        self.destination_toml = destination_toml  # more keys of the webhook destination
        self.database_toml = database_toml  # more keys of [database]
        self.receiver_args = list(receiver_args)  # more options of `sim receive`
        self.gavel = None
        self.recv = None
        self.recv_port = free_port()
        self.procs = []
        if receiver:
            self.start_receiver()

    # -- processes -----------------------------------------------------------

    def start_receiver(self):
        out = open(f"{self.work}/receive.out", "a")
        self.recv = subprocess.Popen(
            [f"{self.bin}/sim", "receive", "--listen", f"127.0.0.1:{self.recv_port}",
             "--secret", self.secret, "--out", f"{self.work}/arrivals.jsonl",
             *self.receiver_args],
            stdout=out, stderr=open(f"{self.work}/receive.err", "a"))
        wait(lambda: self.receiver_up(), "sim receive", 10)

    def receiver_up(self):
        try:
            return http("GET", f"http://127.0.0.1:{self.recv_port}/_sim/stats", timeout=1)[0] == 200
        except OSError:
            return False

    def stop_receiver(self):
        if self.recv:
            self.recv.send_signal(signal.SIGTERM)
            self.recv.wait(timeout=20)
            self.recv = None

    def arrivals(self):
        st, body, _ = http("GET", f"http://127.0.0.1:{self.recv_port}/_sim/stats")
        return json.loads(body)["arrivals"]

    def write_config(self):
        with open(f"{self.work}/gavel.toml", "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1:{self.port}"
{self.server_toml}
[database]
data_dir = "{self.work}/pg"
{self.database_toml}
[ingest]
tokens = ["{self.token}"]
[log]
level = "info"
{self.extra_toml}
[[destination]]
name = "webhook"
kind = "webhook"
url = "http://127.0.0.1:{self.recv_port}/hook"
secret = "{self.secret}"
retry_initial = "50ms"
retry_max = "1s"
{self.destination_toml}
""")

    def start(self):
        self.write_config()
        self.gavel = subprocess.Popen(
            [f"{self.bin}/gavel", "serve", "--config", f"{self.work}/gavel.toml"],
            stdout=open(f"{self.work}/gavel.out", "a"), stderr=open(f"{self.work}/gavel.log", "a"))

        def ready():
            if self.gavel.poll() is not None:
                fail("gavel exited: " + self.tail_log())
            try:
                return http("GET", self.base + "/readyz", timeout=2)[0] == 200
            except OSError:
                return False
        wait(ready, "gavel ready", 60)
        log("gavel up on", self.base, "work dir", self.work)

    def tail_log(self, n=30):
        try:
            return "".join(open(f"{self.work}/gavel.log").readlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if not self.gavel:
            return None
        self.gavel.send_signal(sig)
        try:
            rc = self.gavel.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.gavel.kill()
            rc = self.gavel.wait()
            fail(f"gavel did not stop within {timeout}s")
        self.gavel = None
        return rc

    def burst(self, auctions=20, events=2000, connections=8, extra=()):
        p = subprocess.Popen(
            [f"{self.bin}/sim", "burst", "--target", self.base, "--token", self.token,
             "--auctions", str(auctions), "--events", str(events),
             "--connections", str(connections), "--acks", f"{self.work}/acks.jsonl",
             "--retry-for", "120s", "--quiet", *extra],
            stdout=open(f"{self.work}/burst.out", "a"), stderr=open(f"{self.work}/burst.err", "a"))
        self.procs.append(p)
        return p

    def verify(self, extra=()):
        return subprocess.run(
            [f"{self.bin}/sim", "verify", "--acks", f"{self.work}/acks.jsonl",
             "--arrivals", f"{self.work}/arrivals.jsonl", "--report", f"{self.work}/report.json",
             *extra]).returncode

    def psql(self, sql):
        """Runs SQL on the embedded cluster (Unix socket under data_dir/sock)."""
        sock = f"{self.work}/pg/sock"
        port = None
        for f in os.listdir(sock):
            if f.startswith(".s.PGSQL.") and not f.endswith(".lock"):
                port = f.split(".")[-1]
        args = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", sock, "-p", port,
                "-U", "postgres", "-d", "postgres", "-c", sql]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        if self.gavel and self.gavel.poll() is None:
            self.gavel.kill()
            self.gavel.wait()
        self.stop_receiver()
        pid = f"{self.work}/pg/data/postmaster.pid"
        if os.path.exists(pid):
            ctl = "/usr/lib/postgresql/15/bin/pg_ctl"
            cmd = [ctl, "-D", f"{self.work}/pg/data", "-m", "fast", "stop"]
            if os.getuid() == 0:
                cmd = ["runuser", "-u", "postgres", "--"] + cmd
            subprocess.run(cmd, capture_output=True)
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- operations API ----------------------------------------------------------

    def acked(self):
        """How many acknowledgements the burst has written so far."""
        return acks_count(f"{self.work}/acks.jsonl")

    def pipeline(self):
        st, body, _ = http("GET", self.base + "/v1/pipeline", token=self.token)
        if st != 200:
            fail(f"/v1/pipeline answered {st}: {body}")
        return json.loads(body)

    def destination(self, name="webhook"):
        for d in self.pipeline()["destinations"]:
            if d["name"] == name:
                return d
        fail("no destination " + name)

    def scrape(self):
        """GET /metrics parsed by prometheus_client's parser: {(sample, labels): value}."""
        st, body, headers = http("GET", self.base + "/metrics")
        if st != 200:
            fail(f"/metrics answered {st}")
        ctype = headers.get("Content-Type", headers.get("content-type", ""))
        if not ctype.startswith("text/plain"):
            fail("/metrics content type " + ctype)
        out = {}
        families = list(text_string_to_metric_families(body))
        for fam in families:
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out, families, body


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def main(fn):
    """Runs fn(bin_dir) and reports like the shell tests."""
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} BIN_DIR", file=sys.stderr)
        raise SystemExit(2)
    try:
        fn(sys.argv[1])
    except SystemExit:
        raise
    log("PASS")
