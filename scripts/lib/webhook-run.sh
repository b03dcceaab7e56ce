# Shared by scripts/run-burst.sh and tests/e2e/db_faults.bash: Gavel with one
# webhook destination (`sim receive`) on loopback, started and waited for.
# Source it with `bin`, `work` and `py` set; `log_prefix` names the caller in
# its messages.

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for_line() { # file pattern seconds
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${log_prefix:-webhook-run}: timed out waiting for '$2' in $1" >&2
  cat "$1" >&2 || true
  return 1
}

# Starts `sim receive` with a fresh secret (extra arguments go to it); sets
# secret, recv_pid and recv_addr.
start_receiver() {
  secret="whsec_$(head -c 24 /dev/urandom | base64)"
  "$bin/sim" receive --listen 127.0.0.1:0 --secret "$secret" --out "$work/arrivals.jsonl" \
    "$@" > "$work/receive.out" 2> "$work/receive.err" &
  recv_pid=$!
  wait_for_line "$work/receive.out" "listening on" 10
  recv_addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/receive.out" | head -1)
}

# Writes $work/gavel.toml: listen port, the [database] line given (e.g.
# 'data_dir = "..."' or 'url = "..."'), one ingest token, the webhook.
write_gavel_toml() { # port database-line token
  cat > "$work/gavel.toml" <<TOML
[server]
listen = "127.0.0.1:$1"
[database]
$2
[ingest]
tokens = ["$3"]
[log]
level = "info"
[[destination]]
name = "webhook"
kind = "webhook"
url = "http://$recv_addr/hook"
secret = "$secret"
retry_initial = "50ms"
retry_max = "2s"
TOML
}

# Starts Gavel on $work/gavel.toml and waits (up to 60 s) for /readyz; sets
# gavel_pid. Logs are appended, so a restarted Gavel keeps the first one's.
start_gavel() { # port
  "$bin/gavel" serve --config "$work/gavel.toml" >> "$work/gavel.out" 2>> "$work/gavel.log" &
  gavel_pid=$!
  local i
  for i in $(seq 1 600); do
    curl -sf --max-time 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$gavel_pid" 2>/dev/null || { echo "${log_prefix:-webhook-run}: gavel exited" >&2; tail -20 "$work/gavel.log" >&2; return 1; }
    sleep 0.1
  done
  echo "${log_prefix:-webhook-run}: gavel not ready" >&2
  return 1
}

# Waits until the receiver's arrival count has stood still for 3 s (30 looks
# 0.1 s apart), at most TRIES looks.
wait_arrivals_settled() { # tries
  local last=-1 still=0 n i
  for i in $(seq 1 "$1"); do
    n=$(curl -sf --max-time 5 "http://$recv_addr/_sim/stats" | $py -c 'import json,sys; print(json.load(sys.stdin)["arrivals"])' || echo 0)
    if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
    last=$n
    [ "$still" -ge 30 ] && break
    sleep 0.1
  done
}
