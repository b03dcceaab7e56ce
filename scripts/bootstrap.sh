#!/usr/bin/env bash
# Installs every Debian 12 package Gavel needs to build, run and test.
# Idempotent: packages already present are skipped.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang-format clang-tidy ccache
  clang-14 libclang-rt-14-dev # libFuzzer (-fsanitize=fuzzer) for scripts/fuzz.sh
  libcaf-dev libpqxx-dev libpq-dev libmariadb-dev libboost-dev libboost-system-dev libboost-filesystem-dev libssl-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libcurl4-openssl-dev libjemalloc-dev
  postgresql-15 postgresql-client-15
  mariadb-server # the mysql_inbox tests' throwaway server (scripts/test-mysql.sh)
  curl openssl procps
  python3-prometheus-client python3-aiosmtpd
  python3-psycopg2 python3-pymysql # the inbox e2e tests write as the platform does
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi
echo "bootstrap: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
