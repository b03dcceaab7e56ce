# Shared by destinations.sh, hubspot_batching.sh and outage_memory.sh, which
# run a Python driver on a work directory of their own. Source it with `here`
# set to tests/e2e.

# Makes the work directory /tmp/gavel-e2e-TAG.XXXXXX (sets `work`); on exit
# its embedded PostgreSQL is stopped if still running and the directory is
# removed (kept with GAVEL_KEEP_WORK=1).
e2e_work() { # tag
  work=$(mktemp -d "/tmp/gavel-e2e-$1.XXXXXX")
  chmod 755 "$work"
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    else
      /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
  fi
  [ "${GAVEL_KEEP_WORK:-0}" = 1 ] || rm -rf "$work"
}

# Runs the driver (/usr/bin/python3 DRIVER ARGS...) and exits with its status;
# when it fails, the last LINES lines of $work/gavel.log are printed first.
e2e_drive() { # lines driver args...
  local lines=$1 rc=0
  shift
  /usr/bin/python3 "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "--- gavel log (tail)"; tail "-$lines" "$work/gavel.log" || true
  fi
  exit $rc
}
