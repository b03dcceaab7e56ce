#include "adapters/pg_store.hpp"

#include "protocols/fingerprint.hpp"

#include <charconv>
#include <limits>
#include <pqxx/pqxx>
#include <tuple>
#include <unordered_map>

namespace gavel::adapters {

namespace {

using protocols::error;
using protocols::event_type;

struct migration {
  int version;
  const char* name;
  const char* sql;
};

// Append-only: a released migration is never edited, only followed by a new one.
const migration migrations[] = {
    {1, "outbox, auctions, destination positions", R"sql(
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
)sql"},
    {2, "dead letters", R"sql(
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
)sql"},
    {3, "outbox partitioned by day of created_at (retention)", R"sql(
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
create table outbox (
  position       bigint not null default nextval('outbox_positions'),
  event_id       text not null,
  auction_id     bigint not null,
  event_type     text not null,
  bid_sequence   bigint not null,
  bid_id         bigint,
  bidder_user_id text,
  producer_ts    timestamptz not null,
  created_at     timestamptz not null default now(),
  envelope       text not null,
  primary key (position, created_at)
) partition by range (created_at);
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
)sql"},
    {4, "per-auction delivery progress of each destination", R"sql(
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
)sql"},
};

// PostgreSQL array literal of text elements; empty strings become NULL when
// `empty_is_null`.
void append_text_array(std::string& out, const std::vector<std::string_view>& xs,
                       bool empty_is_null = false) {
  std::size_t bytes = 2;
  for (auto x : xs)
    bytes += x.size() + 3;
  out.reserve(out.size() + bytes + bytes / 8);
  out += '{';
  bool first = true;
  for (auto x : xs) {
    if (!first)
      out += ',';
    first = false;
    if (empty_is_null && x.empty()) {
      out += "NULL";
      continue;
    }
    out += '"';
    // Copy runs between the characters that need a backslash at once.
    const char* run = x.data();
    const char* end = x.data() + x.size();
    for (const char* p = run; p != end; ++p) {
      if (*p == '"' || *p == '\\') {
        out.append(run, p);
        out += '\\';
        out += *p;
        run = p + 1;
      }
    }
    out.append(run, end);
    out += '"';
  }
  out += '}';
}

template <class Range, class F> std::string int_array(const Range& xs, F get) {
  std::string out = "{";
  bool first = true;
  for (const auto& x : xs) {
    if (!first)
      out += ',';
    first = false;
    out += std::to_string(get(x));
  }
  out += '}';
  return out;
}

error unavailable(const char* what, const std::exception& e) {
  return error{"unavailable", {}, std::string{what} + ": " + e.what()};
}

} // namespace

bool storage_refused(std::string_view sqlstate, std::string_view message) {
  // 53100 disk_full; 25006 read_only_sql_transaction (a read-only server or
  // default_transaction_read_only). PostgreSQL maps EROFS to 42501 and other
  // write failures to 58030 or XX000, so the errno text is the only sign of
  // those; it comes from strerror and is not translated (lc_messages = C in
  // the embedded cluster; a translated server still sends 53100 for ENOSPC).
  return sqlstate == "53100" || sqlstate == "25006" ||
         message.find("No space left on device") != std::string_view::npos ||
         message.find("Read-only file system") != std::string_view::npos ||
         message.find("Disk quota exceeded") != std::string_view::npos;
}

namespace {

error storage(const char* what, const std::exception& e) {
  return error{"storage", {}, std::string{what} + ": " + e.what()};
}

} // namespace

int latest_schema_version() {
  return migrations[std::size(migrations) - 1].version;
}

pg_store::pg_store(options opts) : opts_(std::move(opts)) {}

pg_store::~pg_store() = default;

void pg_store::connection_deleter::operator()(pqxx::connection_base* c) const noexcept {
  delete static_cast<pqxx::connection*>(c);
}

bool pg_store::connected() const noexcept {
  return conn_ != nullptr && conn_->is_open();
}

void pg_store::disconnect() {
  conn_.reset();
}

template <class F> auto pg_store::guarded(const char* what, F&& f) -> decltype(f()) {
  if (auto ok = ensure_connected(); !ok)
    return ok.err();
  try {
    return f();
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    return error{"in_doubt", {}, std::string{what} + ": " + e.what()};
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return unavailable(what, e);
  } catch (const pqxx::sql_error& e) {
    const auto& state = e.sqlstate();
    if (storage_refused(state, e.what())) {
      // The connection is fine (reads still work); a read-only server may be
      // a standby after a failover, which a new connection may not reach.
      if (state == "25006" || (conn_ && !conn_->is_open()))
        conn_.reset();
      return storage(what, e);
    }
    // Class 08 (connection exception), 57P (operator intervention: shutdown,
    // admin shutdown, cannot connect now) and 53 (insufficient resources) are
    // environment failures that pass; everything else is a bug.
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 ||
        state.rfind("53", 0) == 0) {
      conn_.reset();
      return unavailable(what, e);
    }
    if (conn_ && !conn_->is_open())
      conn_.reset();
    return error{"internal", {}, std::string{what} + ": " + e.what()};
  } catch (const std::exception& e) {
    if (storage_refused({}, e.what())) {
      if (conn_ && !conn_->is_open())
        conn_.reset();
      return storage(what, e);
    }
    if (conn_ && !conn_->is_open()) {
      conn_.reset();
      return unavailable(what, e);
    }
    return error{"internal", {}, std::string{what} + ": " + e.what()};
  }
}

