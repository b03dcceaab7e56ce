#!/usr/bin/env bash
# Runs Gavel on its embedded PostgreSQL, a `sim receive` webhook receiver and
# a `sim burst` auction-close burst against it, then `sim verify`.
#
#   scripts/run-burst.sh BIN_DIR WORK_DIR [--auctions N] [--events N]
#                        [--connections N] [--batch N] [--kill9]
#                        [--max-redeliveries N] [--receiver-arg ARG ...]
#                        [--replay BIDLOG [--speed X]] [-- SIM_BURST_ARGS...]
#
# --kill9: kill -9 Gavel in the middle of the burst, restart it, and let the
# burst finish (it retries what was not acknowledged).
# --max-redeliveries: fail when the receiver got more than N events again
# (the bound of docs/adr/0012-delivery-progress.md for the run's rate).
# --receiver-arg: one more argument for `sim receive` (repeatable), e.g. its
# faults: --receiver-arg --outage --receiver-arg 0s+10s.
# --replay: send a recorded bid log with `sim replay` instead of a generated
# burst (sim/README.md, "Bid log"), at --speed (default 0: as fast as acked).
# Arguments after -- go to `sim burst` as they are (e.g. -- --rate 2000).
# Exit status: that of `sim verify` (0 = nothing lost, order intact).
set -euo pipefail
bin=$(cd "$1" && pwd)
work=$2
shift 2
auctions=100 events=20000 connections=16 batch=1 kill9=0 replay="" speed=0
max_redeliveries=
extra=() recv_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --replay) replay=$2; shift 2 ;;
    --speed) speed=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    --auctions) auctions=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --kill9) kill9=1; shift ;;
    --max-redeliveries) max_redeliveries=$2; shift 2 ;;
    --receiver-arg) recv_extra+=("$2"); shift 2 ;;
    *) echo "run-burst: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
py=/usr/bin/python3
log_prefix=run-burst
source "$(dirname "$0")/lib/webhook-run.sh"
gavel_port=$(free_port)
token="burst-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
rm -f "$work"/arrivals.jsonl "$work"/acks.jsonl
gavel_pid="" recv_pid=""

stop_gavel() {
  [ -n "$gavel_pid" ] || return 0
  kill -TERM "$gavel_pid" 2>/dev/null || true
  local i
  for i in $(seq 1 400); do
    kill -0 "$gavel_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$gavel_pid" 2>/dev/null; then
    echo "run-burst: gavel did not stop on SIGTERM within 40 s" >&2
    kill -9 "$gavel_pid" 2>/dev/null || true
  fi
  wait "$gavel_pid" 2>/dev/null || true
  gavel_pid=""
}

cleanup() {
  stop_gavel
  [ -n "$recv_pid" ] && kill -TERM "$recv_pid" 2>/dev/null && wait "$recv_pid" 2>/dev/null || true
  # A Gavel killed with -9 leaves its embedded cluster running.
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    else
      /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
  fi
}
trap cleanup EXIT

start_receiver "${recv_extra[@]}"
write_gavel_toml "$gavel_port" "data_dir = \"$work/pg\"" "$token"
start_gavel "$gavel_port"
echo "gavel on 127.0.0.1:$gavel_port, receiver on $recv_addr, work dir $work"

if [ -n "$replay" ]; then
  "$bin/sim" replay "$replay" --target "http://127.0.0.1:$gavel_port" --token "$token" \
    --speed "$speed" --connections "$connections" --batch "$batch" \
    --acks "$work/acks.jsonl" --retry-for 120s --quiet > "$work/burst.out" 2> "$work/burst.err" &
else
  "$bin/sim" burst --target "http://127.0.0.1:$gavel_port" --token "$token" \
    --auctions "$auctions" --events "$events" --connections "$connections" --batch "$batch" \
    --acks "$work/acks.jsonl" --retry-for 120s --quiet "${extra[@]}" > "$work/burst.out" 2> "$work/burst.err" &
fi
burst_pid=$!

if [ "$kill9" -eq 1 ]; then
  target=$((events / 3))
  for i in $(seq 1 600); do
    n=$( { wc -l < "$work/acks.jsonl"; } 2>/dev/null || echo 0)
    [ "$n" -ge "$target" ] && break
    kill -0 "$burst_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "kill -9 gavel after $(wc -l < "$work/acks.jsonl") acknowledged events"
  kill -9 "$gavel_pid"
  wait "$gavel_pid" 2>/dev/null || true
  gavel_pid=""
  sleep 1
  start_gavel "$gavel_port"
  echo "gavel restarted"
fi

burst_rc=0
wait "$burst_pid" || burst_rc=$?
cat "$work/burst.out"

# Deliveries settle when every acknowledged event has arrived or the receiver
# stops moving.
wait_arrivals_settled 600
kill -TERM "$recv_pid"; wait "$recv_pid" 2>/dev/null || true; recv_pid=""
curl -sf --max-time 10 -H "Authorization: Bearer $token" "http://127.0.0.1:$gavel_port/v1/pipeline" > "$work/pipeline.json" || true
rc=0
"$bin/sim" verify --acks "$work/acks.jsonl" --arrivals "$work/arrivals.jsonl" \
  --report "$work/report.json" --expect-closed || rc=$?
[ "$burst_rc" -eq 0 ] || { echo "run-burst: sim burst exited $burst_rc" >&2; rc=1; }
if [ -n "$max_redeliveries" ]; then
  again=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["redeliveries"])' "$work/report.json")
  echo "redeliveries $again (bound $max_redeliveries)"
  [ "$again" -le "$max_redeliveries" ] || { echo "run-burst: $again redeliveries, over the bound $max_redeliveries" >&2; rc=1; }
fi
exit $rc
