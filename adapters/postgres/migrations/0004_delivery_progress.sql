-- name: per-auction delivery progress of each destination
-- docs/adr/0012-delivery-progress.md. A destination's delivered_through is
-- the prefix of positions all delivered; an auction that is slow (or
-- retrying) holds it back while later auctions' events are delivered. Each
-- auction's own highest delivered position is kept here too, so that after a
-- crash those are not sent again. Rows at or below delivered_through carry
-- nothing and are deleted with the position that passes them.
create table destination_progress (
  destination text not null,
  auction_id  bigint not null,
  position    bigint not null,
  updated_at  timestamptz not null default now(),
  primary key (destination, auction_id)
);
