#!/usr/bin/env bash
# Gavel's benchmark scenarios: one command each, a report from a real run.
#
#   bench/run.sh SCENARIO [--short] [--dest webhook|eventhub|hubspot] [--bin DIR]
#
# SCENARIO: steady-5k, steady-20k, close-burst, close-burst-backfill, max-rate-single,
# max-rate-batch100, catch-up, open-auctions-100k, peer, overload, smoke (all:
# every one but smoke); hubspot-hot, hubspot-spread (HubSpot at its rate limit;
# they set --dest hubspot themselves). --short runs a small version (minutes,
# not tens of minutes); its
# report is written as <scenario>-short.* (<scenario>-eventhub.* with
# --dest eventhub). Reports go to bench/reports/
# (BENCH_REPORTS overrides), scratch files to bench/work/<scenario>/
# (BENCH_WORK overrides). Binaries: --bin, else $GAVEL_BIN, else build/bin
# (built by scripts/build.sh when missing). See bench/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
scenario=${1:-}
[ -n "$scenario" ] || { sed -n 2,14p "$0" >&2; exit 2; }
shift
short=0 dest=webhook bin=${GAVEL_BIN:-$repo/build/bin}
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1; shift ;;
    --dest) dest=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$scenario" = all ]; then
  for s in steady-5k steady-20k close-burst max-rate-single max-rate-batch100 catch-up open-auctions-100k peer; do
    args=(); [ "$short" -eq 1 ] && args+=(--short)
    "$0" "$s" "${args[@]}" --dest "$dest" --bin "$bin" || echo "bench: $s failed" >&2
  done
  exit 0
fi
if [ ! -x "$bin/gavel" ] || [ ! -x "$bin/sim" ]; then
  echo "bench: no gavel/sim in $bin; building with scripts/build.sh" >&2
  bash "$repo/scripts/build.sh"
  bin=$repo/build/bin
fi
bin=$(cd "$bin" && pwd)
case "$scenario" in hubspot-*) dest=hubspot ;; esac
name=$scenario
[ "$dest" != webhook ] && [ "$dest" != hubspot ] && name=$name-$dest
[ "$short" -eq 1 ] && name=$name-short
reports=${BENCH_REPORTS:-$here/reports}
work=${BENCH_WORK:-$here/work}/$name
mkdir -p "$reports"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work" "$(dirname "$work")" 2>/dev/null || true
source "$here/lib.sh"

