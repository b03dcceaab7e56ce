#!/usr/bin/env bash
# End to end against a real PostgreSQL that misbehaves under a burst: every
# acknowledged event must reach the destination, in order and gap-free, and
# every acknowledged event must be in the outbox.
#
#   db_faults.bash BIN_DIR MODE [ROUNDS]   (e2e wrappers: ambiguous_commit.sh,
#                                          backend_terminate.sh, pg_restart_burst.sh)
#
# MODE
#   proxy      Gavel talks to PostgreSQL through tests/e2e/pg_fault_proxy.py,
#              which cuts the connection at every 25th COMMIT, alternately
#              right after forwarding it (the commit lands) and right before
#              (it does not): ambiguous commits, both outcomes.
#   terminate  Gavel's backends are terminated (pg_terminate_backend) every
#              0.2 s for 15 s: what connection reapers, poolers and failovers do.
#   restart    Backends terminated every second, and PostgreSQL restarted in
#              immediate mode (crash recovery) in the middle of the burst.
# ROUNDS (default 1) repeats the whole run with a fresh cluster.
set -euo pipefail
bin=$(cd "$1" && pwd)
mode=$2
rounds=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
py=/usr/bin/python3
events=${GAVEL_FAULT_EVENTS:-6000}
auctions=${GAVEL_FAULT_AUCTIONS:-60}

log_prefix=db_faults
source "$src/scripts/lib/webhook-run.sh"

one_round() {
  local round=$1
  work=$(mktemp -d /tmp/gavel-e2e-dbfaults.XXXXXX)
  chmod 755 "$work"
  pg_port=$(free_port)
  gavel_port=$(free_port)
  pids=()
  cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    bash "$src/scripts/test-pg.sh" stop "$work/pg" "$pg_port" >/dev/null 2>&1 || true
    if [ "${GAVEL_KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
  }
  trap cleanup EXIT
  bash "$src/scripts/test-pg.sh" start "$work/pg" "$pg_port" >/dev/null
  local direct="postgresql:///postgres?host=$work/pg/sock&port=$pg_port&user=postgres"
  local url=$direct
  if [ "$mode" = proxy ]; then
    local proxy_port
    proxy_port=$(free_port)
    $py "$here/pg_fault_proxy.py" --listen "127.0.0.1:$proxy_port" \
      --unix "$work/pg/sock/.s.PGSQL.$pg_port" --every 25 --stats "$work/proxy.json" \
      > "$work/proxy.out" 2> "$work/proxy.err" &
    pids+=($!)
    wait_for_line "$work/proxy.out" "listening on" 10
    url="postgresql://postgres@127.0.0.1:$proxy_port/postgres?sslmode=disable&gssencmode=disable"
  fi

  token="faults-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  start_receiver
  pids+=($recv_pid)
  write_gavel_toml "$gavel_port" "url = \"$url\"" "$token"
  start_gavel "$gavel_port" || { pids+=($gavel_pid); return 1; }
  pids+=($gavel_pid)

  "$bin/sim" burst --target "http://127.0.0.1:$gavel_port" --token "$token" \
    --auctions "$auctions" --events "$events" --connections 16 --rate 1500 \
    --acks "$work/acks.jsonl" --retry-for 180s --quiet \
    > "$work/burst.out" 2> "$work/burst.err" &
  burst_pid=$!

  psql_direct() { psql -qAtX "$direct" -c "$1" 2>/dev/null || true; }
  terminate_gavel() {
    psql_direct "select count(pg_terminate_backend(pid)) from pg_stat_activity
                 where application_name = 'gavel' and pid <> pg_backend_pid()" >/dev/null
  }
  case "$mode" in
    terminate)
      for i in $(seq 1 75); do
        kill -0 "$burst_pid" 2>/dev/null || break
        terminate_gavel
        sleep 0.2
      done ;;
    restart)
      for i in $(seq 1 20); do
        kill -0 "$burst_pid" 2>/dev/null || break
        terminate_gavel
        if [ "$i" -eq 3 ]; then
          echo "round $round: PostgreSQL restart in immediate mode"
          bash "$src/scripts/test-pg.sh" restart-immediate "$work/pg" "$pg_port" >/dev/null
        fi
        sleep 1
      done ;;
  esac

  local burst_rc=0
  wait "$burst_pid" || burst_rc=$?
  cat "$work/burst.out"
  # Deliveries settle when the receiver stops moving for 3 s.
  wait_arrivals_settled 1200
  local rc=0
  "$bin/sim" verify --acks "$work/acks.jsonl" --arrivals "$work/arrivals.jsonl" \
    --report "$work/report.json" --expect-closed || rc=$?
  [ "$burst_rc" -eq 0 ] || { echo "db_faults: sim burst exited $burst_rc" >&2; rc=1; }

  # Nothing acknowledged that is not stored.
  psql -qAtX "$direct" -c "select event_id from outbox" | sort -u > "$work/stored.txt"
  $py -c '
import json, sys
stored = set(open(sys.argv[2]).read().split())
missing = set()
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("status") in ("accepted", "duplicate") and a.get("event_id") not in stored:
        missing.add(a.get("event_id"))
print(f"acknowledged but not stored: {len(missing)}", sorted(missing)[:10])
sys.exit(1 if missing else 0)' "$work/acks.jsonl" "$work/stored.txt" || rc=1

  if [ "$mode" = proxy ]; then
    cat "$work/proxy.json"; echo
    $py -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s.get("cut_commit_after", 0) > 0 and s.get("cut_commit_before", 0) > 0 else 1)' \
      "$work/proxy.json" || { echo "db_faults: the proxy did not cut a COMMIT both ways" >&2; rc=1; }
    local landed aborted
    landed=$(grep -c "resolved: committed" "$work/gavel.log" || true)
    aborted=$(grep -c "resolved: aborted" "$work/gavel.log" || true)
    echo "in-doubt commits resolved: $landed committed, $aborted aborted"
    # Both outcomes must have been met, or this run proved nothing about them.
    [ "$landed" -gt 0 ] && [ "$aborted" -gt 0 ] ||
      { echo "db_faults: not every in-doubt outcome was exercised" >&2; rc=1; }
  fi
  if ! kill -0 "$gavel_pid" 2>/dev/null; then
    echo "db_faults: gavel died" >&2; tail -20 "$work/gavel.log" >&2; rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    echo "db_faults: round $round FAILED (mode $mode)" >&2
    tail -40 "$work/gavel.log" >&2
    GAVEL_KEEP_WORK=1
  fi
  cleanup
  trap - EXIT
  return $rc
}

for r in $(seq 1 "$rounds"); do
  echo "== db_faults $mode round $r of $rounds"
  one_round "$r"
done
echo "db_faults $mode: $rounds round(s) passed"
