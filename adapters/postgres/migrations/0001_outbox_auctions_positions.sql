-- name: outbox, auctions, destination positions
create table auctions (
  auction_id      bigint primary key,
  last_sequence   bigint not null,
  total_bid_count bigint not null,
  heartbeat_count bigint not null,
  end_date        timestamptz,
  closed          boolean not null default false,
  current_price   text not null default '',
  updated_at      timestamptz not null default now()
);
create table outbox (
  position       bigint generated always as identity primary key,
  event_id       text not null unique,
  auction_id     bigint not null,
  event_type     text not null,
  bid_sequence   bigint not null,
  bid_id         bigint,
  bidder_user_id text,
  producer_ts    timestamptz not null,
  created_at     timestamptz not null default now(),
  envelope       text not null
);
create index outbox_auction_sequence on outbox (auction_id, bid_sequence);
-- The safety net under the auction actor: a sequence number is taken once.
create unique index outbox_sequence_taken on outbox (auction_id, bid_sequence)
  where event_type in ('auction.opened', 'bid.placed');
create index outbox_bidder on outbox (bidder_user_id) where bidder_user_id is not null;
create index outbox_created_at on outbox (created_at);
create table destination_positions (
  destination       text primary key,
  delivered_through bigint not null,
  updated_at        timestamptz not null default now()
);
