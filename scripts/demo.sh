#!/usr/bin/env bash
# The main job: installs what is needed, builds, then runs Gavel on its
# embedded PostgreSQL with a sim webhook receiver and a simulated
# auction-close burst, and prints the report (sent, acknowledged, delivered,
# lost, out of order, latency percentiles).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build.sh
work=var/demo
rm -rf "$work"
mkdir -p "$work"
chmod 755 var "$work"
bash scripts/run-burst.sh build/bin "$work" --auctions "${AUCTIONS:-100}" \
  --events "${EVENTS:-20000}" --connections "${CONNECTIONS:-16}"
echo "report: $work/report.json (pipeline health: $work/pipeline.json)"
