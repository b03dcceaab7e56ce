-- name: dead letters
-- Events a destination gave up on (status 'dead': a permanent failure) and the
-- later events of the same auction held behind them (status 'parked'), with
-- the exact bytes, so the outbox's retention never decides their fate.
create table dead_letters (
  destination  text not null,
  position     bigint not null,
  auction_id   bigint not null,
  event_id     text not null,
  event_type   text not null,
  bid_sequence bigint not null,
  status       text not null check (status in ('dead', 'parked')),
  reason       text not null,
  attempts     integer not null,
  http_status  integer not null default 0,
  envelope     text not null,
  created_at   timestamptz not null default now(),
  primary key (destination, position)
);
create index dead_letters_auction on dead_letters (destination, auction_id, position);
