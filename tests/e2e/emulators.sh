#!/usr/bin/env bash
# The destination emulators over HTTPS with a test CA, driven by curl:
# sim eventhub (SAS, expiry, 1 MB, partition keys, outages, dropped answers),
# sim hubspot (bearer token, rolling rate limit with 429s, 207 and 409 poison
# records, dropped answers) and sim receive over TLS; then `sim verify` reads
# an emulator's arrivals unchanged. (usage: emulators.sh BIN_DIR)
set -euo pipefail
bin=$(cd "$1" && pwd)
src=${GAVEL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/gavel-e2e-emu.XXXXXX)
py=/usr/bin/python3
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$src/scripts/test-ca.sh" "$work/ca" >/dev/null
ca="$work/ca/ca.pem"
tls=(--tls-cert "$work/ca/server.pem" --tls-key "$work/ca/server.key")

# start NAME ARGS...: runs `sim ARGS` in the background and sets PORT_NAME.
start() {
  local name=$1
  shift
  # Created before the start: sed must find the file even if the child has
  # not opened it yet.
  : > "$work/$name.stdout"
  "$bin/sim" "$@" > "$work/$name.stdout" 2> "$work/$name.stderr" &
  pids+=($!)
  local port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/$name.stdout")
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "FAIL $name did not start: $(cat "$work/$name.stderr")"
    exit 1
  fi
  printf -v "PORT_$name" '%s' "$port"
}

fails=0
# check NAME WANT-STATUS curl-args...
check() {
  local name=$1 want=$2
  shift 2
  local got
  got=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" || true)
  if [ "$got" = "$want" ]; then
    echo "ok   $name -> $got $(head -c 140 "$work/body" | tr '\n' ' ')"
  else
    echo "FAIL $name: want $want, got $got: $(head -c 400 "$work/body")"
    fails=$((fails + 1))
  fi
}
expect() { # NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else
    echo "FAIL $name"
    fails=$((fails + 1))
  fi
}
stat() { # URL KEY... -> the values of those keys of GET /_sim/stats, space-separated
  local url=$1
  shift
  curl -s --cacert "$ca" "$url/_sim/stats" |
    $py -c 'import json,sys; s=json.load(sys.stdin); print(*(s[k] for k in sys.argv[1:]))' "$@"
}
sas() { # URI KEY-NAME KEY EXPIRY
  $py - "$@" <<'PY'
import base64, hashlib, hmac, sys, urllib.parse
uri, name, key, se = sys.argv[1:]
sr = urllib.parse.quote(uri, safe="")
sig = base64.b64encode(hmac.new(key.encode(), (sr + "\n" + se).encode(), hashlib.sha256).digest()).decode()
print(f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(sig, safe='')}&se={se}&skn={urllib.parse.quote(name, safe='')}")
PY
}
envelope() { # EVENT_ID TYPE AUCTION SEQ [TOTAL]
  $py - "$@" <<'PY'
import json, sys
eid, etype, auction, seq = sys.argv[1:5]
data = {"auction_id": int(auction)}
if len(sys.argv) > 5:
    data["total_bid_count"] = int(sys.argv[5])
print(json.dumps({"metadata": {"event_id": eid, "event_type": etype, "schema_version": "1.0",
                               "producer_timestamp": "2026-06-09T14:23:11.412Z", "bid_sequence": int(seq)},
                  "data": data}, separators=(",", ":")))
PY
}
batch() { # KEY ENVELOPE... -> Event Hubs batch body with PartitionKey KEY ("-": none)
  $py - "$@" <<'PY'
import json, sys
key, bodies = sys.argv[1], sys.argv[2:]
msgs = []
for b in bodies:
    m = {"Body": b, "UserProperties": {"event_id": json.loads(b)["metadata"]["event_id"]}}
    if key != "-":
        m["BrokerProperties"] = {"PartitionKey": key}
    msgs.append(m)
print(json.dumps(msgs, separators=(",", ":")))
PY
}

