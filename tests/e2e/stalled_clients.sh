#!/usr/bin/env bash
# 1,500 clients each send part of a request header and then nothing, and a
# few more drip a header a byte every 50 ms without ever finishing it. Gavel
# (server.header_timeout shortened to 2s) keeps serving a normal client
# meanwhile and closes every one of them at the header deadline: not before
# it, and dripping does not move it (the upper bound is generous: it catches
# "never" or "at idle_timeout", it makes no timing claim); each is counted
# once in gavel_http_header_timeouts_total. (usage: stalled_clients.sh BIN_DIR)
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
import re, selectors, socket, subprocess, sys, time

port, count = int(sys.argv[1]), int(sys.argv[2])
header_timeout = 2.0
bound = header_timeout + 60.0  # "never" (or idle_timeout, 5 min) fails; slowness does not
# The server's deadline runs from accept, after the client's connect: a close
# earlier than this (the margin is clock granularity) is a close before it.
earliest = header_timeout - 0.05
drippers = 3
drip_every = 0.05
fails = 0

def fail(msg):
    global fails
    print("FAIL", msg, flush=True)
    fails += 1

sel = selectors.DefaultSelector()
since = {}  # socket -> when it was opened
opened = time.monotonic()
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    since[s] = time.monotonic()
    s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print(f"ok   {count} stalled connections open after {time.monotonic() - opened:.1f}s", flush=True)
# A header that never ends: the request line, then one header field growing a
# byte at a time (well within the header size limit over the bound).
drip = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: " + b"a" * 4096
dripping = {}  # socket -> bytes sent
for i in range(drippers):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    since[s] = time.monotonic()
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    dripping[s] = 0

# A normal client is served while they are all held (the drip goes on).
event = ('{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,'
         '"bid_amount":"875.10","bid_timestamp":"2026-06-09T14:23:11Z"}}')
normal = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10",
                           "-X", "POST", f"http://127.0.0.1:{port}/v1/events",
                           "-H", "Authorization: Bearer good-token",
                           "-H", "Content-Type: application/json", "--data", event],
                          stdout=subprocess.PIPE, text=True)

# Every connection is closed by the server (end of stream or reset), none
# before the header deadline. The pause between drips is the behaviour under
# test, not a wait: each byte is progress, and the deadline must hold anyway.
open_left, last_close, early = len(since), None, []
deadline = opened + bound
next_drip = time.monotonic()
while open_left and time.monotonic() < deadline:
    if time.monotonic() >= next_drip:
        for s in dripping:
            n = dripping[s]
            if s.fileno() < 0 or n >= len(drip):
                continue
            try:
                dripping[s] += s.send(drip[n:n + 1])
            except (BlockingIOError, ConnectionResetError, BrokenPipeError):
                pass
        next_drip = time.monotonic() + drip_every
    for key, _ in sel.select(timeout=drip_every):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except BlockingIOError:
            continue
        if data:
            continue  # an answer before the close is allowed, it is not the close
        after = time.monotonic() - since[s]
        if after < earliest:
            early.append(f"{'dripping' if s in dripping else 'stalled'} after {after * 1000:.0f} ms")
        if s in dripping:
            print(f"ok   a dripping header closed after {after:.2f}s "
                  f"({dripping[s]} bytes dripped)", flush=True)
        sel.unregister(s)
        s.close()
        open_left -= 1
        last_close = time.monotonic() - opened
total = count + drippers
if open_left:
    fail(f"{open_left} of {total} stalled or dripping connections still open "
         f"{bound:.0f}s after they were opened")
else:
    print(f"ok   all {total} stalled and dripping connections closed by gavel "
          f"(the last {last_close:.1f}s after the first was opened)", flush=True)
if early:
    fail(f"{len(early)} connections closed before the header deadline "
         f"({header_timeout:.0f}s): {', '.join(early[:5])}")
else:
    print(f"ok   none closed before the header deadline ({header_timeout:.0f}s)", flush=True)
got = normal.communicate()[0]
if got == "202":
    print("ok   a normal request is served meanwhile -> 202", flush=True)
else:
    fail(f"normal request while stalled clients are held: want 202, got {got!r}")

# And Gavel still serves.
got = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10",
                      f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True).stdout
if got != "200":
    fail(f"/healthz after the stalled clients: {got!r}")

def header_timeouts():
    metrics = subprocess.run(["curl", "-s", "-m", "10", f"http://127.0.0.1:{port}/metrics"],
                             capture_output=True, text=True).stdout
    m = re.search(r"^gavel_http_header_timeouts_total (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else None

# The server counts a timeout just after the client has seen the close, and
# tells no one: look again until the count is reached (the deadline only
# catches "never"), then it must be exactly one per connection.
counted, until = header_timeouts(), time.monotonic() + 10
while (counted or 0) < total and time.monotonic() < until:
    time.sleep(0.05)
    counted = header_timeouts()
print("ok   gavel_http_header_timeouts_total", counted, flush=True)
if counted != total:
    fail(f"gavel_http_header_timeouts_total is {counted}, want one per stalled or "
         f"dripping connection ({total})")
sys.exit(1 if fails else 0)
PY
kill -0 "$pid" || { echo "FAIL: gavel died"; rc=1; }
[ "$rc" -eq 0 ] && echo "stalled_clients: all checks passed" || { echo "stalled_clients: failed"; tail -20 "$work/log"; exit 1; }
