#!/usr/bin/env bash
# 1,500 clients each send part of a request header and then nothing. Gavel
# (server.header_timeout shortened to 2s) keeps serving a normal client
# meanwhile and closes every stalled connection after the header deadline
# (the bound is generous: it catches "never" or "at idle_timeout", it makes
# no timing claim). (usage: stalled_clients.sh BIN_DIR)
set -euo pipefail
bin=$(cd "$1" && pwd)
stalled=${GAVEL_STALLED_CLIENTS:-1500}
# Each stalled client is a socket on both sides of loopback: room for them
# plus what Gavel and its PostgreSQL need.
ulimit -n "$(( $(ulimit -Hn) < 8192 ? $(ulimit -Hn) : 8192 ))"
if [ "$(ulimit -n)" -lt $((stalled + 512)) ]; then
  echo "stalled_clients: open-file limit $(ulimit -n) is too low for $stalled clients"
  exit 1
fi
. "$(dirname "$0")/lib/serve.sh"
serve_gavel stalled 'header_timeout = "2s"
idle_timeout = "5m"'
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "FAIL: gavel did not become ready"; tail -20 "$work/log"; exit 1; }

rc=0
$py - "$port" "$stalled" <<'PY' || rc=$?
import selectors, socket, subprocess, sys, time

port, count = int(sys.argv[1]), int(sys.argv[2])
header_timeout = 2.0
bound = header_timeout + 60.0  # "never" (or idle_timeout, 5 min) fails; slowness does not
fails = 0

def fail(msg):
    global fails
    print("FAIL", msg, flush=True)
    fails += 1

socks = []
opened = time.monotonic()
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
    s.setblocking(False)
    socks.append(s)
print(f"ok   {count} stalled connections open after {time.monotonic() - opened:.1f}s", flush=True)

# A normal client is served while they are all held.
event = ('{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,'
         '"bid_amount":"875.10","bid_timestamp":"2026-06-09T14:23:11Z"}}')
got = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10",
                      "-X", "POST", f"http://127.0.0.1:{port}/v1/events",
                      "-H", "Authorization: Bearer good-token",
                      "-H", "Content-Type: application/json", "--data", event],
                     capture_output=True, text=True).stdout
if got == "202":
    print("ok   a normal request is served meanwhile -> 202", flush=True)
else:
    fail(f"normal request while stalled clients are held: want 202, got {got!r}")

# Every stalled connection is closed by the server: end of stream or reset.
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
open_left, last_close = len(socks), None
deadline = opened + bound
while open_left and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except BlockingIOError:
            continue
        if data:
            continue  # an answer before the close is allowed, it is not the close
        sel.unregister(s)
        s.close()
        open_left -= 1
        last_close = time.monotonic() - opened
if open_left:
    fail(f"{open_left} of {count} stalled connections still open {bound:.0f}s after they were opened")
else:
    print(f"ok   all {count} stalled connections closed by gavel "
          f"(the last {last_close:.1f}s after the first was opened)", flush=True)

# And Gavel still serves.
got = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10",
                      f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True).stdout
if got != "200":
    fail(f"/healthz after the stalled clients: {got!r}")
metrics = subprocess.run(["curl", "-s", "-m", "10", f"http://127.0.0.1:{port}/metrics"],
                         capture_output=True, text=True).stdout
timeouts = [l for l in metrics.splitlines() if l.startswith("gavel_http_header_timeouts_total")]
print("ok  ", timeouts[0] if timeouts else "(no gavel_http_header_timeouts_total)", flush=True)
if not timeouts or float(timeouts[0].split()[-1]) < count:
    fail(f"gavel_http_header_timeouts_total should count the {count} stalled connections")
sys.exit(1 if fails else 0)
PY
kill -0 "$pid" || { echo "FAIL: gavel died"; rc=1; }
[ "$rc" -eq 0 ] && echo "stalled_clients: all checks passed" || { echo "stalled_clients: failed"; tail -20 "$work/log"; exit 1; }
