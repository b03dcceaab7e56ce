"""Alerts against a real local SMTP server (aiosmtpd, STARTTLS + AUTH with a
throwaway CA) and a local Teams webhook receiver: nothing during a healthy
run, one alert per incident and one recovery notice when the webhook
receiver is stopped and started again, no secrets and no bidder data."""
import json
import os
import ssl
import subprocess
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, free_port, log, main, teams_hook, wait  # noqa: E402

SMTP_USER = "gavel-alerts"
SMTP_PASSWORD = "pw-" + os.urandom(6).hex()


class Mailbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({
                "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
                "auth": session.authenticated})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER \
        and auth_data.password.decode() == SMTP_PASSWORD
    return AuthResult(success=ok)


def make_cert(work):
    """A throwaway CA and a server certificate for 127.0.0.1."""
    def sh(*args):
        subprocess.run(args, check=True, capture_output=True)
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
       "-subj", "/CN=gavel-e2e-ca", "-keyout", f"{work}/ca.key", "-out", f"{work}/ca.pem",
       "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
       "-keyout", f"{work}/smtp.key", "-out", f"{work}/smtp.csr")
    with open(f"{work}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", f"{work}/smtp.csr", "-CA", f"{work}/ca.pem",
       "-CAkey", f"{work}/ca.key", "-CAcreateserial", "-days", "2",
       "-extfile", f"{work}/ext.cnf", "-out", f"{work}/smtp.pem")


