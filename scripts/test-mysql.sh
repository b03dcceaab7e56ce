#!/usr/bin/env bash
# A throwaway MariaDB server for the test suite (a CTest fixture, see
# tests/CMakeLists.txt), the MySQL the mysql_inbox tests run against.
#
#   scripts/test-mysql.sh start DIR   fresh server in DIR (DIR is wiped first)
#   scripts/test-mysql.sh stop  DIR   stops it, then DIR is removed (idempotent)
#
# The server listens on the Unix socket DIR/mysqld.sock and on 127.0.0.1 at a
# free port written to DIR/port; never on any other address. root has no
# password (connect over the socket); user `gavel` may connect over either
# with the password in GAVEL_TEST_MYSQL_PASSWORD. As root the server runs as
# the `mysql` user, who must be able to traverse every parent of DIR (when
# it cannot, the server lives under /tmp and DIR is a symlink to it).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
given=$(realpath -m -s -- "$2")
dir=$(realpath -m -- "$2")
password=${GAVEL_TEST_MYSQL_PASSWORD:-gavel}

for tool in mariadbd mariadb-install-db mariadb-admin mariadb; do
  if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
    echo "test-mysql: $tool not found (install mariadb-server: scripts/bootstrap.sh)" >&2
    exit 1
  fi
done
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

run_as=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id mysql >/dev/null 2>&1; then
    echo "test-mysql: running as root, but there is no 'mysql' user to run the server" >&2
    exit 1
  fi
  run_as=(runuser -u mysql --)
fi
# The server user's tools start in a directory it can enter.
as_server() { (cd / && "${run_as[@]}" "$@"); }

admin() { mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot "$@"; }

stop_server() {
  local pid
  pid=$(cat "$dir/mysqld.pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  admin shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  # mariadbd removes its pid file when it has stopped.
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
  start)
    stop_server || true
    rm -rf -- "$dir"
    mkdir -p -- "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      chown mysql: "$dir"
      if ! runuser -u mysql -- test -w "$dir" 2>/dev/null; then
        rm -rf -- "$dir"
        real=/tmp/gavel-test-mysql.$(printf '%s' "$given" | sha1sum | cut -c1-16)
        rm -rf -- "$real"
        mkdir -p -- "$real"
        chown mysql: "$real"
        mkdir -p -- "$(dirname "$given")"
        ln -sfn -- "$real" "$given"
        dir=$real
        if ! runuser -u mysql -- test -w "$dir" 2>/dev/null; then
          echo "test-mysql: the server runs as 'mysql', who cannot write $dir" >&2
          exit 1
        fi
      fi
    fi
    # Only the server user (and root) may reach the socket and the data.
    chmod 0700 "$dir"
    if ! out=$(as_server mariadb-install-db --no-defaults --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db 2>&1); then
      echo "test-mysql: mariadb-install-db failed:" >&2
      echo "$out" >&2
      exit 1
    fi
    # A free loopback port; if another process takes it first the server
    # fails to bind and the next one is tried.
    started=
    for attempt in 1 2 3 4 5; do
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      # --no-defaults: nothing from /etc/mysql; small buffers for a test box.
      as_server "$mariadbd" --no-defaults --datadir="$dir/data" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/mysqld.log" --bind-address=127.0.0.1 --port="$port" \
        --skip-name-resolve --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
        --max-connections=200 </dev/null >/dev/null 2>&1 &
      server=$!
      deadline=$((SECONDS + 60))
      while [ $SECONDS -lt $deadline ] && kill -0 "$server" 2>/dev/null; do
        if admin ping >/dev/null 2>&1; then
          started=1
          break
        fi
        sleep 0.1
      done
      [ -n "$started" ] && break
      kill "$server" 2>/dev/null || true
      wait "$server" 2>/dev/null || true
    done
    if [ -z "$started" ]; then
      echo "test-mysql: mariadbd did not start; log $dir/mysqld.log:" >&2
      tail -n 30 "$dir/mysqld.log" >&2 || true
      exit 1
    fi
    echo "$port" >"$dir/port"
    sql_password=${password//\\/\\\\}
    sql_password=${sql_password//\'/\\\'}
    # root keeps only its passwordless socket login.
    mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot <<SQL
delete from mysql.global_priv where user = 'root' and host <> 'localhost';
flush privileges;
create user 'gavel'@'localhost' identified by '$sql_password';
create user 'gavel'@'127.0.0.1' identified by '$sql_password';
grant all on *.* to 'gavel'@'localhost';
grant all on *.* to 'gavel'@'127.0.0.1';
SQL
    echo "mysql://root@localhost/mysql?socket=$dir/mysqld.sock"
    ;;
  stop)
    stop_server
    rm -rf -- "$dir"
    if [ -L "$given" ]; then rm -f -- "$given"; fi
    ;;
  *) usage ;;
esac