# -- Event Hubs ----------------------------------------------------------------
start eh eventhub --listen 127.0.0.1:0 "${tls[@]}" --hub bids --key-name send \
  --key 'k3y+not/base64=' --partitions 4 --out "$work/eh.jsonl"
eh="https://127.0.0.1:$PORT_eh"
now=$(date +%s)
good=$(sas "$eh/bids" send 'k3y+not/base64=' $((now + 3600)))
ct=(-H 'Content-Type: application/vnd.microsoft.servicebus.json')
open7=$(envelope auction.opened-7 auction.opened 7 1)
bid7=$(envelope bid.placed-7000001 bid.placed 7 2)
close7=$(envelope auction.closed-7 auction.closed 7 2 1)
bid8=$(envelope bid.placed-8000001 bid.placed 8 2)
check "eventhub: good SAS over https, one partition key -> 201" 201 --cacert "$ca" \
  -X POST "$eh/bids/messages?timeout=60&api-version=2014-01" -H "Authorization: $good" "${ct[@]}" \
  --data-binary "$(batch 7 "$open7" "$bid7")"
expect "eventhub: 201 has an empty body" test ! -s "$work/body"
check "eventhub: send to a partition -> 201" 201 --cacert "$ca" \
  -X POST "$eh/bids/partitions/1/messages?api-version=2014-01" -H "Authorization: $good" "${ct[@]}" \
  --data-binary "$(batch - "$close7")"
check "eventhub: namespace-wide token -> 201" 201 --cacert "$ca" \
  -X POST "$eh/bids/messages" -H "Authorization: $(sas "$eh" send 'k3y+not/base64=' $((now + 60)))" \
  "${ct[@]}" --data-binary "$(batch 8 "$bid8")"
