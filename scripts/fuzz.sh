#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, ADR 0015) with clang, ASan and
# UBSan into build-fuzz/ and runs each one for a bounded time on a scratch
# copy of its seed corpus (tests/fuzz/corpus/<target>/ stays as committed).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   default 20 s each, every target
#
# Exits non-zero when a target crashes, leaks, trips a sanitizer or fails one
# of its own checks; the reproducer is kept as build-fuzz/crashes/<target>/
# (crash-*, leak-*, timeout-*): run build-fuzz/bin/fuzz_<target> FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
bash scripts/bootstrap.sh >/dev/null
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f build-fuzz/build.ninja ]; then
  # Only the libraries the targets link are built (GAVEL_FUZZ): no CAF code.
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DGAVEL_FUZZ=ON -DBUILD_TESTING=OFF "${launcher[@]}"
fi
cmake --build build-fuzz -j"$(nproc 2>/dev/null || echo 2)" --target fuzz_targets

if [ $# -eq 0 ]; then
  set -- $(cd tests/fuzz && ls *.cpp | sed 's/\.cpp$//')
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "$@"; do
  corpus=$scratch/$target
  crashes=$PWD/build-fuzz/crashes/$target
  mkdir -p "$corpus" "$crashes"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  echo "fuzz: $target for ${seconds}s"
  # -rss_limit_mb: ASan's shadow plus a 4 MB body limit stay far below it; a
  # target that grows past it is a leak or an unbounded allocation.
  if ! build-fuzz/bin/fuzz_"$target" "$corpus" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
    >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log"
    failed+=("$target")
  else
    grep -E '^stat::number_of_executed_units|^Done' "$scratch/$target.log" | tr '\n' ' '
    echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (reproducers in build-fuzz/crashes/)" >&2
  exit 1
fi
echo "fuzz: ${#} targets passed, ${seconds}s each"
