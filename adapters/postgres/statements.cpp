// The prepared statements of the store. Each piece of SQL is written once:
// the group commit's single statement is built from the same pieces the
// other write path runs one by one.
#include "adapters/postgres/store.hpp"

#include <cctype>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

namespace gavel::adapters {

namespace {

// Appends rows to the outbox from ten arrays ($1..$10); the envelopes come
// as one text joined by the ASCII unit separator (see pg_store::commit).
// xid (the pull API's commit-safe order) is the column's default.
constexpr std::string_view insert_events = R"sql(
insert into outbox (event_id, auction_id, event_type, bid_sequence, bid_id,
                    bidder_user_id, producer_ts, envelope, bid_ts, backfill)
select u.event_id, u.auction_id, u.event_type, u.bid_sequence, nullif(u.bid_id, 0),
       u.bidder_user_id, to_timestamp(u.producer_ms / 1000.0), u.envelope,
       to_timestamp(u.bid_ms / 1000.0), u.backfill
from unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
            $6::text[], $7::bigint[], string_to_array($8::text, chr(31)),
            $9::bigint[], $10::boolean[])
     with ordinality as u(event_id, auction_id, event_type, bid_sequence, bid_id,
                          bidder_user_id, producer_ms, envelope, bid_ms, backfill, ord)
order by u.ord
returning position, event_id)sql";

// Records the event_ids of the same ten arrays (only $1, $2 are read): one
// key per event across every partition (migration 0009), so a repeated
// event_id fails the commit whatever day holds the first.
constexpr std::string_view insert_event_keys = R"sql(
insert into event_keys (event_id, auction_id)
select * from unnest($1::text[], $2::bigint[]))sql";

// The auctions among the same ten arrays ($2 auction, $3 type, $4 sequence)
// whose event takes a sequence number the stored auction row has already
// passed: the writing auction's state is behind the outbox. The stored row
// is read as it was before this statement (every part of one statement sees
// the same snapshot), and it moves with every commit of its events, so this
// sees sequences of any day.
constexpr std::string_view stale_sequences = R"sql(
select u.auction_id
from unnest($2::bigint[], $3::text[], $4::bigint[]) as u(auction_id, event_type, bid_sequence)
join auctions a on a.auction_id = u.auction_id
where u.event_type in ('auction.opened', 'bid.placed')
  and u.bid_sequence <= a.last_sequence
limit 1)sql";

// Writes auction rows from eight arrays ($1..$8); `backfilled` is set when
// the row is created and never changed.
constexpr std::string_view upsert_auctions = R"sql(
insert into auctions (auction_id, last_sequence, total_bid_count, heartbeat_count,
                      end_date, closed, current_price, backfilled, updated_at)
select u.auction_id, u.last_sequence, u.total_bid_count, u.heartbeat_count,
       case when u.end_ms is null then null else to_timestamp(u.end_ms / 1000.0) end,
       u.closed, u.current_price, u.backfilled, now()
from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
            $6::boolean[], $7::text[], $8::boolean[])
     as u(auction_id, last_sequence, total_bid_count, heartbeat_count, end_ms, closed,
          current_price, backfilled)
on conflict (auction_id) do update set
  last_sequence = excluded.last_sequence,
  total_bid_count = excluded.total_bid_count,
  heartbeat_count = excluded.heartbeat_count,
  end_date = excluded.end_date,
  closed = excluded.closed,
  current_price = excluded.current_price,
  updated_at = now())sql";

// Raises delivered-through positions: (destination, position) in $1, $2.
constexpr std::string_view upsert_positions = R"sql(
insert into destination_positions (destination, delivered_through, updated_at)
select u.destination, u.position, now()
from unnest($1::text[], $2::bigint[]) as u(destination, position)
on conflict (destination) do update set
  delivered_through = greatest(destination_positions.delivered_through,
                               excluded.delivered_through),
  updated_at = now())sql";

// Raises per-auction progress: (destination, auction_id, position) in $1..$3.
constexpr std::string_view upsert_progress = R"sql(
insert into destination_progress (destination, auction_id, position)
select * from unnest($1::text[], $2::bigint[], $3::bigint[])
on conflict (destination, auction_id) do update set
  position = greatest(destination_progress.position, excluded.position),
  updated_at = now())sql";

// Drops progress a new delivered-through position passes: the same two
// arrays as upsert_positions.
constexpr std::string_view delete_progress = R"sql(
delete from destination_progress d
using unnest($1::text[], $2::bigint[]) as u(destination, position)
where d.destination = u.destination and d.position <= u.position)sql";

