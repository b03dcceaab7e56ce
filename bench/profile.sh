#!/usr/bin/env bash
# Profiles Gavel under a closed-loop burst: where its CPU time goes, for the
# "make it fast" work of issue 4. Not a benchmark (perf slows Gavel down).
#
#   bench/profile.sh [--bin DIR] [--events N] [--batch N] [--connections N] [--seconds S]
#                    [--rate R]   (open loop at R events/s; default closed loop)
#
# Starts Gavel (embedded PostgreSQL) and `sim receive` as bench/run.sh does,
# records `perf record -g` of the Gavel process for S seconds (default 15)
# while `sim burst` runs, and writes bench/reports/profile-<batch>.txt: the
# flat profile (self time by symbol), the top call chains, the PostgreSQL
# backends' CPU share, and the burst's figures. Needs perf
# (kernel.perf_event_paranoid <= 2 for a process of your own, or root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${GAVEL_BIN:-$repo/build/bin} events=100000 batch=1 conns=128 seconds=15 rate=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=(--rate "$2"); shift 2 ;;
    *) echo "profile: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$(cd "$bin" && pwd)
scenario=profile dest=webhook
work=${BENCH_WORK:-$here/work}/profile
reports=${BENCH_REPORTS:-$here/reports}
rm -rf "$work"; mkdir -p "$work" "$reports"; chmod 755 "$work"
source "$here/lib.sh"
secret="whsec_$(head -c 24 /dev/urandom | base64)"
token="prof-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
gavel_pid=""
cleanup() {
  local p
  [ -n "$gavel_pid" ] && stop_pid "$gavel_pid" 60
  for p in "${pids_to_stop[@]}"; do stop_pid "$p" 10; done
}
trap cleanup EXIT
start_dest main
start_gavel "$recv_addr"
"$bin/sim" burst --target "http://127.0.0.1:$gavel_port" --token "$token" --auctions 1000 \
  --events "$events" --batch "$batch" --connections "$conns" --seed 1 --quiet "${rate[@]}" \
  --acks "$work/acks.jsonl" --report "$work/burst.json" > "$work/burst.out" 2>&1 &
burst_pid=$!
sleep 2
pgcpu0=$(ps -u postgres -o cputimes= 2>/dev/null | awk '{s+=$1} END {print s+0}')
gcpu0=$(ps -p "$gavel_pid" -o cputimes= | awk '{print $1+0}')
perf record -F 499 -g -p "$gavel_pid" -o "$work/perf.data" -- sleep "$seconds" > "$work/perf.log" 2>&1 || true
pgcpu1=$(ps -u postgres -o cputimes= 2>/dev/null | awk '{s+=$1} END {print s+0}')
gcpu1=$(ps -p "$gavel_pid" -o cputimes= | awk '{print $1+0}')
wait "$burst_pid" || true
mode_text="closed loop"; [ ${#rate[@]} -gt 0 ] && mode_text="open loop at ${rate[1]} events/s"
out=$reports/profile-batch$batch${rate[1]:+-rate${rate[1]}}.txt
set +o pipefail # head closes the pipes early
{
  echo "# perf profile of gavel: $events events, batch $batch, $conns connections, $mode_text"
  echo "# $(date -u +%FT%TZ), $(nproc) CPUs, load $(loadavg), gavel built from $(git -C "$(dirname "$(dirname "$(dirname "$(realpath "$bin/gavel")")")")" rev-parse HEAD 2>/dev/null || echo ?)"
  echo "# CPU seconds during the ${seconds}s window: gavel $((gcpu1 - gcpu0)), all postgres processes $((pgcpu1 - pgcpu0))"
  echo
  cat "$work/burst.out"
  echo
  clean() { sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' | cut -c1-200; }
  echo "## self time by symbol (top 60)"
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol -g none 2>/dev/null | grep '%' | clean | head -60
  echo
  echo "## self time by shared object"
  perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep '%' | clean | head -20
  echo
  echo "## inclusive time (children), top 60"
  perf report -i "$work/perf.data" --stdio --children --sort symbol -g none 2>/dev/null | grep '%' | clean | head -60
  echo
  echo "## who sleeps and waits: callers of nanosleep, futex and epoll waits (caller graph)"
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol -G --percent-limit 2 \
    --symbol-filter=finish_task_switch 2>/dev/null | grep -v '^#' | grep -v '^$' | clean | head -80
} > "$out"
echo "profile: wrote $out"
