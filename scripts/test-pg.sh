#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite (a CTest fixture, see
# tests/CMakeLists.txt).
#
#   scripts/test-pg.sh start   DIR PORT   fresh cluster in DIR (DIR is wiped first)
#   scripts/test-pg.sh stop    DIR PORT   immediate stop, then DIR is removed (idempotent)
#   scripts/test-pg.sh restart DIR PORT   fast stop and start, data kept (for tests
#                                         that prove durability across a restart)
#   scripts/test-pg.sh restart-immediate DIR PORT
#                                         immediate stop (crash recovery at start)
#   scripts/test-pg.sh status  DIR PORT   exit 0 when running
#
# The server listens only on the Unix socket DIR/sock/.s.PGSQL.PORT with trust
# authentication; connect with
#   postgresql:///postgres?host=DIR/sock&port=PORT&user=postgres
# fsync stays on: the durability tests need a server that really flushes.
# As root the server runs as the `postgres` user (PostgreSQL refuses root), who
# must be able to traverse every parent of DIR. PG_BIN overrides the binaries.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|restart|restart-immediate|status DIR PORT" >&2
  exit 2
}
[ $# -eq 3 ] || usage
cmd=$1
port=$3
case "$port" in
  '' | *[!0-9]*) echo "test-pg: PORT must be a number, got '$port'" >&2; exit 2 ;;
esac
# pg_ctl pastes the data and log paths into a /bin/sh command line in double
# quotes: refuse the characters that would still be interpreted there.
case "$2" in
  *'"'* | *'$'* | *'`'* | *'\'*)
    echo "test-pg: DIR must not contain \" \$ \` or \\: $2" >&2; exit 2 ;;
esac
given=$(realpath -m -s -- "$2")
dir=$(realpath -m -- "$2")
data=$dir/data
sock=$dir/sock
log=$dir/postgres.log

bindir=${PG_BIN:-}
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n | tail -n1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "test-pg: no PostgreSQL binaries (set PG_BIN or install postgresql)" >&2
  exit 1
fi

run_as=()
pg_user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  pg_user=postgres
  if ! id "$pg_user" >/dev/null 2>&1; then
    echo "test-pg: running as root, but there is no '$pg_user' user to run the server" >&2
    exit 1
  fi
  run_as=(runuser -u "$pg_user" --)
fi
# The server user's tools start in a directory it can enter.
pg() { (cd / && "${run_as[@]}" "$bindir/$1" "${@:2}"); }

running() {
  [ -f "$data/postmaster.pid" ] && pg pg_ctl -D "$data" status >/dev/null 2>&1
}

start_server() {
  if ! pg pg_ctl -D "$data" -l "$log" -w -t 60 start >/dev/null; then
    echo "test-pg: pg_ctl start failed; server log $log:" >&2
    tail -n 30 "$log" >&2 || true
    exit 1
  fi
}

stop_server() { # mode
  if running; then
    pg pg_ctl -D "$data" -m "$1" -w -t 60 stop >/dev/null
  fi
}

case "$cmd" in
  start)
    stop_server immediate 2>/dev/null || true
    rm -rf -- "$dir"
    mkdir -p -- "$sock"
    if [ "$(id -u)" -eq 0 ]; then
      chown "$pg_user:" "$dir" "$sock"
      if ! runuser -u "$pg_user" -- test -w "$dir" 2>/dev/null; then
        # A build tree the server user cannot reach (a clone in a private
        # mktemp directory, say): keep the cluster in a traversable place
        # under /tmp and leave a symlink at DIR. Root (the tests) follows it;
        # the server is only ever given the real path.
        rm -rf -- "$dir"
        real=/tmp/gavel-test-pg.$(printf '%s' "$given" | sha1sum | cut -c1-16)
        rm -rf -- "$real"
        mkdir -p -- "$real/sock"
        chmod 0755 "$real"
        chown "$pg_user:" "$real" "$real/sock"
        mkdir -p -- "$(dirname "$given")"
        ln -sfn -- "$real" "$given"
        dir=$real data=$real/data sock=$real/sock log=$real/postgres.log
        if ! runuser -u "$pg_user" -- test -w "$dir" 2>/dev/null; then
          echo "test-pg: the server runs as '$pg_user', who cannot write $dir" >&2
          exit 1
        fi
      fi
    fi
    chmod 0700 "$sock"
    if ! out=$(pg initdb -D "$data" -U postgres -A trust --encoding=UTF8 --locale=C.UTF-8 \
      --no-sync 2>&1); then
      if ! out2=$(pg initdb -D "$data" -U postgres -A trust --encoding=UTF8 --locale=C \
        --no-sync 2>&1); then
        echo "test-pg: initdb failed:" >&2
        echo "$out" >&2
        echo "$out2" >&2
        exit 1
      fi
    fi
    # Settings owned by this script (postgresql.conf quoting: '' escapes ').
    sock_conf=${sock//\'/\'\'}
    cat >>"$data/postgresql.conf" <<EOF

# test-pg.sh
listen_addresses = ''
unix_socket_directories = '$sock_conf'
unix_socket_permissions = 0700
port = $port
max_connections = 200
fsync = on
EOF
    start_server
    echo "postgresql:///postgres?host=$sock&port=$port&user=postgres"
    ;;
  stop)
    if [ -d "$data" ]; then
      stop_server immediate || true
    fi
    rm -rf -- "$dir"
    if [ -L "$given" ]; then rm -f -- "$given"; fi
    ;;
  restart)
    [ -f "$data/PG_VERSION" ] || { echo "test-pg: no cluster in $dir" >&2; exit 1; }
    stop_server fast
    start_server
    ;;
  restart-immediate)
    # A crash as far as the data is concerned: no checkpoint, WAL replayed.
    [ -f "$data/PG_VERSION" ] || { echo "test-pg: no cluster in $dir" >&2; exit 1; }
    stop_server immediate
    start_server
    ;;
  status)
    running
    ;;
  *) usage ;;
esac
