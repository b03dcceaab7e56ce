-- name: reconciliation pull API: commit-safe order, bid timestamps, indexes
-- docs/adr/0020-pull-api-and-digests.md. `xid` is the writing transaction's
-- id: pages run in (xid, position) order and stop below the oldest
-- transaction still running, so a row committed late is never passed over.
-- Rows stored before this migration read '0' (a constant default is
-- instant, no rewrite): every one of them was committed long before any
-- reader can ask. New rows take the real id.
alter table outbox add column xid xid8 not null default '0';
alter table outbox alter column xid set default pg_current_xact_id();
-- data.bid_timestamp of a bid.placed, written by the store (bid_from/bid_to).
alter table outbox add column bid_ts timestamptz;
-- Storage order: pages without an auction_id.
create index outbox_storage_order on outbox (xid, position);
-- event_type pages of the rare types (opened, closed, heartbeats) without
-- walking every bid; bids, the bulk, skip this index (no write cost).
create index outbox_type_order on outbox (event_type, xid, position)
  where event_type <> 'bid.placed';
-- GET /v1/auctions: auctions by opened_at (one row per auction).
create index outbox_opened on outbox (producer_ts, auction_id)
  where event_type = 'auction.opened';
-- from/to and bid_from/bid_to: both follow insertion order closely, so a
-- block-range index prunes a window at almost no cost per insert; each
-- range is summarised as soon as it fills (autosummarize), not only at the
-- next vacuum (an unsummarised range always matches).
create index outbox_producer_ts on outbox using brin (producer_ts) with (autosummarize = on);
create index outbox_bid_ts on outbox using brin (bid_ts) with (autosummarize = on);