/// `sql` with every parameter $n renamed $(n + offset), so that one piece
/// can sit inside a statement that takes other parameters first.
std::string shifted(std::string_view sql, int offset) {
  std::string out;
  out.reserve(sql.size() + 16);
  for (std::size_t i = 0; i < sql.size();) {
    if (sql[i] == '$' && i + 1 < sql.size() &&
        std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      std::size_t j = i + 1;
      int n = 0;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j])))
        n = n * 10 + (sql[j++] - '0');
      out += '$';
      out += std::to_string(n + offset);
      i = j;
      continue;
    }
    out += sql[i++];
  }
  return out;
}

/// The whole group commit in one statement (data-modifying WITH parts run
/// exactly once whether or not the outer query reads them), inside an
/// explicit transaction whose id is known before COMMIT: a COMMIT cut off by
/// a broken connection is then resolved with pg_xact_status instead of being
/// guessed (docs/adr/0009-ambiguous-commits.md). Parameters: events $1..$10,
/// auctions $11..$18, positions $19..$20, progress $21..$23. A row of nulls
/// after the positions means a sequence was already taken (stale_sequences):
/// the caller rolls back.
std::string commit_all() {
  std::string sql = "with ev as (";
  sql += shifted(insert_events, 0);
  sql += "\n), ek as (";
  sql += shifted(insert_event_keys, 0);
  sql += "\n), st as (";
  sql += shifted(stale_sequences, 0);
  sql += "\n), au as (";
  sql += shifted(upsert_auctions, 10);
  sql += "\n), po as (";
  sql += shifted(upsert_positions, 18);
  sql += "\n), pr as (";
  sql += shifted(upsert_progress, 20);
  sql += "\n), pd as (";
  sql += shifted(delete_progress, 18);
  sql += "\n)\nselect position, event_id from ev\n"
         "union all select null, null from st";
  return sql;
}

} // namespace

void pg_store::prepare_statements() {
  // Statements are per connection; a reconnect prepares them again.
  if (prepared_)
    return;
  prepared_ = true;
  auto& c = *conn_;
  static const std::string group_commit = commit_all();
  c.prepare("insert_events", std::string{insert_events});
  c.prepare("insert_event_keys", std::string{insert_event_keys});
  c.prepare("stale_sequences", shifted(stale_sequences, -1));
  c.prepare("upsert_auctions", std::string{upsert_auctions});
  c.prepare("commit_all", group_commit);
  c.prepare("upsert_progress", std::string{upsert_progress});
  c.prepare("delete_progress", std::string{delete_progress});
  c.prepare("upsert_positions", std::string{upsert_positions});
  c.prepare("load_auctions", R"sql(
select auction_id, last_sequence, total_bid_count, heartbeat_count,
       (extract(epoch from end_date) * 1000)::bigint, closed, current_price, backfilled
from auctions where auction_id = any($1::bigint[]))sql");
  c.prepare("load_bids", R"sql(
select auction_id, bid_id, bid_sequence, envelope from outbox
where auction_id = any($1::bigint[]) and event_type = 'bid.placed')sql");
  c.prepare("read_outbox", R"sql(
select position, auction_id, event_type, bid_sequence, event_id, envelope,
       (extract(epoch from producer_ts) * 1000)::bigint,
       (extract(epoch from created_at) * 1000)::bigint, backfill
from outbox where position > $1 order by position limit $2)sql");
  c.prepare("insert_dead_letters", R"sql(
insert into dead_letters (destination, position, auction_id, event_id, event_type,
                          bid_sequence, status, reason, attempts, http_status, envelope)
select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                     $6::bigint[], $7::text[], $8::text[], $9::integer[],
                     $10::integer[], $11::text[])
on conflict (destination, position) do update set
  status = excluded.status, reason = excluded.reason,
  attempts = excluded.attempts, http_status = excluded.http_status)sql");
  c.prepare("delete_dead_letters", R"sql(
delete from dead_letters d using unnest($1::text[], $2::bigint[]) as u(destination, position)
where d.destination = u.destination and d.position = u.position)sql");
  c.prepare("select_dead_letters", R"sql(
select destination, position, auction_id, event_id, event_type, bid_sequence, status,
       reason, attempts, http_status, envelope,
       (extract(epoch from created_at) * 1000)::bigint
from dead_letters
where ($1::text = '' or destination = $1::text)
  and ($2::bigint = 0 or auction_id = $2::bigint)
  and (position > $3::bigint
       or ($5::text <> '' and position = $3::bigint and destination > $5::text))
order by position, destination limit $4::bigint)sql");
}

} // namespace gavel::adapters
