-- name: outbox partitioned by day of created_at (retention)
-- docs/adr/0005-outbox-retention.md. Retention drops whole daily partitions
-- (no row deletes, no long locks). Unique constraints of a partitioned table
-- must contain the partition key, so the primary key becomes
-- (position, created_at) (position alone stays unique: one sequence feeds
-- it), and event_id / (auction_id, bid_sequence) are unique per partition
-- (gavel_outbox_partition creates those indexes with each partition).
create sequence outbox_positions;
select setval('outbox_positions', coalesce((select max(position) from outbox), 0) + 1,
              false);
alter table outbox rename to outbox_legacy;
alter table outbox_legacy alter column position drop identity;
alter table outbox_legacy rename constraint outbox_pkey to outbox_legacy_position;
alter table outbox_legacy rename constraint outbox_event_id_key to outbox_legacy_event_id;
alter index outbox_sequence_taken rename to outbox_legacy_sequence_taken;
drop index outbox_auction_sequence;
drop index outbox_bidder;
drop index outbox_created_at;
-- The same columns as before (the old table becomes a partition, which needs
-- an exact match); position now takes its numbers from the sequence.
create table outbox (
  like outbox_legacy including defaults,
  primary key (position, created_at)
) partition by range (created_at);
alter table outbox alter column position set default nextval('outbox_positions');
alter sequence outbox_positions owned by outbox.position;
create index outbox_auction_sequence on outbox (auction_id, bid_sequence);
create index outbox_bidder on outbox (bidder_user_id) where bidder_user_id is not null;
create index outbox_created_at on outbox (created_at);

-- One day [day, day + 1) in UTC; idempotent. Returns whether it was created.
create function gavel_outbox_partition(day date) returns boolean
language plpgsql as $fn$
declare
  name text := 'outbox_p' || to_char(day, 'YYYYMMDD');
begin
  if to_regclass(name) is not null then
    return false;
  end if;
  execute format('create table %I partition of outbox for values from (%L) to (%L)',
                 name, day::timestamp at time zone 'UTC',
                 (day + 1)::timestamp at time zone 'UTC');
  -- The dedup and sequencing safety nets, per partition.
  execute format('create unique index %I on %I (event_id)', name || '_event_id', name);
  execute format('create unique index %I on %I (auction_id, bid_sequence) '
                 'where event_type in (''auction.opened'', ''bid.placed'')',
                 name || '_sequence_taken', name);
  return true;
end
$fn$;

-- Existing rows stay where they are: the old table becomes the partition of
-- everything before tomorrow (checked by a constraint first, so attaching
-- does not scan), and goes as a whole once retention allows. An empty one is
-- simply dropped.
do $do$
declare
  tomorrow date := (now() at time zone 'UTC')::date + 1;
  cut timestamptz := tomorrow::timestamp at time zone 'UTC';
begin
  if exists (select 1 from outbox_legacy) then
    execute format('alter table outbox_legacy add constraint outbox_legacy_range '
                   'check (created_at < %L)', cut);
    alter table outbox_legacy drop constraint outbox_legacy_position;
    execute format('alter table outbox attach partition outbox_legacy '
                   'for values from (minvalue) to (%L)', cut);
    alter table outbox_legacy drop constraint outbox_legacy_range;
    perform gavel_outbox_partition(d::date)
      from generate_series(tomorrow, tomorrow + 7, interval '1 day') as d;
  else
    drop table outbox_legacy;
    perform gavel_outbox_partition(d::date)
      from generate_series(tomorrow - 1, tomorrow + 7, interval '1 day') as d;
  end if;
end
$do$;
-- Never refuse an insert: a row for a day without a partition (maintenance
-- late) lands here; retention deletes such rows one by one.
create table outbox_default partition of outbox default;
create unique index outbox_default_event_id on outbox_default (event_id);
create unique index outbox_default_sequence_taken on outbox_default (auction_id, bid_sequence)
  where event_type in ('auction.opened', 'bid.placed');
