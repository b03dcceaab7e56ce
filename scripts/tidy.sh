#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over first-party sources with
# the compile commands of build/ (scripts/build.sh writes them).
#
#   scripts/tidy.sh          the sources changed since the merge base with main
#                            (a changed header brings its .cpp); on main
#                            itself, those the newest commit changed
#   scripts/tidy.sh --all    every source of protocols/, adapters/, actors/,
#                            actors/cmd/ and sim/
#   scripts/tidy.sh FILE...  the given sources
#
# Exits 77 (skipped) in a clone that has neither main nor origin/main.
# Any finding fails the run (WarningsAsErrors in .clang-tidy). Tests and
# bench/ are left out: CAF's test macros expand into code the checks were not
# written for. TIDY_JOBS sets the parallelism (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
db=build/compile_commands.json
if [ ! -f "$db" ]; then
  echo "tidy: $db missing; run scripts/build.sh first" >&2
  exit 2
fi
tidy=$(command -v clang-tidy || command -v clang-tidy-14 || true)
if [ -z "$tidy" ]; then
  echo "tidy: clang-tidy not installed (scripts/bootstrap.sh installs it)" >&2
  exit 2
fi
first_party='^(protocols|adapters(/[a-z_]+)*|actors|actors/api|actors/cmd|sim)/[^/]+\.cpp$'

files=()
if [ "${1:-}" = --all ]; then
  mapfile -t files < <(git ls-files -- '*.cpp' | grep -E "$first_party" || true)
elif [ $# -gt 0 ]; then
  files=("$@")
else
  base=""
  for ref in main origin/main; do
    if git rev-parse -q --verify "$ref" >/dev/null; then
      base=$(git merge-base HEAD "$ref")
      # On main itself (CI's checkout): what the newest commit changed; a
      # merge commit compares with its first parent, so a landed branch is
      # checked whole.
      if [ "$base" = "$(git rev-parse HEAD)" ]; then
        base=$(git rev-parse -q --verify HEAD~1 || true)
        [ -n "$base" ] || base=$(git hash-object -t tree /dev/null)
      fi
      break
    fi
  done
  if [ -z "$base" ]; then
    # A clone without main (a CI checkout of one branch): nothing to compare
    # with. 77 is CTest's skip (lint.tidy), not a pass.
    echo "tidy: no main branch to compare with; use --all" >&2
    exit 77
  fi
  # Committed and uncommitted changes alike; deleted files drop out below.
  mapfile -t changed < <({
    git diff --name-only "$base" -- '*.cpp' '*.hpp'
    git ls-files --others --exclude-standard -- '*.cpp' '*.hpp'
  } | sort -u)
  for f in "${changed[@]}"; do
    case "$f" in *.hpp) f=${f%.hpp}.cpp ;; esac
    [ -f "$f" ] && [[ "$f" =~ $first_party ]] && files+=("$f")
  done
  mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u | sed '/^$/d')
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "tidy: no first-party sources to check"
  exit 0
fi
jobs=${TIDY_JOBS:-$(nproc 2>/dev/null || echo 2)}
echo "tidy: ${#files[@]} file(s), $jobs at a time"
# GCC's warning flags in the compile commands mean nothing to clang.
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -n 1 "$tidy" -p build --quiet --extra-arg=-Wno-unknown-warning-option
echo "tidy: clean"
