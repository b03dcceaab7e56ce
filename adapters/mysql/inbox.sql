-- The transactional inbox in the platform's MySQL or MariaDB (DESIGN §1.7,
-- docs/inbox.md). The platform inserts one row per event in the same
-- transaction as the bid; Gavel reads committed rows, stores them in its
-- outbox and then deletes them. Safe to run again: it creates only what is
-- missing. InnoDB: the insert must commit or roll back with the bid.

-- event is longtext, not JSON: MySQL's JSON type rewrites the document
-- (drops a repeated key, reorders keys, turns numbers into doubles), and
-- Gavel validates the bytes the platform wrote exactly as the HTTP ingest
-- does. No JSON check either: a bad event must not fail the bid's own
-- transaction; it is rejected later, with its reason. created_at is the
-- insert statement's time, the start of the propagation latency.
create table if not exists gavel_inbox (
  id bigint not null auto_increment primary key,
  event longtext character set utf8mb4 collate utf8mb4_bin not null,
  created_at timestamp(6) not null default current_timestamp(6)
) engine = InnoDB;

-- Rows that failed validation, with the reason; id is the inbox row's.
create table if not exists gavel_inbox_rejected (
  id bigint not null primary key,
  event longtext character set utf8mb4 collate utf8mb4_bin not null,
  reason text character set utf8mb4 not null,
  rejected_at timestamp(6) not null default current_timestamp(6)
) engine = InnoDB;
