#!/usr/bin/env bash
# Bad input gets the documented status, stores nothing, and Gavel keeps
# serving. (usage: bad_input.sh BIN_DIR)
set -euo pipefail
bin=$(cd "$1" && pwd)
. "$(dirname "$0")/lib/serve.sh"
serve_gavel bad
url="http://127.0.0.1:$port/v1/events"
fails=0
check() { # name expected-status curl-args...
  local name=$1 want=$2
  shift 2
  local got
  got=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "$url" -H 'Content-Type: application/json' "$@")
  if [ "$got" = "$want" ]; then
    echo "ok   $name -> $got $(head -c 160 "$work/body")"
  else
    echo "FAIL $name: want $want, got $got: $(head -c 300 "$work/body")"
    fails=$((fails + 1))
  fi
}
auth=(-H 'Authorization: Bearer good-token')
check "malformed JSON" 400 "${auth[@]}" --data '{"event_type": "bid.placed", "data": {'
check "not an object" 400 "${auth[@]}" --data '42'
check "unknown event type" 422 "${auth[@]}" --data '{"event_type":"bid.withdrawn","data":{"auction_id":1}}'
check "heartbeat is not ingested" 422 "${auth[@]}" --data '{"event_type":"producer.heartbeat","data":{"auction_id":1}}'
check "missing data" 422 "${auth[@]}" --data '{"event_type":"bid.placed"}'
check "missing bid_id" 422 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_amount":"1.00","bid_timestamp":"2026-06-09T14:23:11Z"}}'
check "wrong type auction_id" 422 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":"one","bid_id":1,"bid_amount":"1.00","bid_timestamp":"2026-06-09T14:23:11Z"}}'
check "wrong type bid_amount" 422 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":{"v":1},"bid_timestamp":"2026-06-09T14:23:11Z"}}'
check "bad timestamp" 422 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"1.00","bid_timestamp":"yesterday"}}'
grep -q '"field":"data.bid_amount"' "$work/body" 2>/dev/null || true
check "space instead of T in a timestamp" 422 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"1.00","bid_timestamp":"2026-01-01 00:00:00Z"}}'
grep -q '"code":"schema","field":"data.bid_timestamp"' "$work/body" || { echo "FAIL 422 body does not name data.bid_timestamp: $(cat "$work/body")"; fails=$((fails + 1)); }
check "repeated key" 400 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"1.00","bid_timestamp":"2026-06-09T14:23:11Z","auction_id":710016}}'
grep -q '^{"error":{"status":400,"code":"duplicate_key","field":"data.auction_id","message":"' "$work/body" || { echo "FAIL duplicate_key body: $(cat "$work/body")"; fails=$((fails + 1)); }
check "no token" 401 --data '{"event_type":"auction.opened","data":{"auction_id":1}}'
check "bad token" 401 -H 'Authorization: Bearer nope' --data '{"event_type":"auction.opened","data":{"auction_id":1}}'
$py -c 'print("[" * 10000 + "]" * 10000)' > "$work/deep.json"
check "10,000-deep nesting" 400 "${auth[@]}" --data-binary "@$work/deep.json"
head -c 6000000 /dev/zero | tr '\0' ' ' > "$work/huge.json"
check "huge body" 413 "${auth[@]}" --data-binary "@$work/huge.json"
$py -c 'import json; print(json.dumps([{"event_type":"auction.opened","data":{"auction_id":i}} for i in range(1,1002)]))' > "$work/big-batch.json"
check "batch of 1001" 413 "${auth[@]}" --data-binary "@$work/big-batch.json"
check "empty batch" 422 "${auth[@]}" --data '[]'
# The schema error names the field.
curl -s -X POST "$url" "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"abc","bid_timestamp":"2026-06-09T14:23:11Z"}}' > "$work/field"
grep -q 'data.bid_amount' "$work/field" || { echo "FAIL 422 body does not name data.bid_amount: $(cat "$work/field")"; fails=$((fails + 1)); }
# Nothing was stored.
sock="$work/pg/sock"
n=$(psql -h "$sock" -p 5432 -U postgres -d postgres -Atc 'select count(*) from outbox')
[ "$n" = "0" ] || { echo "FAIL: $n rows stored from bad input"; fails=$((fails + 1)); }
# Gavel keeps serving.
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "FAIL: /healthz"; fails=$((fails + 1)); }
check "a good event after all that" 202 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"875.10","bid_timestamp":"2026-06-09T14:23:11Z"}}'
grep -q '"bid_sequence":2' "$work/body" || { echo "FAIL: bid_sequence: $(cat "$work/body")"; fails=$((fails + 1)); }
check "the same bid again is a duplicate" 202 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":1,"bid_amount":"875.10","bid_timestamp":"2026-06-09T14:23:11Z"}}'
grep -q '"status":"duplicate"' "$work/body" || { echo "FAIL: not a duplicate: $(cat "$work/body")"; fails=$((fails + 1)); }
check "closed auction" 202 "${auth[@]}" --data '{"event_type":"auction.closed","data":{"auction_id":1}}'
check "bid after close" 409 "${auth[@]}" --data '{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":2,"bid_amount":"900","bid_timestamp":"2026-06-09T14:23:12Z"}}'
kill -0 "$pid" || { echo "FAIL: gavel died"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ] && echo "bad_input: all checks passed" || { echo "bad_input: $fails failure(s)"; tail -20 "$work/log"; exit 1; }