secret="whsec_$(head -c 24 /dev/urandom | base64)"
token="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
gavel_pid="" rss_pid=""
cleanup() {
  local p
  [ -n "$gavel_pid" ] && stop_pid "$gavel_pid" 60
  for p in "${pids_to_stop[@]}"; do stop_pid "$p" 10; done
  if [ -f "$work/pg/data/postmaster.pid" ]; then # gavel killed: its cluster lingers
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    else
      /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
  fi
}
trap cleanup EXIT
machine_json > "$work/machine.json"
load_before=$(loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
runs=() settings=() extra=()
setting() { settings+=("$1=$2"); }

# CPU seconds (user + system) used so far by a process, and by the embedded
# PostgreSQL (its postmaster and every backend) of this run.
cpu_of() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_postgres() {
  local pm
  pm=$(head -1 "$work/pg/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { echo "$pm"; ps --ppid "$pm" -o pid= 2>/dev/null; } | while read -r p; do cpu_of "$p"; echo; done |
    awk '{s += $1} END {printf "%.2f", s}'
}

# burst NAME ARGS...: one sim burst against $target_url into $work/NAME.*;
# records the CPU time Gavel, PostgreSQL, the sim and the destination used
# meanwhile (report.py turns it into CPU per event and a two-core ceiling).
burst() {
  local run=$1; shift
  log "burst $run: $*"
  local rc=0 g0 p0 d0 sim_cpu
  g0=$(cpu_of "${gavel_pid:-0}") p0=$(cpu_postgres) d0=$(cpu_of "${main_pid:-0}")
  local TIMEFORMAT="%U %S"
  { time "$bin/sim" burst --target "$target_url" --token "$token" --acks "$work/acks-$run.jsonl" \
    --report "$work/burst-$run.json" "$@" > "$work/burst-$run.out" 2> "$work/burst-$run.err" || rc=$?; } 2> "$work/burst-$run.time"
  sim_cpu=$(awk '{printf "%.2f", $1 + $2}' "$work/burst-$run.time")
  extra+=("cpu_${run}_gavel_s=$(awk -v a="$(cpu_of "${gavel_pid:-0}")" -v b="$g0" 'BEGIN {printf "%.2f", a - b}')"
          "cpu_${run}_postgres_s=$(awk -v a="$(cpu_postgres)" -v b="$p0" 'BEGIN {printf "%.2f", a - b}')"
          "cpu_${run}_destination_s=$(awk -v a="$(cpu_of "${main_pid:-0}")" -v b="$d0" 'BEGIN {printf "%.2f", a - b}')"
          "cpu_${run}_sim_s=$sim_cpu")
  tail -1 "$work/burst-$run.err" >&2 || true
  cat "$work/burst-$run.out" >&2
  [ "$rc" -eq 0 ] || log "sim burst $run exited $rc"
  return 0
}

# verify RUN ARRIVALS [--expect-closed]
verify() {
  local run=$1 arr=$2; shift 2
  "$bin/sim" verify --acks "$work/acks-$run.jsonl" --arrivals "$arr" \
    --report "$work/verify-$run.json" "$@" > "$work/verify-$run.out" 2>&1 || true
  head -3 "$work/verify-$run.out" >&2
  runs+=("$run")
}

gavel_up() { # start the destination emulator and Gavel
  start_dest main
  main_addr=$recv_addr main_pid=$recv_pid
  start_gavel "$main_addr"
  target_url="http://127.0.0.1:$gavel_port"
  start_rss_sampler
  log "gavel pid $gavel_pid on $target_url, destination ($dest) on $main_addr"
}

stats_url() { echo "http://$1/_sim/stats"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$gavel_pid/status" 2>/dev/null || echo 0; }


case "$scenario" in
  smoke)
    gavel_up
    burst main --auctions 5 --events 300 --connections 4 --rate 200 --seed 1 \
      --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 60
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    setting rate 200; setting events 300; setting auctions 5
    ;;
  steady-5k | steady-20k)
    rate=5000; secs=60; auctions=1000; conns=128
    [ "$scenario" = steady-20k ] && { rate=20000; secs=30; conns=256; }
    [ "$short" -eq 1 ] && { secs=10; auctions=200; }
    events=$((rate * secs))
    gavel_up
    burst main --auctions "$auctions" --events "$events" --rate "$rate" --connections "$conns" \
      --bid-window 2m --close-window 60s --seed 1 --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 300
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    setting mode "open loop, constant rate"; setting rate "$rate"; setting duration_s "$secs"
    setting events "$events"; setting auctions "$auctions"; setting connections "$conns"; setting batch 1
    ;;
  close-burst)
    auctions=1000; events=100000; scale=1
    [ "$short" -eq 1 ] && { auctions=200; events=10000; scale=3; }
    gavel_up
    burst main --auctions "$auctions" --events "$events" --time-scale "$scale" --connections 256 \
      --bid-window 2m --close-window 60s --seed 1 --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 300
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    setting mode "open loop on the workload's time profile"; setting time_scale "$scale"
    setting auctions "$auctions"; setting events "$events"; setting close_window 60s
    setting bid_window 2m; setting connections 256; setting anti_sniping "15s window, 30s extension"
    ;;
  close-burst-backfill)
    # Live traffic wins (issue 13, ADR 0027): the same close burst twice in
    # one run, on its own auctions each time, first alone, then alongside a
    # full-speed `gavel backfill` of a history into the same Gavel and
    # destination. The backfill starts before the second burst and is
    # stopped (it is resumable) once that burst is acknowledged.
    auctions=1000; events=100000; scale=1; history=2000000
    [ "$short" -eq 1 ] && { auctions=200; events=10000; scale=3; history=400000; }
    "$bin/sim" history --out "$work/history.jsonl" --months 12 --events "$history" \
      --auctions $((history / 100)) --until 2026-12-01T00:00:00Z --seed 1 >/dev/null
    gavel_up
    wl=(--auctions "$auctions" --events "$events" --time-scale "$scale" --connections 256
        --bid-window 2m --close-window 60s --seed 1 --receiver-stats "$(stats_url "$main_addr")")
    burst alone "${wl[@]}" --first-auction-id 1
    wait_settled "$main_addr" "$(accepted_count "$work/acks-alone.jsonl")" 300
    "$bin/gavel" backfill --config "$work/gavel.toml" --source default --file "$work/history.jsonl" \
      --job bench --progress json > "$work/backfill.jsonl" 2> "$work/backfill.err" &
    backfill_pid=$!
    pids_to_stop+=("$backfill_pid")
    wait_for_line "$work/backfill.jsonl" "records_processed" 60
    backfill_before=$(tail -1 "$work/backfill.jsonl") bf0_ms=$(date +%s%3N)
    burst backfill "${wl[@]}" --first-auction-id 100001
    backfill_after=$(tail -1 "$work/backfill.jsonl") bf1_ms=$(date +%s%3N)
    curl -s "$target_url/metrics" -H "Authorization: Bearer $token" |
      grep -E '^gavel_(ingest_shed_total|admission_|ingest_events_total\{status="(unavailable|overloaded)")' > "$work/metrics-after.txt" || true
    if kill -0 "$backfill_pid" 2>/dev/null; then
      stop_pid "$backfill_pid" 10
      log "backfill stopped after the burst (still running: it was at full speed throughout)"
      extra+=("backfill_ran_throughout=1")
    else
      log "backfill ended before the burst did: the comparison is partly without it"
      extra+=("backfill_ran_throughout=0")
    fi
    records() { $py -c 'import json,sys; print(json.loads(sys.argv[1])["records_processed"])' "$1"; }
    bf0=$(records "$backfill_before") bf1=$(records "$backfill_after")
    extra+=("backfill_records_during_burst=$((bf1 - bf0))" "backfill_ms_during_burst=$((bf1_ms - bf0_ms))")
    wait_settled "$main_addr" $(( $(accepted_count "$work/acks-alone.jsonl") + $(accepted_count "$work/acks-backfill.jsonl") )) 900
    verify alone "bench=$work/arrivals-main.jsonl" --expect-closed
    verify backfill "bench=$work/arrivals-main.jsonl" --expect-closed
    setting mode "open loop on the workload's time profile, twice: alone, then with a full-speed backfill"
    setting time_scale "$scale"; setting auctions "$auctions"; setting events "$events"
    setting connections 256; setting history_events "$history"
    setting backfill "gavel backfill, default batch and connections, JSON lines of sim history"
    ;;
  max-rate-single | max-rate-batch100)
    batch=1; conns=128; events=150000
    [ "$scenario" = max-rate-batch100 ] && { batch=100; conns=16; events=500000; }
    [ "$short" -eq 1 ] && events=$((events / 10))
    gavel_up
    burst main --auctions 1000 --events "$events" --batch "$batch" --connections "$conns" \
      --bid-window 2m --close-window 60s --seed 1 --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 600
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    setting mode "closed loop (as fast as acknowledged)"; setting connections "$conns"
    setting batch "$batch"; setting events "$events"; setting auctions 1000
    ;;
  catch-up)
    rate=1000; pre=10; outage=300; post=90
    [ "$short" -eq 1 ] && { outage=30; post=30; }
    events=$((rate * (pre + outage + post)))
    gavel_up
    port=${main_addr##*:}
    burst main --auctions 1000 --events "$events" --rate "$rate" --duplicates 0 --connections 64 \
      --bid-window 2m --close-window 60s --seed 1 --receiver-stats "$(stats_url "$main_addr")" &
    burst_pid=$!
    sleep "$pre"
    log "destination outage for ${outage}s"
    outage_start=$(date +%s%3N)
    stop_pid "$main_pid" 10
    sleep "$outage"
    start_dest main "$port"
    main_pid=$recv_pid
    outage_end=$(date +%s%3N)
    log "destination back"
    wait "$burst_pid" || true
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 900
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    extra+=("outage_start_ms=$outage_start" "outage_end_ms=$outage_end" "live_rate=$rate")
    setting mode "open loop, constant rate"; setting rate "$rate"; setting outage_s "$outage"
    setting before_s "$pre"; setting after_s "$post"; setting events "$events"
    ;;
  open-auctions-100k)
    auctions=100000
    [ "$short" -eq 1 ] && auctions=10000
    gavel_up
    rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$gavel_pid/status")
    # Auctions end in 1..2 days: none in its final window, one heartbeat a
    # minute each (auction.heartbeat_interval: 60 s), none closed.
    burst main --auctions "$auctions" --events $((auctions * 2)) --close-fraction 0 \
      --batch 100 --connections 8 --duplicates 0 --implicit-open 0 --bid-window 24h \
      --close-window 24h --seed 1 --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 600
    rss_ingested=$(awk '/^VmRSS/ {print $2}' "/proc/$gavel_pid/status")
    log "RSS after ingest+delivery: $rss_ingested kB; watching heartbeats for 70 s"
    sleep 70
    rss_after=$(awk '/^VmRSS/ {print $2}' "/proc/$gavel_pid/status")
    stop_pid "$main_pid" 10
    verify main "bench=$work/arrivals-main.jsonl"
    extra+=("rss_start_kb=$rss0" "rss_ingested_kb=$rss_ingested" "rss_after_heartbeats_kb=$rss_after" "rss_peak_kb=$(hwm_kb)" "open_auctions=$auctions")
    setting auctions "$auctions"; setting events_per_auction "opened + 1 bid"
    setting batch 100; setting connections 8; setting heartbeat "60s (ends 1-2 days away)"
    ;;
  peer)
    auctions=200; events=20000; lat_secs=30
    [ "$short" -eq 1 ] && { auctions=50; events=3000; lat_secs=10; }
    gavel_up
    # The peer: graphile-worker on the same PostgreSQL (Gavel's embedded
    # cluster, its own database), the same receiver program and secret.
    ( cd "$here/peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null )
    pgport=$(sed -n 4p "$work/pg/data/postmaster.pid"); pgsock=$(sed -n 5p "$work/pg/data/postmaster.pid")
    psql_() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- psql -h "$pgsock" -p "$pgport" -U postgres -qAt "$@"; else psql -h "$pgsock" -p "$pgport" -U postgres -qAt "$@"; fi; }
    psql_ -c "create database peer" >/dev/null
    start_receiver peer
    peer_addr=$recv_addr
    peer_port=$(free_port)
    export PEER_PGHOST=$pgsock PEER_PGPORT=$pgport PEER_PGDATABASE=peer PEER_TOKEN=$token \
      PEER_LISTEN=$peer_port PEER_SECRET=$secret PEER_WEBHOOK_URL="http://$peer_addr/hook" \
      PEER_CONCURRENCY=16
    node "$here/peer/ingest.js" > "$work/peer-ingest.out" 2> "$work/peer-ingest.err" &
    pids_to_stop+=("$!")
    wait_for_line "$work/peer-ingest.out" "listening on" 60
    node "$here/peer/worker.js" > "$work/peer-worker.out" 2> "$work/peer-worker.err" &
    pids_to_stop+=("$!")
    wait_for_line "$work/peer-worker.out" "worker running" 60
    gavel_url=$target_url peer_url="http://127.0.0.1:$peer_port"
    wl=(--auctions "$auctions" --implicit-open 0 --bid-window 2m --close-window 60s --seed 1)
    # 1. Maximum: closed loop, 64 connections each, single events.
    target_url=$gavel_url
    burst gavel-max "${wl[@]}" --events "$events" --connections 64 --first-auction-id 1 \
      --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-gavel-max.jsonl")" 600
    target_url=$peer_url
    burst peer-max "${wl[@]}" --events "$events" --connections 64 --first-auction-id 1 \
      --receiver-stats "$(stats_url "$peer_addr")"
    wait_settled "$peer_addr" "$(accepted_count "$work/acks-peer-max.jsonl")" 1200
    # 2. Latency at 400 events/s, open loop.
    target_url=$gavel_url
    burst gavel-400 "${wl[@]}" --events $((400 * lat_secs)) --rate 400 --connections 16 \
      --first-auction-id 100001 --receiver-stats "$(stats_url "$main_addr")"
    target_url=$peer_url
    burst peer-400 "${wl[@]}" --events $((400 * lat_secs)) --rate 400 --connections 16 \
      --first-auction-id 100001 --receiver-stats "$(stats_url "$peer_addr")"
    wait_settled "$main_addr" 1 120
    wait_settled "$peer_addr" "$(( $(accepted_count "$work/acks-peer-max.jsonl") + $(accepted_count "$work/acks-peer-400.jsonl") ))" 1200
    stop_pid "$main_pid" 10
    stop_pid "$recv_pid" 10
    verify gavel-max "gavel=$work/arrivals-main.jsonl" --expect-closed
    verify peer-max "peer=$work/arrivals-peer.jsonl" --expect-closed
    verify gavel-400 "gavel=$work/arrivals-main.jsonl" --expect-closed
    verify peer-400 "peer=$work/arrivals-peer.jsonl" --expect-closed
    setting workload "$auctions auctions, no implicit opens, 2% resends"
    setting max_phase "closed loop, 64 connections, $events events each"
    setting latency_phase "open loop 400 events/s for ${lat_secs}s each"
    setting peer "graphile-worker $(node -p 'require("'"$here"'/peer/node_modules/graphile-worker/package.json").version'), concurrency 16, queue per auction, Node $(node --version)"
    ;;
  hubspot-hot | hubspot-spread)
    # A close burst to HubSpot at its default limit (100 requests per 10 s:
    # at most 1,000 events/s with 100 inputs a request). Hot: every bid on
    # one auction; spread: the same over 60 auctions. Arrays of 100, closed
    # loop, so ingest outruns the limit and the limit sets the pace.
    # --short: the sizes of the first observation (3,000 bids on one auction;
    # 2,000 events over 20 auctions).
    auctions=1 events=20000
    [ "$scenario" = hubspot-spread ] && auctions=60
    if [ "$short" -eq 1 ]; then
      events=3000
      [ "$scenario" = hubspot-spread ] && { auctions=20; events=2000; }
    fi
    gavel_up
    burst main --auctions "$auctions" --events "$events" --batch 100 --connections 8 \
      --implicit-open 0 --bid-window 2m --close-window 60s --seed 1 \
      --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-main.jsonl")" 600
    curl -sf --max-time 5 "$(stats_url "$main_addr")" > "$work/hubspot-stats.json" || true
    verify main "bench=$work/arrivals-main.jsonl" --expect-closed
    setting mode "closed loop, arrays of 100"; setting auctions "$auctions"; setting events "$events"
    setting rate_limit "100 requests / 10 s (Gavel's default and the emulator's)"
    ;;
  overload)
    # ADR 0014: 2,000 keep-alive connections posting batches of 100 at once
    # (each retries a 503 after its Retry-After), after an unloaded run of the
    # same batches on 16 connections for the admitted latency to compare with.
    conns=2000; events=240000; base=40000
    [ "$short" -eq 1 ] && { events=100000; base=10000; }
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    gavel_up
    burst unloaded --auctions 1000 --events "$base" --batch 100 --connections 16 \
      --bid-window 2m --close-window 60s --seed 1 --first-auction-id 1 \
      --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(accepted_count "$work/acks-unloaded.jsonl")" 600
    burst overload --auctions $((conns * 2)) --events "$events" --batch 100 --connections "$conns" \
      --threads 2 --request-timeout 60s --retry-for 300s --bid-window 2m --close-window 60s \
      --seed 2 --first-auction-id 100001 --receiver-stats "$(stats_url "$main_addr")"
    wait_settled "$main_addr" "$(( $(accepted_count "$work/acks-unloaded.jsonl") + $(accepted_count "$work/acks-overload.jsonl") ))" 900
    curl -s "$target_url/metrics" | grep -E '^gavel_(ingest_shed_total|admission_|ingest_events_total\{status="(unavailable|overloaded)")' > "$work/metrics-after.txt" || true
    stop_pid "$main_pid" 10
    verify unloaded "bench=$work/arrivals-main.jsonl" --expect-closed
    verify overload "bench=$work/arrivals-main.jsonl" --expect-closed
    setting unloaded "closed loop, 16 connections, batches of 100, $base events"
    setting overload "closed loop, $conns connections, batches of 100, $events events, Retry-After honoured"
    ;;
  *) echo "bench: unknown scenario $scenario" >&2; exit 2 ;;