code=0
curl -s -o /dev/null -X POST "$eh/bids/messages" -H "Authorization: $good" "${ct[@]}" --data '[]' || code=$?
expect "eventhub: a client without the test CA fails verification (curl exit 60, got $code)" test "$code" = 60
check "eventhub: expired token -> 401" 401 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $(sas "$eh/bids" send 'k3y+not/base64=' $((now - 1)))" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
expect "eventhub: 401 says ExpiredToken" grep -q ExpiredToken "$work/body"
check "eventhub: wrong key -> 401" 401 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $(sas "$eh/bids" send 'other' $((now + 60)))" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
check "eventhub: wrong key name -> 401" 401 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $(sas "$eh/bids" listen 'k3y+not/base64=' $((now + 60)))" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
check "eventhub: token for another hub -> 401" 401 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $(sas "$eh/other" send 'k3y+not/base64=' $((now + 60)))" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
check "eventhub: no token -> 401" 401 --cacert "$ca" -X POST "$eh/bids/messages" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
check "eventhub: mixed partition keys -> 400" 400 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" \
  --data-binary "[{\"Body\":\"a\",\"BrokerProperties\":{\"PartitionKey\":\"7\"}},{\"Body\":\"b\",\"BrokerProperties\":{\"PartitionKey\":\"8\"}}]"
check "eventhub: malformed JSON -> 400" 400 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary '[{"Body":'
check "eventhub: PartitionKey on a partition send -> 400" 400 --cacert "$ca" \
  -X POST "$eh/bids/partitions/0/messages" -H "Authorization: $good" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")"
check "eventhub: unknown partition -> 400" 400 --cacert "$ca" -X POST "$eh/bids/partitions/4/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary "$(batch - "$bid7")"
$py -c 'import json; print(json.dumps([{"Body": "x" * 1048576}]))' > "$work/big.json"
check "eventhub: body over 1 MB -> 413" 413 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary "@$work/big.json"
check "eventhub: outage on demand" 200 --cacert "$ca" -X POST "$eh/_sim/outage?for=60s"
check "eventhub: during an outage -> 503" 503 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary "$(batch 7 "$bid7")"
check "eventhub: outage ended on demand" 200 --cacert "$ca" -X DELETE "$eh/_sim/outage"
check "eventhub: drop the next accepted answers" 200 --cacert "$ca" -X POST "$eh/_sim/faults?drop_after_accept=1"
before=$(stat "$eh" arrivals)
code=0
curl -s -o /dev/null --cacert "$ca" -X POST "$eh/bids/messages" -H "Authorization: $good" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")" || code=$?
expect "eventhub: dropped answer: no response (curl exit 52, got $code)" test "$code" = 52
expect "eventhub: ...but the send was recorded" test "$(stat "$eh" arrivals)" = $((before + 1))
check "eventhub: faults off again" 200 --cacert "$ca" -X POST "$eh/_sim/faults?drop_after_accept=0"
check "eventhub: redelivery after the drop -> 201" 201 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary "$(batch 7 "$bid7")"
check "eventhub: poison an event on demand" 200 --cacert "$ca" -X POST "$eh/_sim/poison?event_id=bid.placed-8000001"
check "eventhub: a send with the poison event -> 400" 400 --cacert "$ca" -X POST "$eh/bids/messages" \
  -H "Authorization: $good" "${ct[@]}" --data-binary "$(batch 8 "$bid8")"
check "eventhub: poison cleared" 200 --cacert "$ca" -X DELETE "$eh/_sim/poison"
expect "eventhub: stats count 413, 400s, 401s" test "$(stat "$eh" too_large mixed_partition_keys expired_tokens dropped_after_accept outage_rejections)" = "1 1 1 1 1"

# Scheduled outage (plain HTTP, drop mode): unanswered at first, then served.
start eh2 eventhub --listen 127.0.0.1:0 --hub bids --key-name send --key k \
  --outage 0s+1500ms --outage-mode drop --out "$work/eh2.jsonl"
eh2="http://127.0.0.1:$PORT_eh2"
tok2=$(sas "$eh2/bids" send k $((now + 3600)))
code=0
curl -s -o /dev/null -X POST "$eh2/bids/messages" -H "Authorization: $tok2" "${ct[@]}" \
  --data-binary "$(batch 7 "$bid7")" || code=$?
expect "eventhub: scheduled outage in drop mode closes unanswered (exit 52, got $code)" test "$code" = 52
got=""
for _ in $(seq 1 100); do
  got=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$eh2/bids/messages" -H "Authorization: $tok2" \
    "${ct[@]}" --data-binary "$(batch 7 "$bid7")" || true)
  [ "$got" = 201 ] && break
  sleep 0.1
done
expect "eventhub: after the scheduled outage -> 201" test "$got" = 201

# -- HubSpot -------------------------------------------------------------------
echo "bid.placed-8000009" > "$work/fail-ids"
start hs hubspot --listen 127.0.0.1:0 "${tls[@]}" --token hs-token --rate-limit 8/30s \
  --poison gavel_event_id=bid.placed-8000002 --fail-ids-file "$work/fail-ids" --out "$work/hs.jsonl"
hs="https://127.0.0.1:$PORT_hs"
upsert="$hs/crm/v3/objects/p_auction_events/batch/upsert"
hjson=(-H 'Content-Type: application/json')
input() { # EVENT_ID AUCTION SEQ
  echo "{\"idProperty\":\"gavel_event_id\",\"id\":\"$1\",\"properties\":{\"gavel_event_id\":\"$1\",\"gavel_event_type\":\"bid.placed\",\"auction_id\":\"$2\",\"bid_sequence\":\"$3\"}}"
}
check "hubspot: no token -> 401" 401 --cacert "$ca" -X POST "$upsert" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000001 8 2)]}"
expect "hubspot: 401 in HubSpot's shape" grep -q '"category":"INVALID_AUTHENTICATION"' "$work/body"
auth=(-H 'Authorization: Bearer hs-token')
check "hubspot: good batch -> 200" 200 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000001 8 2)]}"
expect "hubspot: 200 body COMPLETE with results" grep -q '"status":"COMPLETE"' "$work/body"
expect "hubspot: rate-limit headers" grep -qi '^X-HubSpot-RateLimit-Remaining: 7' "$work/headers"
check "hubspot: poison property -> 207" 207 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000002 8 3),$(input bid.placed-8000003 8 4)]}"
expect "hubspot: 207 names the rejected record" $py -c "
import json,sys; b=json.load(open('$work/body'))
assert b['numErrors']==1 and b['errors'][0]['context']['ids']==['bid.placed-8000002']
assert [r['properties']['gavel_event_id'] for r in b['results']]==['bid.placed-8000003']"
check "hubspot: id from --fail-ids-file -> 207" 207 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000009 8 10)]}"
$py -c "import json; print(json.dumps({'inputs':[{'id':str(i),'properties':{}} for i in range(101)]}))" > "$work/101.json"
check "hubspot: 101 inputs -> 400" 400 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data-binary "@$work/101.json"
check "hubspot: batch conflict mode" 200 --cacert "$ca" -X POST "$hs/_sim/poison?conflict_mode=batch"
check "hubspot: a batch with a poison record -> 409" 409 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000002 8 3),$(input bid.placed-8000004 8 5)]}"
check "hubspot: the clean half of the split -> 200" 200 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000004 8 5)]}"
# 6 admitted so far in this window (401 does not count); 2 more fill it.
for i in 1 2; do
  check "hubspot: request $i within the limit -> 200" 200 --cacert "$ca" -X POST "$upsert" "${auth[@]}" \
    "${hjson[@]}" --data "{\"inputs\":[$(input bid.placed-8000001 8 2)]}"
