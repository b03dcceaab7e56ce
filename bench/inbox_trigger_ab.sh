#!/usr/bin/env bash
# A/B of the PostgreSQL inbox trigger's variants (adapters/postgres/inbox.sql,
# ADR 0023): pgbench inserting one inbox row per transaction, 16 clients,
# fsync on, on a throwaway cluster with no Gavel; the reader marked busy, so
# no variant sends a NOTIFY: what is measured is the trigger's own cost.
#   none       no trigger
#   plain      plpgsql, invoker's rights, no handler
#   exception  security definer, pinned search_path, any error reading the
#              flag caught (what inbox.sql creates)
#   regclass   the same, the table's absence looked up instead of caught
# Usage: bench/inbox_trigger_ab.sh [ROUNDS] [SECONDS]   (2 rounds of 15 s)
# Writes bench/reports/inbox-trigger-ab.md. Run it on an idle machine.
set -euo pipefail
rounds=${1:-2}
seconds=${2:-15}
here=$(cd "$(dirname "$0")" && pwd)
PG=/usr/lib/postgresql/15/bin
d=$(mktemp -d)
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$d"
chmod 755 "$d"
cleanup() { as $PG/pg_ctl -D "$d/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$d"; }
trap cleanup EXIT
as $PG/initdb -D "$d/data" -A trust >/dev/null
as $PG/pg_ctl -D "$d/data" -o "-k $d -c listen_addresses='' -p 5499" -l "$d/log" -w start >/dev/null
sql() { psql -X -q -h "$d" -p 5499 -U postgres -d postgres -c "$1" >/dev/null 2>&1; }
echo "insert into gavel_inbox (event) values ('{\"event_type\":\"bid.placed\",\"data\":{\"auction_id\":1,\"bid_id\":1}}');" >"$d/ins.sql"
chmod 644 "$d/ins.sql"
base="drop table if exists gavel_inbox, gavel_inbox_reader cascade; drop function if exists gavel_inbox_notify();
create table gavel_inbox (id bigint generated always as identity primary key, event text not null, created_at timestamptz not null default clock_timestamp());
create table gavel_inbox_reader (one boolean primary key default true check (one), waiting boolean not null default false);
insert into gavel_inbox_reader values (true, false);"
notify="if coalesce(s, true) then perform pg_notify('gavel_inbox', ''); end if; return null; end \$\$;"
declare -A body
body[plain]="language plpgsql as \$\$ declare s boolean; begin select r.waiting into s from gavel_inbox_reader r limit 1; $notify"
body[exception]="language plpgsql security definer set search_path from current as \$\$ declare s boolean; begin begin select r.waiting into s from gavel_inbox_reader r limit 1; exception when others then s := null; end; $notify"
body[regclass]="language plpgsql security definer set search_path from current as \$\$ declare s boolean; begin if to_regclass('gavel_inbox_reader') is not null then select r.waiting into s from gavel_inbox_reader r limit 1; end if; $notify"
variants=(none plain exception regclass)
declare -A results
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    sql "$base"
    if [ "$v" != none ]; then
      sql "create function gavel_inbox_notify() returns trigger ${body[$v]}"
      sql "create trigger gavel_inbox_notify after insert on gavel_inbox for each statement execute function gavel_inbox_notify();"
    fi
    sql "checkpoint"
    tps=$(as $PG/pgbench -n -c 16 -j 2 -T "$seconds" -f "$d/ins.sql" -h "$d" -p 5499 -U postgres postgres 2>/dev/null |
      grep -oP 'tps = \K[0-9]+' | head -1)
    echo "round $round $v: $tps commits/s"
    results[$v]="${results[$v]:-}${results[$v]:+, }$tps"
  done
done
{
  echo "# inbox-trigger-ab: the inbox trigger's own cost"
  echo
  echo "Machine: $(nproc) cores, kernel $(uname -r); load $(cut -d' ' -f1 /proc/loadavg) after;" \
    "commit $(git -C "$here" rev-parse --short=12 HEAD)."
  echo
  echo "Run: \`bench/inbox_trigger_ab.sh $rounds $seconds\` — pgbench, 16 clients, one inbox row per"
  echo "transaction, fsync on, a throwaway PostgreSQL 15 cluster, no Gavel; the reader is marked"
  echo "busy, so no variant sends a NOTIFY. Rounds alternate the variants, so drift hits all."
  echo
  echo "| variant | commits/s per round |"
  echo "|---|---|"
  for v in "${variants[@]}"; do echo "| \`$v\` | ${results[$v]} |"; done
} >"$here/reports/inbox-trigger-ab.md"
echo "wrote $here/reports/inbox-trigger-ab.md"
