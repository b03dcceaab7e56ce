#!/usr/bin/env bash
# Builds the unit and actor test binaries with AddressSanitizer and UBSan
# (GAVEL_ASAN=ON, no jemalloc) into build-asan/ and runs them under CTest,
# which starts the same throwaway PostgreSQL fixture as the normal suite.
#
#   scripts/sanitize.sh            protocols, adapters and actors suites
#   scripts/sanitize.sh -R actors  any other ctest selection
#   scripts/sanitize.sh --faults [ROUNDS]
#                                  the sanitized gavel and sim through the fault
#                                  tests: db_faults proxy/restart/terminate
#                                  (ROUNDS each, default 2), postmaster_kill,
#                                  kill9_burst, disk_full, and the inboxes'
#                                  burst through SIGKILLs (inbox_postgres,
#                                  inbox_mysql on a throwaway MariaDB), and
#                                  a backfill with its client and Gavel
#                                  killed mid-way (10,000 events); its
#                                  slower timing opens windows the normal
#                                  build hides
#
# Any sanitizer report fails the run: UBSan halts on the first error with a
# stack trace; LeakSanitizer reports at exit. tests/ubsan.supp and
# tests/lsan.supp list the reports that belong to CAF or libpqxx, each with
# its reason; anything else is ours to fix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f build-asan/build.ninja ]; then
  # -O1 -g1: the usual sanitizer trade (ASan's own advice), and at -O2 with
  # full debug info the CAF and Beast sources take several times longer to
  # compile. No NDEBUG: assertions stay on.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DGAVEL_ASAN=ON "${launcher[@]}"
fi
if [ "${1:-}" = --faults ]; then
  rounds=${2:-2}
  cmake --build build-asan -j"$jobs" --target gavel sim
  reports=$(mktemp -d /tmp/gavel-sanitizer.XXXXXX)
  # Reports go to files: a sanitized gavel that aborts fails its test, and one
  # that reports without aborting is caught here. Leak checks stay with the
  # unit suites (a killed process never reaches its exit-time check).
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/ubsan.supp:log_path=$reports/ubsan"
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$reports/asan"
  export GAVEL_FAULT_EVENTS=${GAVEL_FAULT_EVENTS:-3000}
  for mode in proxy restart terminate; do
    bash tests/e2e/db_faults.bash build-asan/bin "$mode" "$rounds"
  done
  for t in postmaster_kill kill9_burst disk_full; do
    rc=0
    bash "tests/e2e/$t.sh" build-asan/bin || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || exit "$rc"
  done
  bash tests/e2e/inbox_postgres.sh build-asan/bin
  bash tests/e2e/backfill.sh build-asan/bin --events "${GAVEL_FAULT_BACKFILL_EVENTS:-10000}"
  export GAVEL_TEST_MYSQL_DIR=$PWD/build-asan/test-mysql
  trap 'bash scripts/test-mysql.sh stop "$GAVEL_TEST_MYSQL_DIR" >/dev/null 2>&1 || true' EXIT
  bash scripts/test-mysql.sh start "$GAVEL_TEST_MYSQL_DIR"
  bash tests/e2e/inbox_mysql.sh build-asan/bin
  if [ -n "$(ls -A "$reports")" ]; then
    echo "sanitize: reports in $reports:" >&2
    cat "$reports"/* >&2
    exit 1
  fi
  echo "sanitize: fault tests passed under ASan and UBSan, no report"
  exit 0
fi
# Only what the three suites link, in one build so the targets share -j.
cmake --build build-asan -j"$jobs" --target gavel_test_protocols gavel_test_adapters \
  gavel_test_actors
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/ubsan.supp}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_init_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
if [ $# -eq 0 ]; then
  set -- -R '^(protocols|adapters|actors)$'
fi
cd build-asan
# Sanitized binaries run several times slower: a longer per-test timeout.
ctest --output-on-failure --timeout 1800 "$@"
