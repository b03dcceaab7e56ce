"""Gavel serving HTTPS with client certificates (server.tls_cert, tls_key,
client_ca), against Python's ssl module and `sim burst` as the clients."""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, free_port, log, main, wait  # noqa: E402


def openssl(work, *args):
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)


def make_pki(work):
    """ca (trusted), rogue (another CA), two server certificates for
    127.0.0.1 signed by ca, a client certificate from each CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "rogue"):
        openssl(work, "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=gavel e2e {ca}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(f"{work}/server.ext", "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    with open(f"{work}/client.ext", "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for name, ca, ext in (("server-a", "ca", "server"), ("server-b", "ca", "server"),
                          ("client", "ca", "client"), ("rogue-client", "rogue", "client")):
        openssl(work, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl(work, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
                "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
                "-out", f"{name}.pem", "-extfile", f"{ext}.ext")


def fingerprint(pem_file):
    with open(pem_file) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def install(work, name):
    """Puts NAME's certificate and key where gavel.toml points, each file
    replaced at once (rename), as a certificate renewal would."""
    for ext in ("pem", "key"):
        shutil.copy(f"{work}/{name}.{ext}", f"{work}/live.{ext}.tmp")
        os.rename(f"{work}/live.{ext}.tmp", f"{work}/live.{ext}")


class Client:
    def __init__(self, work, port, cert="client"):
        self.ctx = ssl.create_default_context(cafile=f"{work}/ca.pem")
        if cert:
            self.ctx.load_cert_chain(f"{work}/{cert}.pem", f"{work}/{cert}.key")
        self.port = port

    def connect(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        c.connect()
        return c

    @staticmethod
    def peer(conn):
        return hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()

    @staticmethod
    def request(conn, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode()

    def get(self, path, token=None):
        c = self.connect()
        try:
            return self.request(c, "GET", path, token=token) + (self.peer(c),)
        finally:
            c.close()


def refused(client, what):
    """The client gets no HTTP answer at all (handshake or first read fails)."""
    try:
        st = client.get("/healthz")
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as e:
        log(f"{what}: refused ({type(e).__name__}: {e})")
        return
    fail(f"{what}: expected no answer, got {st[:2]}")


def bid(i):
    return {"event_type": "bid.placed", "data": {
        "auction_id": 4242, "bid_id": 100 + i, "bid_amount": "10.00",
        "bid_timestamp": "2026-06-09T14:23:11Z", "bidder_user_id": 5}}


def check(bin_dir):
    g = Gavel(bin_dir, "tls")
    try:
        work = g.work
        make_pki(work)
        install(work, "server-a")
        g.server_toml = (f'tls_cert = "{work}/live.pem"\ntls_key = "{work}/live.key"\n'
                         f'client_ca = "{work}/ca.pem"\n')
        g.write_config()
        g.gavel = subprocess.Popen(
            [f"{g.bin}/gavel", "serve", "--config", f"{work}/gavel.toml"],
            stdout=open(f"{work}/gavel.out", "a"), stderr=open(f"{work}/gavel.log", "a"))
        good = Client(work, g.port)

        def ready():
            if g.gavel.poll() is not None:
                fail("gavel exited: " + g.tail_log())
            try:
                return good.get("/readyz")[0] == 200
            except OSError:
                return False
        wait(ready, "gavel ready over https", 60)
        pid = g.gavel.pid
        a, b = fingerprint(f"{work}/server-a.pem"), fingerprint(f"{work}/server-b.pem")

        # Ingest over https with a client certificate, delivered downstream.
        conn = good.connect()
        st, body = Client.request(conn, "POST", "/v1/events", bid(0), token=g.token)
        if st not in (200, 202):
            fail(f"https ingest: {st} {body}")
        if Client.peer(conn) != a:
            fail("the server did not present certificate A")
        wait(lambda: g.arrivals() >= 1, "the https-ingested bid delivered", 60)

        # Refused: no client certificate, one from another CA, plain HTTP.
        refused(Client(work, g.port, cert=None), "no client certificate")
        refused(Client(work, g.port, cert="rogue-client"), "a client certificate of another CA")
        try:
            plain = http.client.HTTPConnection("127.0.0.1", g.port, timeout=5)
            plain.request("GET", "/healthz")
            fail(f"plain HTTP on the https port answered {plain.getresponse().status}")
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            log(f"plain HTTP to the https port: no answer ({type(e).__name__})")

        # sim burst over https with the test CA and its client certificate.
        rc = subprocess.run(
            [f"{g.bin}/sim", "burst", "--target", f"https://127.0.0.1:{g.port}",
             "--token", g.token, "--auctions", "5", "--events", "300", "--connections", "2",
             "--acks", f"{work}/acks.jsonl", "--retry-for", "60s", "--quiet",
             "--ca-file", f"{work}/ca.pem", "--client-cert", f"{work}/client.pem",
             "--client-key", f"{work}/client.key"],
            stdout=open(f"{work}/burst.out", "a"), stderr=open(f"{work}/burst.err", "a")).returncode
        if rc != 0:
            fail(f"sim burst over https exited {rc}: " + open(f"{work}/burst.err").read()[-500:])
        wait(lambda: g.verify() == 0, "sim verify of the https burst", 90, step=1)

        # Renewal: certificate B installed, SIGHUP. New connections get B,
        # the open keep-alive connection goes on with A, same process.
        install(work, "server-b")
        g.gavel.send_signal(signal.SIGHUP)
        wait(lambda: good.get("/healthz")[2] == b, "new connections presenting certificate B", 30)
        st, _ = Client.request(conn, "GET", "/healthz")
        if st != 200 or Client.peer(conn) != a:
            fail(f"the connection opened before SIGHUP broke: {st}")
        st, body = Client.request(conn, "POST", "/v1/events", bid(1), token=g.token)
        if st not in (200, 202):
            fail(f"ingest on the old connection after SIGHUP: {st} {body}")
        conn.close()
        if g.gavel.poll() is not None or g.gavel.pid != pid:
            fail("gavel restarted on SIGHUP")

        # A broken renewal (key of another certificate): B stays, and says so.
        shutil.copy(f"{work}/server-a.key", f"{work}/live.key.tmp")
        os.rename(f"{work}/live.key.tmp", f"{work}/live.key")
        g.gavel.send_signal(signal.SIGHUP)
        wait(lambda: "previous certificate stays" in g.tail_log(200), "the failed reload logged", 30)
        st, _, peer = good.get("/healthz")
        if st != 200 or peer != b:
            fail("after a failed reload the server no longer presents certificate B")
        if g.gavel.poll() is not None:
            fail("gavel exited on a failed reload")
        if g.stop() != 0:
            fail("gavel did not stop cleanly")
        for secret in (open(f"{work}/server-b.key").read().splitlines()[1], g.token):
            if secret in open(f"{work}/gavel.log").read():
                fail("a secret is in gavel's log")

        # Plain HTTP on an address other than loopback: refused at start,
        # before anything listens.
        port = free_port()
        cfg = open(f"{work}/gavel.toml").read()
        cfg = cfg.replace(f'listen = "127.0.0.1:{g.port}"', f'listen = "0.0.0.0:{port}"')
        cfg = "\n".join(l for l in cfg.splitlines()
                        if not l.startswith(("tls_cert", "tls_key", "client_ca")))
        with open(f"{work}/plain.toml", "w") as f:
            f.write(cfg)
        r = subprocess.run([f"{g.bin}/gavel", "serve", "--config", f"{work}/plain.toml"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or "insecure_plain_http" not in r.stderr + r.stdout:
            fail(f"plain HTTP on 0.0.0.0 was not refused: rc {r.returncode} {r.stderr[-400:]}")
        log("plain HTTP off loopback refused:", (r.stderr or r.stdout).strip().splitlines()[-1])
        s = socket.socket()
        try:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                fail("something listened on the refused port")
        finally:
            s.close()
    finally:
        g.cleanup()


if __name__ == "__main__":
    main(check)
