# Shared by bad_input.sh and stalled_clients.sh: Gavel alone (no destination)
# on its embedded PostgreSQL, ingest token "good-token". Source it with `bin`
# set to the directory of the binaries.

# Makes the work directory /tmp/gavel-e2e-TAG.XXXXXX, writes its gavel.toml
# (a free port; SERVER_LINES, if given, are more keys of [server]), starts
# Gavel (stdout in $work/out, log in $work/log) and waits up to 60 s for
# /readyz. Sets work, py, port and pid; on exit Gavel is stopped and the
# directory removed.
serve_gavel() { # tag [server-lines]
  work=$(mktemp -d "/tmp/gavel-e2e-$1.XXXXXX")
  chmod 755 "$work"
  py=/usr/bin/python3
  port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/gavel.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
${2:-}
[database]
data_dir = "$work/pg"
[ingest]
tokens = ["good-token"]
TOML
  "$bin/gavel" serve --config "$work/gavel.toml" > "$work/out" 2> "$work/log" &
  pid=$!
  trap serve_cleanup EXIT
  local i
  for i in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

serve_cleanup() {
  kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
