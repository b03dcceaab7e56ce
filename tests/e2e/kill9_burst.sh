#!/usr/bin/env bash
# End to end, real PostgreSQL and real HTTP on loopback: 100 auctions, 20,000
# events from 16 concurrent connections; Gavel is killed with -9 in the middle
# of the burst and restarted. sim verify then proves: every acknowledged event
# arrived, per-auction order intact, sequences gap-free from 1,
# closed.bid_sequence == total_bid_count + 1, duplicates only with identical
# bytes, and the redeliveries stay within the bound of ADR 0012 (what was in
# flight plus one 200 ms position interval of deliveries: at this burst's
# rate of at most ~5,000 events/s, 1,000 plus in flight; 1,500 allowed).
# (usage: kill9_burst.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gavel-e2e-kill9.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
bash "$here/../../scripts/run-burst.sh" "$1" "$work" --auctions 100 --events 20000 \
  --connections 16 --kill9 --max-redeliveries 1500