std::string pg_store::connection_url() const {
  std::string url = opts_.url;
  // libpq accepts both URIs and key=value strings; options are appended in
  // the matching syntax.
  auto timeout = std::to_string(opts_.connect_timeout_seconds);
  if (url.rfind("postgres", 0) == 0) {
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += "connect_timeout=" + timeout + "&application_name=" + opts_.application_name;
  } else {
    url += " connect_timeout=" + timeout + " application_name=" + opts_.application_name;
  }
  return url;
}

expected<done> pg_store::ensure_connected() {
  if (connected())
    return done{};
  conn_.reset();
  if (doubt_) {
    // Nothing may commit before the outcome of the earlier commit is known:
    // a later position must never become visible ahead of an earlier row.
    auto known = resolve_doubt();
    if (!known)
      return known.err();
  }
  try {
    conn_.reset(new pqxx::connection(connection_url()));
    prepared_ = false;
    if (!opts_.synchronous_commit) {
      pqxx::nontransaction tx{*conn_};
      tx.exec("set synchronous_commit = off");
    }
    return done{};
  } catch (const std::exception& e) {
    conn_.reset();
    // A server that cannot write may refuse connections with the errno text
    // (e.g. "could not write init file: No space left on device").
    return storage_refused({}, e.what()) ? storage("connect", e)
                                         : unavailable("connect", e);
  }
}

void pg_store::prepare_statements() {
  // Statements are per connection; a reconnect prepares them again.
  if (prepared_)
    return;
  prepared_ = true;
  auto& c = *conn_;
  c.prepare("insert_events", R"sql(
insert into outbox (event_id, auction_id, event_type, bid_sequence, bid_id,
                    bidder_user_id, producer_ts, envelope)
select u.event_id, u.auction_id, u.event_type, u.bid_sequence, nullif(u.bid_id, 0),
       u.bidder_user_id, to_timestamp(u.producer_ms / 1000.0), u.envelope
from unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
            $6::text[], $7::bigint[], string_to_array($8::text, chr(31)))
     with ordinality as u(event_id, auction_id, event_type, bid_sequence, bid_id,
                          bidder_user_id, producer_ms, envelope, ord)
order by u.ord
returning position, event_id)sql");
  c.prepare("upsert_auctions", R"sql(
insert into auctions (auction_id, last_sequence, total_bid_count, heartbeat_count,
                      end_date, closed, current_price, updated_at)
select u.auction_id, u.last_sequence, u.total_bid_count, u.heartbeat_count,
       case when u.end_ms is null then null else to_timestamp(u.end_ms / 1000.0) end,
       u.closed, u.current_price, now()
from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
            $6::boolean[], $7::text[])
     as u(auction_id, last_sequence, total_bid_count, heartbeat_count, end_ms, closed,
          current_price)
