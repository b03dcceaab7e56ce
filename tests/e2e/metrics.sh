#!/usr/bin/env bash
# GET /metrics against a running Gavel (embedded PostgreSQL, `sim receive`,
# `sim burst`): every scrape parses with the Prometheus project's own text
# parser (Debian's python3-prometheus-client) and the ingest, store, delivery
# and lag series move as events flow. (usage: metrics.sh BIN_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/metrics_drive.py" "$1"
