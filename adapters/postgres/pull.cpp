// The reconciliation pull API's reads (docs/adr/0020-pull-api-and-digests.md):
// event pages in commit-safe keyset order, auction summaries with digests,
// and the per-auction events `gavel reconcile` compares.
#include "adapters/postgres/arrays.hpp"
#include "adapters/postgres/guarded.hpp"

#include <cstdlib>
#include <pqxx/pqxx>
#include <unordered_map>

namespace gavel::adapters {

using postgres::int_array;
using protocols::digest_event;
using protocols::event_type;

namespace {

/// One snapshot for every statement of a read, so the horizon, the page and
/// the look past the horizon agree with each other.
using snapshot_tx =
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only>;

/// A statement's text and its parameters ($1.., all sent as text and cast
/// in the SQL).
struct statement {
  std::string sql;
  std::vector<std::string> params;

  /// Adds a parameter; returns its placeholder.
  std::string add(std::string value) {
    params.push_back(std::move(value));
    return "$" + std::to_string(params.size());
  }
  pqxx::result run(pqxx::transaction_base& tx) const {
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  }
};

std::string ms_param(statement& s, protocols::unix_ms t) {
  return "to_timestamp(" + s.add(std::to_string(t)) + "::bigint / 1000.0)";
}

/// The filters of a pull query (not the cursor), as `and ...` clauses.
std::string filters(statement& s, const protocols::pull_query& q) {
  std::string w;
  if (q.auction_id)
    w += " and auction_id = " + s.add(std::to_string(*q.auction_id)) + "::bigint";
  if (q.bidder_user_id)
    w += " and bidder_user_id = " + s.add(*q.bidder_user_id) + "::text";
  // A literal, not a parameter: the planner can then prove the partial
  // index outbox_type_order applies (one of four fixed names, no quoting).
  if (q.type)
    w += " and event_type = '" + std::string{protocols::to_string(*q.type)} + "'";
  if (q.from)
    w += " and producer_ts >= " + ms_param(s, *q.from);
  if (q.to)
    w += " and producer_ts < " + ms_param(s, *q.to);
  if (q.bid_from)
    w += " and bid_ts >= " + ms_param(s, *q.bid_from);
  if (q.bid_to)
    w += " and bid_ts < " + ms_param(s, *q.bid_to);
  return w;
}

/// Rows after `c` in the query's order.
std::string after(statement& s, const protocols::pull_cursor& c) {
  auto x = s.add(std::to_string(c.xid)) + "::xid8";
  auto p = s.add(std::to_string(c.position)) + "::bigint";
  if (c.auction_id != 0)
    return " and (bid_sequence, xid, position) > (" +
           s.add(std::to_string(c.bid_sequence)) + "::bigint, " + x + ", " + p + ")";
  return " and (xid, position) > (" + x + ", " + p + ")";
}

std::string type_list(const std::vector<event_type>& types) {
  std::string out;
  for (auto t : types) {
    if (!out.empty())
      out += ',';
    out += protocols::to_string(t);
  }
  return out;
}

/// The planner's row estimate of `select 1 from outbox where true <where>`.
double estimated_rows(pqxx::transaction_base& tx, const std::string& where,
                      const std::vector<std::string>& params) {
  auto plan = tx.exec_params("explain select 1 from outbox where true" + where,
                             pqxx::prepare::make_dynamic_params(params));
  // The top line: "Append  (cost=0.00..1.00 rows=123 width=4)".
  const std::string top = plan.empty() ? std::string{} : plan[0][0].c_str();
  auto at = top.find(" rows=");
  return at == std::string::npos ? 0.0 : std::strtod(top.c_str() + at + 6, nullptr);
}

/// Whether the rows a query's filters select are better read through their
/// own indexes (BRIN on the timestamps, the bidder's index) and sorted than
/// found by walking storage order. The walk costs, per page, every row of
/// the partitions the filter misses (a partition with no match is read to
/// its end before the merge can go on), the filtered read costs the matching
/// rows: the smaller wins, by the planner's estimates.
bool filter_first(pqxx::transaction_base& tx, const protocols::pull_query& q) {
  if (q.auction_id || !(q.from || q.to || q.bid_from || q.bid_to || q.bidder_user_id))
    return false;
  statement matching;
  auto where = filters(matching, q);
  auto selected = estimated_rows(tx, where, matching.params);
  auto all = estimated_rows(tx, "", {});
  return selected * 2 < all;
}

/// Summaries (without destinations) and digests of the auctions in `rows`
/// (auction_id first), filled from one read of their events.
void fill_digests(pqxx::transaction_base& tx,
                  std::vector<protocols::auction_summary>& summaries) {
  if (summaries.empty())
    return;
  std::unordered_map<std::int64_t, std::size_t> index;
  for (std::size_t i = 0; i < summaries.size(); ++i)
    index[summaries[i].auction_id] = i;
  std::vector<std::vector<digest_event>> events(summaries.size());
  auto ids = int_array(summaries, [](auto& a) { return a.auction_id; });
  for (const auto& r : tx.exec_params(R"sql(
select auction_id, event_type, bid_sequence, event_id,
       (extract(epoch from producer_ts) * 1000)::bigint
from outbox
where auction_id = any($1::bigint[]) and event_type <> 'producer.heartbeat')sql",
                                      ids)) {
    auto i = index[r[0].as<std::int64_t>()];
    auto type =
        protocols::parse_event_type(r[1].c_str()).value_or(event_type::bid_placed);
    if (type == event_type::auction_opened)
      summaries[i].opened_at = r[4].as<std::int64_t>();
    else if (type == event_type::auction_closed)
      summaries[i].closed_at = r[4].as<std::int64_t>();
    events[i].push_back({type, r[2].as<std::int64_t>(), r[3].c_str()});
  }
  for (std::size_t i = 0; i < summaries.size(); ++i)
    summaries[i].digest = protocols::digest_of(std::move(events[i]));
}

void read_state(const pqxx::row& r, int first, protocols::auction_summary& a) {
  a.closed = r[first].as<bool>();
  a.last_sequence = r[first + 1].as<std::int64_t>();
  a.total_bid_count = r[first + 2].as<std::int64_t>();
  a.heartbeats = r[first + 3].as<std::int64_t>();
  if (!r[first + 4].is_null())
    a.end_date = r[first + 4].as<std::int64_t>();
}

constexpr const char* state_columns =
    "a.closed, a.last_sequence, a.total_bid_count, a.heartbeat_count, "
    "(extract(epoch from a.end_date) * 1000)::bigint";

} // namespace