on conflict (auction_id) do update set
  last_sequence = excluded.last_sequence,
  total_bid_count = excluded.total_bid_count,
  heartbeat_count = excluded.heartbeat_count,
  end_date = excluded.end_date,
  closed = excluded.closed,
  current_price = excluded.current_price,
  updated_at = now())sql");
  // The whole group commit in one statement (data-modifying WITH parts run
  // exactly once whether or not the outer query reads them), inside an
  // explicit transaction whose id is known before COMMIT: a COMMIT cut off
  // by a broken connection is then resolved with pg_xact_status instead of
  // being guessed (docs/adr/0009-ambiguous-commits.md).
  c.prepare("commit_all", R"sql(
with ev as (
  insert into outbox (event_id, auction_id, event_type, bid_sequence, bid_id,
                      bidder_user_id, producer_ts, envelope)
  select u.event_id, u.auction_id, u.event_type, u.bid_sequence, nullif(u.bid_id, 0),
         u.bidder_user_id, to_timestamp(u.producer_ms / 1000.0), u.envelope
  from unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
              $6::text[], $7::bigint[], string_to_array($8::text, chr(31)))
       with ordinality as u(event_id, auction_id, event_type, bid_sequence, bid_id,
                            bidder_user_id, producer_ms, envelope, ord)
  order by u.ord
  returning position, event_id
), au as (
  insert into auctions (auction_id, last_sequence, total_bid_count, heartbeat_count,
                        end_date, closed, current_price, updated_at)
  select u.auction_id, u.last_sequence, u.total_bid_count, u.heartbeat_count,
         case when u.end_ms is null then null else to_timestamp(u.end_ms / 1000.0) end,
         u.closed, u.current_price, now()
  from unnest($9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
              $14::boolean[], $15::text[])
       as u(auction_id, last_sequence, total_bid_count, heartbeat_count, end_ms, closed,
            current_price)
  on conflict (auction_id) do update set
    last_sequence = excluded.last_sequence,
    total_bid_count = excluded.total_bid_count,
    heartbeat_count = excluded.heartbeat_count,
    end_date = excluded.end_date,
    closed = excluded.closed,
    current_price = excluded.current_price,
    updated_at = now()
), po as (
  insert into destination_positions (destination, delivered_through, updated_at)
  select u.destination, u.position, now()
  from unnest($16::text[], $17::bigint[]) as u(destination, position)
  on conflict (destination) do update set
    delivered_through = greatest(destination_positions.delivered_through,
                                 excluded.delivered_through),
    updated_at = now()
), pr as (
  insert into destination_progress (destination, auction_id, position)
  select * from unnest($18::text[], $19::bigint[], $20::bigint[])
  on conflict (destination, auction_id) do update set
    position = greatest(destination_progress.position, excluded.position),
    updated_at = now()
), pd as (
  delete from destination_progress d
  using unnest($16::text[], $17::bigint[]) as u(destination, position)
  where d.destination = u.destination and d.position <= u.position
)
select position, event_id from ev)sql");
  c.prepare("upsert_progress", R"sql(
insert into destination_progress (destination, auction_id, position)
select * from unnest($1::text[], $2::bigint[], $3::bigint[])
on conflict (destination, auction_id) do update set
  position = greatest(destination_progress.position, excluded.position),
  updated_at = now())sql");
  c.prepare("delete_progress", R"sql(
delete from destination_progress d
using unnest($1::text[], $2::bigint[]) as u(destination, position)
where d.destination = u.destination and d.position <= u.position)sql");
  c.prepare("upsert_positions", R"sql(
insert into destination_positions (destination, delivered_through, updated_at)
select u.destination, u.position, now()
from unnest($1::text[], $2::bigint[]) as u(destination, position)
on conflict (destination) do update set
  delivered_through = greatest(destination_positions.delivered_through,
                               excluded.delivered_through),
  updated_at = now())sql");
  c.prepare("load_auctions", R"sql(
select auction_id, last_sequence, total_bid_count, heartbeat_count,
       (extract(epoch from end_date) * 1000)::bigint, closed, current_price
from auctions where auction_id = any($1::bigint[]))sql");
  c.prepare("load_bids", R"sql(
select auction_id, bid_id, bid_sequence, envelope from outbox
where auction_id = any($1::bigint[]) and event_type = 'bid.placed')sql");
  c.prepare("read_outbox", R"sql(
select position, auction_id, event_type, bid_sequence, event_id, envelope,
       (extract(epoch from producer_ts) * 1000)::bigint,
       (extract(epoch from created_at) * 1000)::bigint
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
  and ($2::bigint = 0 or auction_id = $2::bigint) and position > $3::bigint
order by destination, position limit $4::bigint)sql");
}

namespace {

/// The three array arguments of a progress upsert.
std::tuple<std::string, std::string, std::string>
progress_arrays(const std::vector<delivery_progress>& progress) {
  std::vector<std::string_view> names;
  names.reserve(progress.size());
  for (const auto& p : progress)
    names.emplace_back(p.destination);
  std::string a_names;
  append_text_array(a_names, names);
  return {std::move(a_names), int_array(progress, [](auto& p) { return p.auction_id; }),
          int_array(progress, [](auto& p) { return p.position; })};
}

} // namespace

expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
pg_store::load_progress(const std::string& destination, std::int64_t after) {
  using rows = std::vector<std::pair<std::int64_t, std::int64_t>>;
  return guarded("load progress", [&]() -> expected<rows> {
    pqxx::read_transaction tx{*conn_};
    rows out;
    for (const auto& r : tx.exec_params("select auction_id, position from "
                                        "destination_progress where destination = $1 "
                                        "and position > $2",
                                        destination, after))
      out.emplace_back(r[0].as<std::int64_t>(), r[1].as<std::int64_t>());
    return out;
  });
}

