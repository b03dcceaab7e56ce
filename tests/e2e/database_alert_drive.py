"""The embedded cluster restarted past database.restart_limit alerts once,
still comes back, and recovers (see database_alert.sh)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_harness import Gavel, fail, http, log, main, teams_alerts_toml, teams_hook, wait  # noqa: E402
from postmaster_kill_drive import postmaster_pid  # noqa: E402
from supervision_alerts_drive import bid, posts  # noqa: E402

SUBJECT = "embedded PostgreSQL restarting too often (restart intensity exceeded)"


def run(bin_dir):
    teams = teams_hook()
    g = Gavel(bin_dir, "database-alert",
              database_toml='restart_limit = 1\nrestart_period = "15s"',
              extra_toml=teams_alerts_toml())
    try:
        g.start()

        def db():
            return g.pipeline()["database_server"]
        for n in (1, 2):
            pid = postmaster_pid(g)
            os.kill(pid, signal.SIGKILL)
            log(f"postmaster {pid} killed ({n})")
            if n == 1:
                wait(lambda: db()["restarts"] == 1 and db()["state"] == "running",
                     "the first restart", 60)
                if posts(teams, SUBJECT):
                    fail("alerted within the limit")
        # The second restart is over the limit: flagged and alerted at once,
        # and done after backoff_max (30 s) instead of at once.
        wait(lambda: db()["over_limit"], "over_limit in /v1/pipeline", 10)
        wait(lambda: posts(teams, "ALERT: " + SUBJECT) == 1, "the restart-intensity alert", 30)
        log("alerted:", db())
        wait(lambda: db()["restarts"] == 2 and db()["state"] == "running",
             "the restart past the limit", 90)
        wait(lambda: http("POST", g.base + "/v1/events", bid(7, 1), token=g.token)[0] == 202,
             "ingest back", 30)
        wait(lambda: posts(teams, "RECOVERED: " + SUBJECT) == 1, "the recovery notice", 60)
        if posts(teams, "ALERT: " + SUBJECT) != 1:
            fail(f"{posts(teams, 'ALERT: ' + SUBJECT)} alerts for one incident")
        if g.stop() != 0:
            fail("gavel did not exit 0")
    finally:
        teams.shutdown()
        g.cleanup()


main(run)
