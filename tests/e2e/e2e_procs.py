"""Helpers of the destination e2e drivers (destinations_drive.py,
outage_drive.py): child processes that are always stopped, JSON over HTTP(S)
with the test CA, free ports, polling with a deadline. /usr/bin/python3,
standard library only."""
import atexit
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request


class Harness:
    def __init__(self, work, tag):
        self.work, self.tag, self.procs, self.tls = work, tag, [], None
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
