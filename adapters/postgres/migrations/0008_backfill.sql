-- name: backfill lanes and jobs
-- Backfill (DESIGN §1.10, ADR 0027). An auction first seen from a backfill
-- is `backfilled` for good, and every outbox row of it carries `backfill`:
-- destinations take live rows first and those with `backfill = false` skip
-- the whole auction, so what they see of any auction is all of it or none.
-- Adding a column with a constant default is a catalogue change only.
alter table outbox add column backfill boolean not null default false;
alter table auctions add column backfilled boolean not null default false;

-- One row per backfill job: the file it reads (size and SHA-256 of its
-- first MiB: a different file under the same job name is refused), the run
-- that may move it (each start of the job takes the next number), the
-- checkpoint (byte offset and records of the file's prefix that is stored;
-- it moves only after what it covers is committed) and the job's counts.
create table backfill_jobs (
  job          text primary key,
  source       text not null,
  file_size    bigint not null,
  file_print   text not null,
  run          integer not null default 1,
  file_offset  bigint not null default 0,
  records      bigint not null default 0,
  accepted     bigint not null default 0,
  duplicate    bigint not null default 0,
  rejected     jsonb not null default '{}'::jsonb,
  started_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  finished_at  timestamptz
);