def pg_ctl(g, *args, data="data"):
    cmd = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", f"{g.work}/pg/{data}", *args]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def run(bin_dir):
    smtp_port = free_port()
    teams_key = "k" + os.urandom(8).hex()
    os.environ["GAVEL_TEST_SMTP_PASSWORD"] = SMTP_PASSWORD
    teams = teams_hook(teams_key)
    g = Gavel(bin_dir, "alerts", receiver=True)
    make_cert(g.work)
    # Restarts of the embedded cluster fail while its data is away: no
    # restart-intensity alert in this test, only the database one.
    g.database_toml = 'restart_limit = 1000'

    g.extra_toml = f"""
[alerts]
interval = "500ms"
failing_for = "3s"
lag_above = "3s"
database_unreachable_for = "5s"
min_interval = "5m"
instance = "e2e"
smtp_url = "smtp://127.0.0.1:{smtp_port}"
smtp_user = "{SMTP_USER}"
smtp_password = "env:GAVEL_TEST_SMTP_PASSWORD"
smtp_starttls = true
email_from = "gavel@alerts.test"
email_to = ["oncall@alerts.test", "data-team@alerts.test"]
ca_file = "{g.work}/ca.pem"
teams_webhook_url = "env:GAVEL_TEST_TEAMS_URL"
"""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(f"{g.work}/smtp.pem", f"{g.work}/smtp.key")
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=smtp_port, tls_context=tls,
                      require_starttls=True, authenticator=authenticator, auth_required=True)
    smtp.start()
    try:
        g.start()
        # A healthy run: a burst flows, the destination keeps up: no notice.
        burst = g.burst(auctions=20, events=2000)
        if burst.wait(timeout=300) != 0:
            fail("sim burst failed")
        time.sleep(5)
        if box.messages or teams.posts:
            fail(f"notices during a healthy run: {box.messages} {teams.posts}")
        log("healthy run: no notice")

        # An incident: the webhook receiver goes away for ~12 s while events
        # keep coming (one small burst); failing_for and lag_above are 3 s.
        g.stop_receiver()
        g.burst(auctions=5, events=200, extra=["--first-auction-id", "1000"]).wait(timeout=120)
        wait(lambda: len(box.messages) >= 2 and len(teams.posts) >= 2,
             "two alerts (failing, lag) on both channels", 30)
        time.sleep(6)  # the outage goes on: nothing more may come
        alerts_mail = list(box.messages)
        alerts_teams = list(teams.posts)
        log(f"during the outage: {len(alerts_mail)} emails, {len(alerts_teams)} Teams posts")
        subjects = sorted(m["data"].split("Subject: ")[1].split("\r\n")[0] for m in alerts_mail)
        log("subjects:", subjects)
        if len(alerts_mail) != 2 or len(alerts_teams) != 2:
            fail("expected exactly one alert per incident (2 incidents) per channel")
        if not all("ALERT" in s for s in subjects):
            fail("not alerts: %s" % subjects)
        if not any("failing" in s for s in subjects) or not any("lagging" in s for s in subjects):
            fail("expected a failing and a lagging incident: %s" % subjects)

        g.start_receiver()
        wait(lambda: len(box.messages) >= 4 and len(teams.posts) >= 4,
             "two recovery notices on both channels", 60)
        time.sleep(4)
        log(f"after recovery: {len(box.messages)} emails, {len(teams.posts)} Teams posts")
        if len(box.messages) != 4 or len(teams.posts) != 4:
            fail("expected exactly one recovery notice per incident per channel")
        recov = [m for m in box.messages[2:]]
        if not all("RECOVERED" in m["data"] for m in recov):
            fail("recovery notices lack RECOVERED")

        # PostgreSQL goes away for a while (database_unreachable_for = 5 s).
        # Gavel supervises its embedded cluster and would start it again at
        # once (ADR 0011): its data directory is moved away first (the
        # running server does not notice, it works relative to it), so the
        # restarts fail until it is back.
        os.rename(f"{g.work}/pg/data", f"{g.work}/pg/data.away")
        pg_ctl(g, "stop", "-m", "fast", data="data.away")
        log("PostgreSQL stopped")
        wait(lambda: len(box.messages) >= 5, "the database alert", 30)
        time.sleep(3)
        subject = box.messages[4]["data"].split("Subject: ")[1].split("\r\n")[0]
        log("database alert:", subject, "| total", len(box.messages))
        if len(box.messages) != 5 or "PostgreSQL unreachable" not in subject:
            fail("expected one database alert")
        os.rename(f"{g.work}/pg/data.away", f"{g.work}/pg/data")
        log("PostgreSQL's data back: Gavel's supervisor starts it")
        wait(lambda: len(box.messages) >= 6, "the database recovery notice", 60)
        time.sleep(3)
        if len(box.messages) != 6 or "RECOVERED" not in box.messages[5]["data"] or \
                len(teams.posts) != 6:
            fail("expected one database recovery notice per channel")
        log("database incident: one alert, one recovery")

        for m in box.messages:
            if not m["tls"] or not m["auth"]:
                fail("an email went without STARTTLS or AUTH")
            if m["from"] != "gavel@alerts.test" or sorted(m["to"]) != [
                    "data-team@alerts.test", "oncall@alerts.test"]:
                fail(f"envelope {m['from']} -> {m['to']}")
        for p in teams.posts:
            card = json.loads(p["body"])
            if card["type"] != "message" or card["attachments"][0]["contentType"] != \
                    "application/vnd.microsoft.card.adaptive":
                fail("Teams post is not an Adaptive Card message")
            if p["path"] != f"/webhookb2/{teams_key}":
                fail("Teams post to the wrong path")
        everything = json.dumps([box.messages, teams.posts])
        bodies = json.dumps([[m["data"] for m in box.messages],
                             [p["body"] for p in teams.posts]])
        for secret in [SMTP_PASSWORD, g.secret, g.token, teams_key]:
            if secret in bodies:
                fail("a secret leaked into an alert")
        if "@example.com" in everything or "bidder" in bodies:
            fail("bidder data leaked into an alert")
        log("email sample:\n" + box.messages[0]["data"][:800])
        rc = g.stop()
        if rc != 0:
            fail(f"gavel exited {rc}")
    finally:
        g.cleanup()
        smtp.stop()
        teams.shutdown()


main(run)