expected<int> pg_store::migrate() {
  return guarded("migrate", [&]() -> expected<int> {
    pqxx::work tx{*conn_};
    // Serialise concurrent migrators (two gavel processes starting at once).
    tx.exec("select pg_advisory_xact_lock(74061001)");
    tx.exec("create table if not exists gavel_schema_migrations ("
            " version int primary key, name text not null,"
            " applied_at timestamptz not null default now())");
    auto r = tx.exec("select coalesce(max(version), 0) from gavel_schema_migrations");
    int current = r[0][0].as<int>();
    if (current > latest_schema_version())
      return error{"internal", "",
                   "database schema version " + std::to_string(current) +
                       " is newer than this build (" +
                       std::to_string(latest_schema_version()) + ")"};
    for (const auto& m : migrations) {
      if (m.version <= current)
        continue;
      tx.exec(m.sql);
      tx.exec_params(
          "insert into gavel_schema_migrations (version, name) values ($1, $2)",
          m.version, std::string{m.name});
      current = m.version;
    }
    tx.commit();
    return current;
  });
}

expected<std::vector<std::int64_t>>
pg_store::commit(const std::vector<new_event>& events,
                 const std::vector<auction_row>& auctions,
                 const std::vector<std::pair<std::string, std::int64_t>>& positions) {
  return commit(events, auctions, positions, {}, {});
}