done
check "hubspot: over the limit -> 429" 429 --cacert "$ca" -X POST "$upsert" "${auth[@]}" "${hjson[@]}" \
  --data "{\"inputs\":[$(input bid.placed-8000001 8 2)]}"
expect "hubspot: 429 body has TEN_SECONDLY_ROLLING" grep -q '"policyName":"TEN_SECONDLY_ROLLING"' "$work/body"
expect "hubspot: 429 has Retry-After" grep -qi '^Retry-After: [1-9]' "$work/headers"
expect "hubspot: 429 has X-HubSpot-RateLimit-Max: 8" grep -qi '^X-HubSpot-RateLimit-Max: 8' "$work/headers"
expect "hubspot: stats: one 429, 10 requests in the busiest window, 8 admitted" \
  test "$(stat "$hs" rate_limited max_requests_in_window max_admitted_in_window)" = "1 10 8"

start hs2 hubspot --listen 127.0.0.1:0 --token t --drop-after-accept 1 --out "$work/hs2.jsonl"
code=0
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT_hs2/crm/v3/objects/deals/batch/upsert" \
  -H 'Authorization: Bearer t' "${hjson[@]}" --data "{\"inputs\":[$(input bid.placed-1 1 2)]}" || code=$?
expect "hubspot: drop-after-accept: no response (exit 52, got $code)" test "$code" = 52
expect "hubspot: ...but the record was accepted" test "$(stat "http://127.0.0.1:$PORT_hs2" arrivals)" = 1
check "hubspot: throttle on demand" 200 -X POST "http://127.0.0.1:$PORT_hs2/_sim/throttle?for=5s"
check "hubspot: throttled -> 429" 429 -X POST "http://127.0.0.1:$PORT_hs2/crm/v3/objects/deals/batch/upsert" \
  -H 'Authorization: Bearer t' "${hjson[@]}" --data "{\"inputs\":[$(input bid.placed-1 1 2)]}"
expect "hubspot: throttle's Retry-After counts down from 5" grep -qi '^Retry-After: [1-5]' "$work/headers"
check "hubspot: rate limit changed at run time" 200 -X POST "http://127.0.0.1:$PORT_hs2/_sim/rate_limit?limit=50/10s"
expect "hubspot: ...and reported" grep -q '"max":50,"window_ms":10000' "$work/body"

# -- sim receive over TLS --------------------------------------------------------
secret="whsec_$($py -c 'import base64; print(base64.b64encode(b"0123456789abcdef0123456789abcdef").decode())')"
start rcv receive --listen 127.0.0.1:0 "${tls[@]}" --secret "$secret" --out "$work/rcv.jsonl" \
  --poison-event-id auction.opened-7
ts=$(date +%s)
whsig=$($py - "$secret" "$ts" "$bid8" <<'PY'
import base64, hashlib, hmac, sys
secret, ts, body = sys.argv[1:]
key = base64.b64decode(secret[len("whsec_"):])
print("v1," + base64.b64encode(hmac.new(key, f"bid.placed-8000001.{ts}.{body}".encode(), hashlib.sha256).digest()).decode())
PY
)
check "receive: signed webhook over https -> 204" 204 --cacert "$ca" -X POST "https://127.0.0.1:$PORT_rcv/hook" \
  -H 'Content-Type: application/json' -H 'webhook-id: bid.placed-8000001' -H "webhook-timestamp: $ts" \
  -H "webhook-signature: $whsig" --data-binary "$bid8"
whsig=$($py - "$secret" "$ts" "$open7" <<'PY'
import base64, hashlib, hmac, sys
secret, ts, body = sys.argv[1:]
key = base64.b64decode(secret[len("whsec_"):])
print("v1," + base64.b64encode(hmac.new(key, f"auction.opened-7.{ts}.{body}".encode(), hashlib.sha256).digest()).decode())
PY
)
check "receive: poison event -> 422" 422 --cacert "$ca" -X POST "https://127.0.0.1:$PORT_rcv/hook" \
  -H 'Content-Type: application/json' -H 'webhook-id: auction.opened-7' -H "webhook-timestamp: $ts" \
  -H "webhook-signature: $whsig" --data-binary "$open7"

# -- the arrival logs are sim verify's input ------------------------------------
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
expect "eventhub: arrivals carry partition and partition_key" grep -q '"partition":[0-3],"partition_key":"7"' "$work/eh.jsonl"
expect "eventhub: no rejected send was recorded" test "$(grep -c . "$work/eh.jsonl")" = 6
cat > "$work/acks.jsonl" <<ACKS
{"event_id":"auction.opened-7","event_type":"auction.opened","auction_id":7,"status":"accepted","http":202,"bid_sequence":1,"t_sent_ms":1,"t_ack_ms":2}
{"event_id":"bid.placed-7000001","event_type":"bid.placed","auction_id":7,"status":"accepted","http":202,"bid_sequence":2,"t_sent_ms":1,"t_ack_ms":2}
{"event_id":"auction.closed-7","event_type":"auction.closed","auction_id":7,"status":"accepted","http":202,"bid_sequence":2,"t_sent_ms":1,"t_ack_ms":2}
{"event_id":"bid.placed-8000001","event_type":"bid.placed","auction_id":8,"status":"accepted","http":202,"bid_sequence":2,"t_sent_ms":1,"t_ack_ms":2}
ACKS
# Auction 8 is only a bid (its opening was never sent): verify auction 7, whose
# log has open, bid, close and two redeliveries of the bid.
grep -v '"auction_id":8' "$work/eh.jsonl" > "$work/eh7.jsonl"
grep -v '"auction_id":8' "$work/acks.jsonl" > "$work/acks7.jsonl"
if "$bin/sim" verify --acks "$work/acks7.jsonl" --arrivals "$work/eh7.jsonl" --report "$work/verify.json" \
  --expect-closed > "$work/verify.out" 2>&1; then
  echo "ok   sim verify reads eventhub arrivals (redeliveries: $($py -c "import json; print(json.load(open('$work/verify.json'))['redeliveries'])"))"
else
  echo "FAIL sim verify on eventhub arrivals: $(cat "$work/verify.out")"
  fails=$((fails + 1))
fi
expect "hubspot: the 5 accepted records recorded, rejected ones not" test "$(grep -c . "$work/hs.jsonl")" = 5
expect "hubspot: poison records never recorded" bash -c "! grep -q 'bid.placed-8000002\\|bid.placed-8000009' '$work/hs.jsonl'"
expect "receive: arrival recorded with sig_ok" grep -q '"sig_ok":true,"webhook_id":"bid.placed-8000001"' "$work/rcv.jsonl"
expect "receive: the poison event was not recorded" test "$(grep -c . "$work/rcv.jsonl")" = 1

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all emulator checks passed"
