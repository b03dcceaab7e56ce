#!/usr/bin/env bash
# Overload (ADR 0014): 2,000 connections posting batches of 100, shed by time;
# no request unanswered or timed out, RSS bounded, every ack delivered. The
# CI form is about 20 s of overload; `--events N` makes it longer (the soak
# test, ctest -L soak). (usage: overload.sh BIN_DIR [--events N])
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# 2,000 client sockets and as many server ones.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 "$here/overload_drive.py" "$@"