expected<std::vector<std::int64_t>>
pg_store::commit(const std::vector<new_event>& events,
                 const std::vector<auction_row>& auctions,
                 const std::vector<std::pair<std::string, std::int64_t>>& positions,
                 const std::vector<dead_letter>& dead_letters,
                 const std::vector<std::pair<std::string, std::int64_t>>& resolved,
                 const std::vector<delivery_progress>& progress) {
  return guarded("commit", [&]() -> expected<std::vector<std::int64_t>> {
    prepare_statements();
    std::vector<std::int64_t> result(events.size(), 0);
    // The statements' array arguments (text form; empty arrays insert nothing).
    std::string a_ids, a_types, a_bidders, a_envelopes;
    std::string e_auctions = "{}", e_sequences = "{}", e_bid_ids = "{}",
                e_producer = "{}";
    if (!events.empty()) {
      std::vector<std::string_view> ids, types, bidders, envelopes;
      ids.reserve(events.size());
      types.reserve(events.size());
      bidders.reserve(events.size());
      envelopes.reserve(events.size());
      std::size_t envelope_bytes = 0;
      for (const auto& e : events) {
        ids.emplace_back(e.event_id);
        types.emplace_back(protocols::to_string(e.type));
        bidders.emplace_back(e.bidder_user_id);
        envelopes.emplace_back(*e.envelope);
        envelope_bytes += e.envelope->size() + 8;
      }
      append_text_array(a_ids, ids);
      append_text_array(a_types, types);
      append_text_array(a_bidders, bidders, true);
      // The envelopes (the bulk of the bytes) travel as one text joined by the
      // ASCII unit separator, split by string_to_array: no escaping here and
      // no array literal parsing in PostgreSQL. A serialised envelope never
      // holds a raw control character (JSON escapes them).
      a_envelopes.reserve(envelope_bytes);
      for (std::size_t i = 0; i < envelopes.size(); ++i) {
        if (envelopes[i].find('\x1f') != std::string_view::npos)
          return error{"internal", "envelope", "envelope holds a raw control character"};
        if (i)
          a_envelopes += '\x1f';
        a_envelopes += envelopes[i];
      }
      e_auctions = int_array(events, [](auto& e) { return e.auction_id; });
      e_sequences = int_array(events, [](auto& e) { return e.bid_sequence; });
      e_bid_ids = int_array(events, [](auto& e) { return e.bid_id; });
      e_producer = int_array(events, [](auto& e) { return e.producer_ms; });
    } else {
      a_ids = a_types = a_bidders = "{}";
      a_envelopes.clear(); // string_to_array('') is the empty array
    }
    auto take_positions = [&](const pqxx::result& r) {
      std::unordered_map<std::string_view, std::size_t> index;
      index.reserve(events.size());
      for (std::size_t i = 0; i < events.size(); ++i)
        index.emplace(events[i].event_id, i);
      for (const auto& row : r) {
        auto it = index.find(row[1].c_str());
        if (it != index.end())
          result[it->second] = row[0].as<std::int64_t>();
      }
    };
    // One row per auction: a later state of the same auction wins.
    std::unordered_map<std::int64_t, std::size_t> last;
    for (std::size_t i = 0; i < auctions.size(); ++i)
      last[auctions[i].auction_id] = i;
    std::vector<const auction_row*> rows;
    rows.reserve(last.size());
    for (std::size_t i = 0; i < auctions.size(); ++i)
      if (last[auctions[i].auction_id] == i)
        rows.push_back(&auctions[i]);
    std::string ends = "{", closed = "{", a_prices;
    {
      std::vector<std::string_view> prices;
      prices.reserve(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (i > 0) {
          ends += ',';
          closed += ',';
        }
        ends += rows[i]->end_date ? std::to_string(*rows[i]->end_date) : "NULL";
        closed += rows[i]->closed ? 't' : 'f';
        prices.emplace_back(rows[i]->current_price);
      }
      ends += '}';
      closed += '}';
      append_text_array(a_prices, prices);
    }
    auto r_ids = int_array(rows, [](auto* a) { return a->auction_id; });
    auto r_last = int_array(rows, [](auto* a) { return a->last_sequence; });
    auto r_bids = int_array(rows, [](auto* a) { return a->total_bid_count; });
    auto r_beats = int_array(rows, [](auto* a) { return a->heartbeat_count; });

    if (dead_letters.empty() && resolved.empty()) {
      // The usual case: events, auction rows and positions in one statement.
      std::vector<std::string_view> names;
      names.reserve(positions.size());
      for (const auto& p : positions)
        names.emplace_back(p.first);
      std::string a_names;
      append_text_array(a_names, names);
      pqxx::work tx{*conn_};
      auto xid = current_xid(tx);
      auto [g_names, g_auctions, g_positions] = progress_arrays(progress);
      auto r = tx.exec_prepared("commit_all", a_ids, e_auctions, a_types, e_sequences,
                                e_bid_ids, a_bidders, e_producer, a_envelopes, r_ids,
                                r_last, r_bids, r_beats, ends, closed, a_prices, a_names,
                                int_array(positions, [](auto& p) { return p.second; }),
                                g_names, g_auctions, g_positions);
      take_positions(r);
      if (auto ok = commit_or_resolve(tx, xid, events); !ok)
        return ok.err();
      return result;
    }

    pqxx::work tx{*conn_};
    auto xid = current_xid(tx);
    if (!events.empty())
      take_positions(tx.exec_prepared("insert_events", a_ids, e_auctions, a_types,
                                      e_sequences, e_bid_ids, a_bidders, e_producer,
                                      a_envelopes));
    if (!rows.empty())
      tx.exec_prepared("upsert_auctions", r_ids, r_last, r_bids, r_beats, ends, closed,
                       a_prices);
    // Dead letters before positions: a position never passes an event that
    // is neither delivered nor recorded here (same transaction).
    if (!dead_letters.empty()) {
      std::vector<std::string_view> dests, ids, types, statuses, reasons, bodies;
      for (const auto& d : dead_letters) {
        dests.emplace_back(d.destination);
        ids.emplace_back(d.event_id);
        types.emplace_back(protocols::to_string(d.type));
        statuses.emplace_back(d.status);
        reasons.emplace_back(d.reason);
        bodies.emplace_back(d.envelope ? std::string_view{*d.envelope} : "");
      }
      std::string a_dests, a_ids, a_types, a_statuses, a_reasons, a_bodies;
      append_text_array(a_dests, dests);
      append_text_array(a_ids, ids);
      append_text_array(a_types, types);
      append_text_array(a_statuses, statuses);
      append_text_array(a_reasons, reasons);
      append_text_array(a_bodies, bodies);
      tx.exec_prepared(
          "insert_dead_letters", a_dests,
          int_array(dead_letters, [](auto& d) { return d.position; }),
          int_array(dead_letters, [](auto& d) { return d.auction_id; }), a_ids, a_types,
          int_array(dead_letters, [](auto& d) { return d.bid_sequence; }), a_statuses,
          a_reasons, int_array(dead_letters, [](auto& d) { return d.attempts; }),
          int_array(dead_letters, [](auto& d) { return d.http_status; }), a_bodies);
    }
    if (!resolved.empty()) {
      std::vector<std::string_view> names;
      for (const auto& p : resolved)
        names.emplace_back(p.first);
      std::string a_names;
      append_text_array(a_names, names);
      tx.exec_prepared("delete_dead_letters", a_names,
                       int_array(resolved, [](auto& p) { return p.second; }));
    }
    if (!positions.empty()) {
      std::vector<std::string_view> names;
      for (const auto& p : positions)
        names.emplace_back(p.first);
      std::string a_names;
      append_text_array(a_names, names);
      tx.exec_prepared("upsert_positions", a_names,
                       int_array(positions, [](auto& p) { return p.second; }));
      tx.exec_prepared("delete_progress", a_names,
                       int_array(positions, [](auto& p) { return p.second; }));
    }
    if (!progress.empty()) {
      auto [g_names, g_auctions, g_positions] = progress_arrays(progress);
      tx.exec_prepared("upsert_progress", g_names, g_auctions, g_positions);
    }
    if (auto ok = commit_or_resolve(tx, xid, events); !ok)
      return ok.err();
    return result;
  });
}