expected<protocols::pull_page> pg_store::pull_events(const protocols::pull_query& q) {
  return guarded("pull events", [&]() -> expected<protocols::pull_page> {
    snapshot_tx tx{*conn_};
    // The horizon: every transaction below the snapshot's xmin has ended, and
    // every later one (running now, or yet to begin) has a larger id. A page
    // of rows below it is final, and a row that appears later sorts after it.
    auto xmin = tx.exec("select pg_snapshot_xmin(pg_current_snapshot())::text")[0][0]
                    .as<std::string>();
    const bool by_auction = q.auction_id.has_value();
    const std::string order =
        by_auction ? "bid_sequence, xid, position" : "xid, position";

    statement page;
    auto horizon = page.add(xmin) + "::xid8";
    page.sql =
        "select envelope, xid::text as at_xid, position, bid_sequence, xid from outbox "
        "where xid < " +
        horizon + filters(page, q);
    if (q.after)
      page.sql += after(page, *q.after);
    // OFFSET 0 keeps the planner from pulling the ORDER BY into the scan:
    // the matching rows are read first, then the page is sorted out of them.
    if (filter_first(tx, q))
      page.sql = "select * from (" + page.sql + " offset 0) matching";
    page.sql += " order by " + order + " limit " + page.add(std::to_string(q.limit + 1)) +
                "::bigint";
    auto rows = page.run(tx);

    protocols::pull_page out;
    const auto n = std::min<std::size_t>(rows.size(), q.limit);
    out.envelopes.reserve(n);
    protocols::pull_cursor last =
        q.after.value_or(protocols::pull_cursor{q.auction_id.value_or(0), 0, 0, 0});
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = rows[static_cast<pqxx::result::size_type>(i)];
      out.envelopes.push_back(
          std::make_shared<const std::string>(r[0].c_str(), r[0].size()));
      last.xid = r[1].as<std::uint64_t>();
      last.position = r[2].as<std::int64_t>();
      last.bid_sequence = by_auction ? r[3].as<std::int64_t>() : 0;
    }
    if (rows.size() > q.limit) {
      out.next = last;
      return out;
    }
    // A short page is the last one unless a matching row is committed past
    // the horizon (behind a transaction still running): then the caller is
    // told to ask again from here.
    statement held;
    held.sql = "select exists (select 1 from outbox where xid >= " + held.add(xmin) +
               "::xid8" + filters(held, q) + after(held, last) + ")";
    if (held.run(tx)[0][0].as<bool>())
      out.next = last;
    return out;
  });
}

expected<bool> pg_store::pull_reads_filter_first(const protocols::pull_query& q) {
  return guarded("pull plan", [&]() -> expected<bool> {
    snapshot_tx tx{*conn_};
    return filter_first(tx, q);
  });
}

