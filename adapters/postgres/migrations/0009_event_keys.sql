-- name: event_keys across every outbox partition
-- ADR 0028. A partition's unique index sees only its own day, so an
-- event_id stored yesterday for another auction would pass today's insert.
-- One row per stored event_id, written in the same statement as the outbox
-- row and removed with it by retention, makes the group commit itself the
-- check: it commits optimistically and only a refused commit is probed.
create table event_keys (
  event_id   text primary key,
  auction_id bigint not null
);
-- What is already stored (an event_id is unique per partition, and the
-- probe that guarded commits so far kept it unique across them).
insert into event_keys (event_id, auction_id)
select event_id, auction_id from outbox
on conflict (event_id) do nothing;