expected<std::vector<auction_snapshot>>
pg_store::load_auctions(const std::vector<std::int64_t>& auction_ids) {
  return guarded("load auctions", [&]() -> expected<std::vector<auction_snapshot>> {
    prepare_statements();
    std::vector<auction_snapshot> out(auction_ids.size());
    std::unordered_map<std::int64_t, std::size_t> index;
    for (std::size_t i = 0; i < auction_ids.size(); ++i) {
      index[auction_ids[i]] = i;
      out[i].row.auction_id = auction_ids[i];
    }
    auto ids = int_array(auction_ids, [](auto x) { return x; });
    pqxx::read_transaction tx{*conn_};
    for (const auto& r : tx.exec_prepared("load_auctions", ids)) {
      auto& s = out[index[r[0].as<std::int64_t>()]];
      s.exists = true;
      s.row.last_sequence = r[1].as<std::int64_t>();
      s.row.total_bid_count = r[2].as<std::int64_t>();
      s.row.heartbeat_count = r[3].as<std::int64_t>();
      if (!r[4].is_null())
        s.row.end_date = r[4].as<std::int64_t>();
      s.row.closed = r[5].as<bool>();
      s.row.current_price = r[6].c_str();
    }
    for (const auto& r : tx.exec_prepared("load_bids", ids)) {
      auto& s = out[index[r[0].as<std::int64_t>()]];
      s.bids.emplace_back(r[1].as<std::int64_t>(), r[2].as<std::int64_t>());
      s.bid_prints.push_back(protocols::fingerprint(
          protocols::envelope_data(std::string_view{r[3].c_str(), r[3].size()})));
    }
    return out;
  });
}

expected<std::vector<std::int64_t>> pg_store::open_auctions() {
  return guarded("open auctions", [&]() -> expected<std::vector<std::int64_t>> {
    pqxx::read_transaction tx{*conn_};
    std::vector<std::int64_t> out;
    for (const auto& r : tx.exec("select auction_id from auctions where not closed"))
      out.push_back(r[0].as<std::int64_t>());
    return out;
  });
}

expected<std::vector<outbox_record>> pg_store::read_outbox(std::int64_t after,
                                                           std::size_t limit) {
  return guarded("read outbox", [&]() -> expected<std::vector<outbox_record>> {
    prepare_statements();
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_prepared("read_outbox", after, static_cast<std::int64_t>(limit));
    std::vector<outbox_record> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      outbox_record rec;
      rec.position = row[0].as<std::int64_t>();
      rec.auction_id = row[1].as<std::int64_t>();
      rec.type =
          protocols::parse_event_type(row[2].c_str()).value_or(event_type::bid_placed);
      rec.bid_sequence = row[3].as<std::int64_t>();
      rec.event_id = row[4].c_str();
      rec.envelope = std::make_shared<const std::string>(row[5].c_str(), row[5].size());
      rec.producer_ms = row[6].as<std::int64_t>();
      rec.created_ms = row[7].as<std::int64_t>();
      out.push_back(std::move(rec));
    }
    return out;
  });
}

expected<std::int64_t> pg_store::load_position(const std::string& destination) {
  return guarded("load position", [&]() -> expected<std::int64_t> {
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_params(
        "select delivered_through from destination_positions where destination = $1",
        destination);
    return r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>();
  });
}

