"""Helpers of the destination e2e drivers (destinations_drive.py,
outage_drive.py, hubspot_batching_drive.py): their command line, child
processes that are always stopped, the test CA, `sim` emulators, Gavel on its
embedded PostgreSQL, JSON over HTTP(S), free ports, polling with a deadline,
`sim verify`. free_port and acks_count also serve metrics_harness.py.
/usr/bin/python3, standard library only."""
import atexit
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request


def drive_args(**defaults):
    """The drivers' command line, `BIN_DIR SOURCE_DIR WORK_DIR [--name N]...`:
    (BIN, SRC, WORK, {name: N}) with the given default for each option absent."""
    bin_dir, src, work = (os.path.abspath(p) for p in sys.argv[1:4])
    args = sys.argv[4:]
    opts = {k: int(args[args.index("--" + k) + 1]) if "--" + k in args else v
            for k, v in defaults.items()}
    return bin_dir, src, work, opts


def acks_count(path):
    """How many acknowledgements `sim burst --acks` has written so far."""
    try:
        return sum(1 for _ in open(path))
    except OSError:
        return 0


def eventhub_destination(name, endpoint, sas_key, ca_dir, more=""):
    """A [[destination]] of kind eventhub (hub "bids", key name "send", the
    test CA of `ca_dir`), then the `more` lines as given."""
    return f"""[[destination]]
name = "{name}"
kind = "eventhub"
endpoint = "{endpoint}"
hub = "bids"
sas_key_name = "send"
sas_key = "{sas_key}"
ca_file = "{ca_dir}/ca.pem"
""" + more


def hubspot_destination(name, base_url, token, more=""):
    """A [[destination]] of kind hubspot (bids as custom objects p_bids, keyed
    by gavel_event_id, the three event types), then the `more` lines."""
    return f"""[[destination]]
name = "{name}"
kind = "hubspot"
base_url = "{base_url}"
token = "{token}"
object_type = "p_bids"
id_property = "gavel_event_id"
event_types = ["auction.opened", "bid.placed", "auction.closed"]
""" + more


class Harness:
    def __init__(self, work, tag, bin_dir=None):
        self.work, self.tag, self.procs, self.tls = work, tag, [], None
        self.bin = bin_dir
        atexit.register(self.stop_all)

    def log(self, *a):
        print(f"[{self.tag}]", *a, flush=True)

    def fail(self, msg):
        self.log("FAIL:", msg)
        raise SystemExit(1)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def start(self, name, cmd, wait_line=None):
        """Starts `cmd` with stdout/stderr in WORK/name.out|.log; with
        `wait_line`, waits for that regex in its stdout and returns the match."""
        p = subprocess.Popen(cmd, stdout=open(f"{self.work}/{name}.out", "w"),
                             stderr=open(f"{self.work}/{name}.log", "w"))
        self.procs.append(p)
        if not wait_line:
            return p, None
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(wait_line, open(f"{self.work}/{name}.out").read())
            if m:
                return p, m
            if p.poll() is not None:
                self.fail(f"{name} exited: " + open(f"{self.work}/{name}.log").read()[-2000:])
            time.sleep(0.05)
        self.fail(f"{name} did not start")

    def trust(self, ca_pem):
        self.tls = ssl.create_default_context(cafile=ca_pem)

    def test_ca(self, src):
        """A throwaway CA and server certificate (scripts/test-ca.sh) in
        WORK/ca, trusted for HTTPS; returns that directory."""
        ca = f"{self.work}/ca"
        subprocess.run(["bash", f"{src}/scripts/test-ca.sh", ca], check=True)
        self.trust(f"{ca}/ca.pem")
        return ca

    def start_sim(self, name, kind, *args):
        """`sim KIND --listen 127.0.0.1:0 ARGS...`, waited for; (process,
        the host:port it listens on)."""
        p, m = self.start(name, [f"{self.bin}/sim", kind, "--listen", "127.0.0.1:0", *args],
                          r"listening on (\S+)")
        return p, m.group(1)

    def start_gavel(self, token, destinations, server=""):
        """Writes WORK/gavel.toml (a free port, `server` lines more in
        [server], the embedded cluster in WORK/pg, one ingest token, then the
        `destinations` TOML as given), starts Gavel and waits for /readyz;
        (process, base URL)."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with open(f"{self.work}/gavel.toml", "w") as f:
            f.write(f"""
[server]
listen = "127.0.0.1:{port}"
{server}[database]
data_dir = "{self.work}/pg"
[ingest]
tokens = ["{token}"]
""" + destinations)
        gavel, _ = self.start("gavel", [f"{self.bin}/gavel", "serve", "--config", f"{self.work}/gavel.toml"])
        self.wait_ready(gavel, base)
        return gavel, base

    def verify(self, acks, arrivals, *extra):
        """`sim verify --acks ACKS --arrivals ARRIVALS EXTRA...`, its output captured."""
        return subprocess.run([f"{self.bin}/sim", "verify", "--acks", acks, "--arrivals", arrivals, *extra],
                              capture_output=True, text=True)

    def http(self, method, url, body=None, token=None, timeout=10):
        """(status, parsed JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        ctx = self.tls if url.startswith("https") else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text.strip().startswith(("{", "[")) else text
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait(self, pred, what, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.1)
        self.fail("timed out waiting for " + what)

    def wait_ready(self, gavel, base, seconds=60):
        deadline = time.time() + seconds
        while True:
            try:
                if self.http("GET", base + "/readyz")[0] == 200:
                    return
            except Exception:
                pass
            if gavel.poll() is not None or time.time() > deadline:
                self.fail("gavel did not start: " + open(f"{self.work}/gavel.log").read()[-3000:])
            time.sleep(0.1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