esac

load_after=$(loadavg)
[ -n "$gavel_pid" ] && extra+=("rss_peak_kb=$(hwm_kb)")
stop_pid "$gavel_pid" 60; gavel_pid=""
# meta.json: what ran, for bench/report.py.
$py - "$work/meta.json" "$scenario" "$name" "$short" "$dest" "$started" "$load_before" "$load_after" \
  "${#runs[@]}" "${runs[@]}" "${#settings[@]}" "${settings[@]}" "${extra[@]}" <<'PY'
import json, sys
a = sys.argv[1:]
out, scenario, name, short, dest, started, lb, la = a[:8]
i = 8
n = int(a[i]); runs = a[i + 1:i + 1 + n]; i += 1 + n
n = int(a[i]); settings = dict(s.split("=", 1) for s in a[i + 1:i + 1 + n]); i += 1 + n
extra = {}
for s in a[i:]:
    k, v = s.split("=", 1)
    try: v = float(v)
    except ValueError: pass
    extra[k] = v
json.dump({"scenario": scenario, "name": name, "short": short == "1", "destination": dest,
           "started": started, "loadavg_before": lb.split(), "loadavg_after": la.split(),
           "runs": runs, "settings": settings, "extra": extra}, open(out, "w"), indent=2)
PY
$py "$here/report.py" "$work" "$reports"