expected<std::vector<dead_letter>> pg_store::dead_letters(const std::string& destination,
                                                          std::int64_t auction_id,
                                                          std::int64_t after,
                                                          std::size_t limit) {
  return guarded("read dead letters", [&]() -> expected<std::vector<dead_letter>> {
    prepare_statements();
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_prepared("select_dead_letters", destination, auction_id, after,
                              static_cast<std::int64_t>(limit));
    std::vector<dead_letter> out;
    out.reserve(r.size());
    for (const auto& row : r) {
      dead_letter d;
      d.destination = row[0].c_str();
      d.position = row[1].as<std::int64_t>();
      d.auction_id = row[2].as<std::int64_t>();
      d.event_id = row[3].c_str();
      d.type =
          protocols::parse_event_type(row[4].c_str()).value_or(event_type::bid_placed);
      d.bid_sequence = row[5].as<std::int64_t>();
      d.status = row[6].c_str();
      d.reason = row[7].c_str();
      d.attempts = row[8].as<int>();
      d.http_status = row[9].as<int>();
      d.envelope = std::make_shared<const std::string>(row[10].c_str(), row[10].size());
      d.created_ms = row[11].as<std::int64_t>();
      out.push_back(std::move(d));
    }
    return out;
  });
}

expected<std::vector<std::int64_t>>
pg_store::parked_auctions(const std::string& destination) {
  return guarded("read parked auctions", [&]() -> expected<std::vector<std::int64_t>> {
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_params(
        "select distinct auction_id from dead_letters where destination = $1",
        destination);
    std::vector<std::int64_t> out;
    for (const auto& row : r)
      out.push_back(row[0].as<std::int64_t>());
    return out;
  });
}

expected<std::int64_t> pg_store::head_position() {
  return guarded("head position", [&]() -> expected<std::int64_t> {
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec("select coalesce(max(position), 0) from outbox");
    return r[0][0].as<std::int64_t>();
  });
}

expected<std::vector<std::vector<std::string>>> pg_store::query(const std::string& sql) {
  return guarded("query", [&]() -> expected<std::vector<std::vector<std::string>>> {
    pqxx::nontransaction tx{*conn_};
    std::vector<std::vector<std::string>> out;
    for (const auto& row : tx.exec(sql)) {
      std::vector<std::string> cells;
      for (const auto& f : row)
        cells.emplace_back(f.is_null() ? "" : f.c_str());
      out.push_back(std::move(cells));
    }
    return out;
  });
}

// -- operations: health facts and retention ------------------------------------

expected<pg_store::outbox_facts>
pg_store::facts(const std::vector<std::int64_t>& positions,
                const std::vector<std::int64_t>& auctions) {
  return guarded("outbox facts", [&]() -> expected<outbox_facts> {
    pqxx::read_transaction tx{*conn_};
    outbox_facts out;
    out.head_position =
        tx.exec("select coalesce(max(position), 0) from outbox")[0][0].as<std::int64_t>();
    for (auto p : positions) {
      auto r = tx.exec_params("select (extract(epoch from created_at) * 1000)::bigint "
                              "from outbox where position > $1 order by position limit 1",
                              p);
      out.first_after_ms.push_back(r.empty() ? 0 : r[0][0].as<std::int64_t>());
    }
    if (!auctions.empty()) {
      // One statement: the auction row and its outbox rows commit together,
      // so a statement snapshot sees them consistent.
      auto r = tx.exec_params(R"sql(
select a.auction_id, a.last_sequence, count(distinct o.bid_sequence),
       coalesce(max(o.bid_sequence), 0)
from auctions a
left join outbox o on o.auction_id = a.auction_id
                  and o.event_type in ('auction.opened', 'bid.placed')
where a.auction_id = any($1::bigint[])
group by a.auction_id, a.last_sequence
having count(distinct o.bid_sequence) <> a.last_sequence
    or coalesce(max(o.bid_sequence), 0) <> a.last_sequence)sql",
                              int_array(auctions, [](auto x) { return x; }));
      for (const auto& row : r)
        out.gaps.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                            row[2].as<std::int64_t>()});
    }
    return out;
  });
}

expected<int> pg_store::ensure_partitions(protocols::unix_ms now, int days_ahead) {
  return guarded("ensure partitions", [&]() -> expected<int> {
    pqxx::work tx{*conn_};
    // Creating a partition locks the parent briefly; never queue behind a
    // long reader: fail and try again at the next run.
    tx.exec("set local lock_timeout = '2s'");
    auto r = tx.exec_params(R"sql(
select count(*) filter (where gavel_outbox_partition(d::date))
from generate_series((to_timestamp($1::bigint / 1000.0) at time zone 'UTC')::date,
                     (to_timestamp($1::bigint / 1000.0) at time zone 'UTC')::date + $2::int,
                     interval '1 day') as d)sql",
                            now, days_ahead);
    tx.commit();
    return r[0][0].as<int>();
  });
}

