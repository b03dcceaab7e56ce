-- The transactional inbox in the platform's PostgreSQL (DESIGN §1.7,
-- docs/inbox.md). The platform inserts one row per event in the same
-- transaction as the bid; Gavel reads committed rows, stores them in its
-- outbox and then deletes them. Safe to run again: it creates only what is
-- missing and takes no lock that the platform's inserts would wait on.

-- event is text, not json/jsonb: Gavel validates the bytes the platform
-- wrote exactly as the HTTP ingest does (jsonb would drop a repeated key
-- and reorder the object), and a bad event must not fail the bid's own
-- transaction, so there is no check constraint either: it is rejected later.
-- created_at is the insert's own clock time (not now(), the transaction's
-- start), the closest the default can get to the commit: the start of the
-- propagation latency.
create table if not exists gavel_inbox (
  id bigint generated always as identity primary key,
  event text not null,
  created_at timestamptz not null default clock_timestamp()
);

-- Rows that failed validation, with the reason; id is the inbox row's.
create table if not exists gavel_inbox_rejected (
  id bigint primary key,
  event text not null,
  reason text not null,
  rejected_at timestamptz not null default now()
);

-- Whether Gavel's reader is asleep, waiting for a NOTIFY (one row). A
-- transaction that sends a NOTIFY takes a database-wide lock from just
-- before its commit until after it, so notifying transactions commit one at
-- a time: a NOTIFY on every bid would cap the platform's commit rate. The
-- trigger notifies only while the reader sleeps; while it is busy it reads
-- again anyway (docs/adr/0023-inbox-notify-only-a-sleeping-reader.md).
create table if not exists gavel_inbox_reader (
  one boolean primary key default true check (one),
  waiting boolean not null default true
);
insert into gavel_inbox_reader (one, waiting) values (true, true)
  on conflict (one) do nothing;

-- Wakes the reader (LISTEN gavel_inbox) when it sleeps. NOTIFY is delivered
-- at commit and never for a rolled-back transaction, and one per statement
-- is enough: the reader reads everything committed when it wakes.
-- It must never fail the bid's transaction: it runs as its owner (who
-- created gavel_inbox_reader, so the platform's role needs no grant on it),
-- with the search_path it was created under, and when the flag cannot be
-- read (the row or the table gone) it notifies, as if the reader slept.
create or replace function gavel_inbox_notify() returns trigger
language plpgsql security definer set search_path from current as $$
declare
  sleeping boolean;
begin
  begin
    select r.waiting into sleeping from gavel_inbox_reader r limit 1;
  exception when others then
    sleeping := null;
  end;
  if coalesce(sleeping, true) then
    perform pg_notify('gavel_inbox', '');
  end if;
  return null;
end
$$;

-- create trigger takes a lock that blocks inserts while it runs: create it
-- only when it is missing.
do $$
begin
  if not exists (select 1 from pg_trigger
                 where tgname = 'gavel_inbox_notify'
                   and tgrelid = 'gavel_inbox'::regclass) then
    create trigger gavel_inbox_notify after insert on gavel_inbox
      for each statement execute function gavel_inbox_notify();
  end if;
end
$$;