expected<std::optional<protocols::auction_summary>>
pg_store::auction_summary(std::int64_t auction_id,
                          const std::vector<protocols::delivery_scope>& destinations) {
  using result = std::optional<protocols::auction_summary>;
  return guarded("auction summary", [&]() -> expected<result> {
    snapshot_tx tx{*conn_};
    auto state = tx.exec_params(std::string{"select "} + state_columns +
                                    " from auctions a where a.auction_id = $1",
                                auction_id);
    if (state.empty())
      return result{};
    std::vector<protocols::auction_summary> one(1);
    one[0].auction_id = auction_id;
    read_state(state[0], 0, one[0]);
    fill_digests(tx, one);
    auto& a = one[0];
    if (!destinations.empty()) {
      auto names = postgres::text_array(
          destinations, [](auto& d) -> const std::string& { return d.name; });
      std::vector<std::string> lists;
      lists.reserve(destinations.size());
      for (const auto& d : destinations)
        lists.push_back(type_list(d.types));
      auto types =
          postgres::text_array(lists, [](auto& s) -> const std::string& { return s; });
      // A destination's progress on this auction: its delivered-through
      // position, or the auction's own progress beyond it (ADR 0012); a dead
      // letter stops "delivered through" (what follows it is parked).
      auto r = tx.exec_params(R"sql(
select u.name,
  coalesce((select max(o.bid_sequence) from outbox o
            where o.auction_id = $1 and o.position <= h.through
              and (h.first_dead is null or o.position < h.first_dead)
              and o.event_type = any(string_to_array(u.types, ','))), 0),
  (select count(*) from outbox o
   where o.auction_id = $1 and o.position > h.through
     and o.event_type = any(string_to_array(u.types, ',')))
  + (select count(*) from dead_letters d
     where d.destination = u.name and d.auction_id = $1 and d.status = 'parked'),
  (select count(*) from dead_letters d
   where d.destination = u.name and d.auction_id = $1 and d.status = 'dead')
from unnest($2::text[], $3::text[]) with ordinality as u(name, types, ord)
cross join lateral (
  select greatest(
    coalesce((select p.delivered_through from destination_positions p
              where p.destination = u.name), 0),
    coalesce((select g.position from destination_progress g
              where g.destination = u.name and g.auction_id = $1), 0)) as through,
    (select min(d.position) from dead_letters d
     where d.destination = u.name and d.auction_id = $1) as first_dead) h
order by u.ord)sql",
                              auction_id, names, types);
      for (const auto& row : r)
        a.destinations.push_back({row[0].c_str(), row[1].as<std::int64_t>(),
                                  row[2].as<std::int64_t>(), row[3].as<std::int64_t>()});
    }
    return result{std::move(a)};
  });
}

expected<protocols::auction_page>
pg_store::list_auctions(const protocols::auction_query& q) {
  return guarded("list auctions", [&]() -> expected<protocols::auction_page> {
    snapshot_tx tx{*conn_};
    statement s;
    s.sql = std::string{"select o.auction_id, "} + state_columns +
            " from outbox o join auctions a on a.auction_id = o.auction_id"
            " where o.event_type = 'auction.opened'";
    if (q.from)
      s.sql += " and o.producer_ts >= " + ms_param(s, *q.from);
    if (q.to)
      s.sql += " and o.producer_ts < " + ms_param(s, *q.to);
    if (q.closed)
      s.sql += std::string{" and a.closed = "} + (*q.closed ? "true" : "false");
    if (q.after)
      s.sql += " and (o.producer_ts, o.auction_id) > (" +
               ms_param(s, q.after->opened_at) + ", " +
               s.add(std::to_string(q.after->auction_id)) + "::bigint)";
    s.sql += " order by o.producer_ts, o.auction_id limit " +
             s.add(std::to_string(q.limit + 1)) + "::bigint";
    auto rows = s.run(tx);
    protocols::auction_page out;
    const auto n = std::min<std::size_t>(rows.size(), q.limit);
    out.auctions.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = rows[static_cast<pqxx::result::size_type>(i)];
      out.auctions[i].auction_id = r[0].as<std::int64_t>();
      read_state(r, 1, out.auctions[i]);
    }
    fill_digests(tx, out.auctions);
    if (rows.size() > q.limit && n > 0)
      out.next = protocols::auction_cursor{out.auctions.back().opened_at.value_or(0),
                                           out.auctions.back().auction_id};
    return out;
  });
}

expected<std::vector<std::vector<digest_event>>>
pg_store::auction_events(const std::vector<std::int64_t>& auction_ids) {
  using result = std::vector<std::vector<digest_event>>;
  return guarded("auction events", [&]() -> expected<result> {
    result out(auction_ids.size());
    std::unordered_map<std::int64_t, std::size_t> index;
    for (std::size_t i = 0; i < auction_ids.size(); ++i)
      index[auction_ids[i]] = i;
    pqxx::read_transaction tx{*conn_};
    auto ids = int_array(auction_ids, [](auto x) { return x; });
    for (const auto& r : tx.exec_params(R"sql(
select auction_id, event_type, bid_sequence, event_id from outbox
where auction_id = any($1::bigint[]) and event_type <> 'producer.heartbeat')sql",
                                        ids))
      out[index[r[0].as<std::int64_t>()]].push_back(
          {protocols::parse_event_type(r[1].c_str()).value_or(event_type::bid_placed),
           r[2].as<std::int64_t>(), r[3].c_str()});
    return out;
  });
}

} // namespace gavel::adapters