expected<std::vector<pg_store::outbox_partition>>
pg_store::prune(protocols::unix_ms now, std::chrono::milliseconds max_age,
                const std::vector<std::string>& destinations, bool execute) {
  return guarded("prune", [&]() -> expected<std::vector<outbox_partition>> {
    const protocols::unix_ms cutoff = now - max_age.count();
    std::vector<outbox_partition> out;
    std::int64_t min_delivered = std::numeric_limits<std::int64_t>::max();
    {
      pqxx::read_transaction tx{*conn_};
      if (!destinations.empty()) {
        std::vector<std::string_view> names(destinations.begin(), destinations.end());
        std::string a_names;
        append_text_array(a_names, names);
        // A destination without a stored position has delivered nothing.
        min_delivered = tx.exec_params(R"sql(
select min(coalesce(p.delivered_through, 0))
from unnest($1::text[]) as d(name)
left join destination_positions p on p.destination = d.name)sql",
                                       a_names)[0][0]
                            .as<std::int64_t>();
      }
      auto parts = tx.exec(R"sql(
select c.relname, c.relpartbound is not null and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
       coalesce((extract(epoch from substring(pg_get_expr(c.relpartbound, c.oid)
                 from 'FROM \(''([^'']*)''\)')::timestamptz) * 1000)::bigint, 0),
       coalesce((extract(epoch from substring(pg_get_expr(c.relpartbound, c.oid)
                 from 'TO \(''([^'']*)''\)')::timestamptz) * 1000)::bigint, 0),
       c.reltuples::bigint
from pg_inherits i join pg_class c on c.oid = i.inhrelid
where i.inhparent = 'outbox'::regclass
order by 3, 1)sql");
      for (const auto& row : parts) {
        outbox_partition p;
        p.name = row[0].c_str();
        p.is_default = row[1].as<bool>();
        p.from_ms = row[2].as<std::int64_t>();
        p.to_ms = row[3].as<std::int64_t>();
        p.rows = row[4].as<std::int64_t>();
        auto table = tx.quote_name(p.name);
        p.max_position = tx.exec("select coalesce(max(position), 0) from " + table)[0][0]
                             .as<std::int64_t>();
        if (p.rows < 0 || p.rows < 10000)
          p.rows = tx.exec("select count(*) from " + table)[0][0].as<std::int64_t>();
        if (p.is_default) {
          auto n = tx.exec_params("select count(*) from " + table + R"sql( o
where o.created_at < to_timestamp($1::bigint / 1000.0) and o.position <= $2
  and not exists (select 1 from auctions a
                  where a.auction_id = o.auction_id and not a.closed))sql",
                                  cutoff, min_delivered)[0][0]
                       .as<std::int64_t>();
          p.drop = n > 0;
          p.reason = n > 0 ? "delete " + std::to_string(n) + " old delivered row(s)"
                           : "nothing old and delivered";
          out.push_back(std::move(p));
          continue;
        }
        bool open_auction =
            tx.exec("select exists (select 1 from auctions a where not a.closed and "
                    "exists (select 1 from " +
                    table + " o where o.auction_id = a.auction_id))")[0][0]
                .as<bool>();
        if (p.to_ms > cutoff)
          p.reason = "newer than max_age";
        else if (p.max_position > min_delivered)
          p.reason = "not delivered everywhere yet (position " +
                     std::to_string(p.max_position) + " > delivered through " +
                     std::to_string(min_delivered) + ")";
        else if (open_auction)
          p.reason = "holds rows of an auction still open";
        else {
          p.drop = true;
          p.reason = "drop";
        }
        out.push_back(std::move(p));
      }
    }
    if (!execute)
      return out;
    for (auto& p : out) {
      if (!p.drop)
        continue;
      try {
        pqxx::work tx{*conn_};
        tx.exec("set local lock_timeout = '2s'");
        if (p.is_default) {
          // Rare (maintenance was late): row deletes, bounded per run.
          auto r = tx.exec_params(R"sql(
delete from outbox_default where ctid in (
  select o.ctid from outbox_default o
  where o.created_at < to_timestamp($1::bigint / 1000.0) and o.position <= $2
    and not exists (select 1 from auctions a
                    where a.auction_id = o.auction_id and not a.closed)
  limit 10000))sql",
                                  cutoff, min_delivered);
          p.reason = "deleted " + std::to_string(r.affected_rows()) + " row(s)";
        } else {
          tx.exec("drop table " + tx.quote_name(p.name));
          p.reason = "dropped";
        }
        tx.commit();
      } catch (const pqxx::sql_error& e) {
        // 55P03 lock_not_available: the table is busy; next run.
        if (e.sqlstate() != "55P03")
          throw;
        p.drop = false;
        p.reason = "busy (lock timeout); retried at the next run";
      }
    }
    return out;
  });
}

} // namespace gavel::adapters
