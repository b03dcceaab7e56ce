# Shared helpers of bench/run.sh (sourced). Every helper writes under $work.
py=/usr/bin/python3
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "bench[$scenario]: $*" >&2; }
pids_to_stop=()

wait_for_line() { # file pattern seconds
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "timed out waiting for '$2' in $1"
  cat "$1" >&2 || true
  return 1
}

# start_receiver NAME [PORT]: a `sim receive` webhook receiver writing
# $work/arrivals-NAME.jsonl; sets recv_addr and recv_pid.
start_receiver() {
  local name=$1 port=${2:-0}
  : > "$work/receive-$name.out"
  "$bin/sim" receive --listen "127.0.0.1:$port" --secret "$secret" \
    --out "$work/arrivals-$name.jsonl" > "$work/receive-$name.out" 2>> "$work/receive-$name.err" &
  recv_pid=$!
  pids_to_stop+=("$recv_pid")
  wait_for_line "$work/receive-$name.out" "listening on" 10
  recv_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/receive-$name.out" | head -1)
}

stop_pid() { # pid [seconds]
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((${2:-40} * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# The destination the bench delivers to: webhook (sim receive); with --dest
# eventhub the Event Hubs emulator (`sim eventhub`), with --dest hubspot the
# HubSpot emulator (`sim hubspot`, default limit 100 requests per 10 s).
destination_toml() { # addr
  case "$dest" in
    webhook)
      cat <<TOML
[[destination]]
name = "bench"
kind = "webhook"
url = "http://$1/hook"
secret = "$secret"
retry_initial = "50ms"
retry_max = "1s"
TOML
      ;;
    eventhub)
      cat <<TOML
[[destination]]
name = "bench"
kind = "eventhub"
endpoint = "http://$1"
hub = "bids"
sas_key_name = "send"
sas_key = "$secret"
retry_initial = "50ms"
retry_max = "1s"
TOML
      ;;
    hubspot)
      # HubSpot at its default limit (100 requests per 10 s, both sides);
      # it takes no heartbeats.
      cat <<TOML
[[destination]]
name = "bench"
kind = "hubspot"
base_url = "http://$1"
token = "$secret"
object_type = "p_bids"
id_property = "gavel_event_id"
event_types = ["auction.opened", "bid.placed", "auction.closed"]
retry_initial = "100ms"
retry_max = "2s"
TOML
      ;;
  esac
}

# start_dest NAME [PORT]: the destination emulator; sets recv_addr, recv_pid.
start_dest() {
  case "$dest" in
    webhook) start_receiver "$@" ;;
    eventhub)
      local name=$1 port=${2:-0}
      "$bin/sim" eventhub --listen "127.0.0.1:$port" --hub bids --key-name send \
        --key "$secret" --out "$work/arrivals-$name.jsonl" > "$work/receive-$name.out" 2>> "$work/receive-$name.err" &
      recv_pid=$!
      pids_to_stop+=("$recv_pid")
      wait_for_line "$work/receive-$name.out" "listening on" 10
      recv_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/receive-$name.out" | head -1)
      ;;
    hubspot)
      local name=$1 port=${2:-0}
      "$bin/sim" hubspot --listen "127.0.0.1:$port" --token "$secret" \
        --out "$work/arrivals-$name.jsonl" > "$work/receive-$name.out" 2>> "$work/receive-$name.err" &
      recv_pid=$!
      pids_to_stop+=("$recv_pid")
      wait_for_line "$work/receive-$name.out" "listening on" 10
      recv_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/receive-$name.out" | head -1)
      ;;
    *) log "unknown --dest $dest"; exit 2 ;;
  esac
}

# start_gavel ADDR: Gavel on its embedded PostgreSQL under $work/pg,
# delivering to ADDR; sets gavel_port, gavel_pid.
start_gavel() {
  gavel_port=$(free_port)
  cat > "$work/gavel.toml" <<TOML
[server]
listen = "127.0.0.1:$gavel_port"
[database]
data_dir = "$work/pg"
[ingest]
tokens = ["$token"]
[log]
level = "warn"
$(destination_toml "$1")
TOML
  "$bin/gavel" serve --config "$work/gavel.toml" >> "$work/gavel.out" 2>> "$work/gavel.log" &
  gavel_pid=$!
  local i
  for i in $(seq 1 600); do
    curl -sf --max-time 2 "http://127.0.0.1:$gavel_port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$gavel_pid" 2>/dev/null || { log "gavel exited"; tail -20 "$work/gavel.log" >&2; return 1; }
    sleep 0.1
  done
  log "gavel not ready"
  return 1
}

# Samples Gavel's RSS (kB) once a second into $work/rss.tsv (unix ms, kB).
start_rss_sampler() {
  ( while kill -0 "$gavel_pid" 2>/dev/null; do
      rss=$(awk '/^VmRSS/ {print $2}' "/proc/$gavel_pid/status" 2>/dev/null || echo 0)
      echo "$(date +%s%3N) ${rss:-0}" >> "$work/rss.tsv"
      sleep 1
    done ) &
  rss_pid=$!
  pids_to_stop+=("$rss_pid")
}

receiver_arrivals() { # addr
  curl -sf --max-time 5 "http://$1/_sim/stats" | $py -c 'import json,sys; print(json.load(sys.stdin)["arrivals"])' 2>/dev/null || echo -1
}

# wait_settled ADDR MIN SECONDS: until the receiver has at least MIN arrivals
# and has not moved for 3 s, or SECONDS passed.
wait_settled() {
  local addr=$1 min=$2 deadline=$(( $(date +%s) + $3 )) last=-2 still=0 n
  while [ "$(date +%s)" -lt "$deadline" ]; do
    n=$(receiver_arrivals "$addr")
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
    last=$n
    [ "$n" -ge "$min" ] && [ "$still" -ge 6 ] && return 0
    sleep 0.5
  done
  log "deliveries did not settle within $3 s ($last arrivals, wanted >= $min)"
  return 0
}

accepted_count() { # acks file: accepted events (0 when there is no file)
  local n
  n=$(grep -c '"status":"accepted"' "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

# Machine facts for the report.
machine_json() {
  $py - "$repo" "$bin" <<'PY'
import json, os, subprocess, sys
repo = sys.argv[1]
# The binaries' own source trees (build/bin inside a checkout), when they are.
src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(os.path.join(sys.argv[2], "gavel")))))
sim_src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(os.path.join(sys.argv[2], "sim")))))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
def git(*a, where=None):
    try: return subprocess.run(["git", "-C", where or repo, *a], capture_output=True, text=True).stdout.strip()
    except Exception: return "?"
if not git("rev-parse", "HEAD", where=src):
    src = repo
if not git("rev-parse", "HEAD", where=sim_src):
    sim_src = repo
print(json.dumps({"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem / 1048576, 1),
                  "kernel": os.uname().release, "loadavg": open("/proc/loadavg").read().split()[:3],
                  "commit": git("rev-parse", "HEAD", where=src),
                  "dirty": bool(git("status", "--porcelain", "--untracked-files=no", where=src)),
                  "sim_commit": git("rev-parse", "HEAD", where=sim_src),
                  "sim_dirty": bool(git("status", "--porcelain", "--untracked-files=no", where=sim_src)),
                  "bench_commit": git("rev-parse", "HEAD"), "binaries": os.path.abspath(sys.argv[2]),
                  "pg": subprocess.run(["bash", "-c", "ls /usr/lib/postgresql | sort -n | tail -1"], capture_output=True, text=True).stdout.strip()}))
PY
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
