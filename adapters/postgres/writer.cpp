// The outbox writer: the group commit (events, auction rows, positions,
// dead letters and progress in one transaction), which refuses as a whole
// ("taken") when an event_id or sequence number is already stored, and the
// probe that then finds the events responsible (ADR 0028).
#include "adapters/postgres/arrays.hpp"
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>
#include <unordered_map>

namespace gavel::adapters {

using postgres::append_text_array;
using postgres::bool_array;
using postgres::int_array;
using postgres::text_array;
using protocols::error;

expected<std::vector<std::int64_t>>
pg_store::commit(const std::vector<protocols::new_event>& events,
                 const std::vector<protocols::auction_row>& auctions,
                 const std::vector<std::pair<std::string, std::int64_t>>& positions) {
  return commit(events, auctions, positions, {}, {});
}

expected<std::vector<std::int64_t>>
pg_store::commit(const std::vector<protocols::new_event>& events,
                 const std::vector<protocols::auction_row>& auctions,
                 const std::vector<std::pair<std::string, std::int64_t>>& positions,
                 const std::vector<protocols::dead_letter>& dead_letters,
                 const std::vector<std::pair<std::string, std::int64_t>>& resolved,
                 const std::vector<protocols::delivery_progress>& progress) {
  return guarded("commit", [&]() -> expected<std::vector<std::int64_t>> {
    prepare_statements();
    std::vector<std::int64_t> result(events.size(), 0);
    // The statements' array arguments (text form; empty arrays insert nothing).
    std::string a_ids, a_types, a_bidders, a_envelopes;
    std::string e_auctions = "{}", e_sequences = "{}", e_bid_ids = "{}",
                e_producer = "{}", e_bid_ms = "{}", e_backfill = "{}";
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
      e_bid_ms = postgres::join_array(events, [](std::string& out, auto& e) {
        out += e.bid_ms ? std::to_string(*e.bid_ms) : "NULL";
      });
      e_backfill = bool_array(events, [](auto& e) { return e.backfill; });
    } else {
      a_ids = a_types = a_bidders = "{}";
      a_envelopes.clear(); // string_to_array('') is the empty array
    }
    // False when the statement found a sequence already taken (a row of
    // nulls): nothing of it may commit.
    auto take_positions = [&](const pqxx::result& r) {
      std::unordered_map<std::string_view, std::size_t> index;
      index.reserve(events.size());
      for (std::size_t i = 0; i < events.size(); ++i)
        index.emplace(events[i].event_id, i);
      for (const auto& row : r) {
        if (row[0].is_null())
          return false;
        auto it = index.find(row[1].c_str());
        if (it != index.end())
          result[it->second] = row[0].as<std::int64_t>();
      }
      return true;
    };
    const error taken{
        "taken", {}, "an event_id or sequence number of this commit is already stored"};
    // One row per auction: a later state of the same auction wins.
    std::unordered_map<std::int64_t, std::size_t> last;
    for (std::size_t i = 0; i < auctions.size(); ++i)
      last[auctions[i].auction_id] = i;
    std::vector<const protocols::auction_row*> rows;
    rows.reserve(last.size());
    for (std::size_t i = 0; i < auctions.size(); ++i)
      if (last[auctions[i].auction_id] == i)
        rows.push_back(&auctions[i]);
    auto ends = postgres::join_array(rows, [](std::string& out, auto* a) {
      out += a->end_date ? std::to_string(*a->end_date) : "NULL";
    });
    auto closed = bool_array(rows, [](auto* a) { return a->closed; });
    auto backfilled = bool_array(rows, [](auto* a) { return a->backfilled; });
    auto a_prices =
        text_array(rows, [](auto* a) -> const std::string& { return a->current_price; });
    auto r_ids = int_array(rows, [](auto* a) { return a->auction_id; });
    auto r_last = int_array(rows, [](auto* a) { return a->last_sequence; });
    auto r_bids = int_array(rows, [](auto* a) { return a->total_bid_count; });
    auto r_beats = int_array(rows, [](auto* a) { return a->heartbeat_count; });
    // (destination, position) pairs: positions raised, dead letters resolved.
    auto names_of = [](const std::vector<std::pair<std::string, std::int64_t>>& ps) {
      return text_array(ps, [](auto& p) -> const std::string& { return p.first; });
    };
    auto positions_of = [](const std::vector<std::pair<std::string, std::int64_t>>& ps) {
      return int_array(ps, [](auto& p) { return p.second; });
    };
    auto p_names = names_of(positions);
    auto p_positions = positions_of(positions);
    auto g_names =
        text_array(progress, [](auto& p) -> const std::string& { return p.destination; });
    auto g_auctions = int_array(progress, [](auto& p) { return p.auction_id; });
    auto g_positions = int_array(progress, [](auto& p) { return p.position; });

    if (dead_letters.empty() && resolved.empty()) {
      // The usual case: events, auction rows and positions in one statement.
      pqxx::work tx{*conn_};
      auto xid = current_xid(tx);
      pqxx::result r;
      try {
        r = tx.exec_prepared("commit_all", a_ids, e_auctions, a_types, e_sequences,
                             e_bid_ids, a_bidders, e_producer, a_envelopes, e_bid_ms,
                             e_backfill, r_ids, r_last, r_bids, r_beats, ends, closed,
                             a_prices, backfilled, p_names, p_positions, g_names,
                             g_auctions, g_positions);
      } catch (const pqxx::unique_violation&) {
        return taken; // rolled back with the transaction
      }
      if (!take_positions(r))
        return taken;
      if (auto ok = commit_or_resolve(tx, xid, events); !ok)
        return ok.err();
      return result;
    }

    pqxx::work tx{*conn_};
    auto xid = current_xid(tx);
    if (!events.empty()) {
      if (!tx.exec_prepared("stale_sequences", e_auctions, a_types, e_sequences).empty())
        return taken;
      try {
        take_positions(tx.exec_prepared("insert_events", a_ids, e_auctions, a_types,
                                        e_sequences, e_bid_ids, a_bidders, e_producer,
                                        a_envelopes, e_bid_ms, e_backfill));
        tx.exec_prepared("insert_event_keys", a_ids, e_auctions);
      } catch (const pqxx::unique_violation&) {
        return taken;
      }
    }
    if (!rows.empty())
      tx.exec_prepared("upsert_auctions", r_ids, r_last, r_bids, r_beats, ends, closed,
                       a_prices, backfilled);
    // Dead letters before positions: a position never passes an event that
    // is neither delivered nor recorded here (same transaction).
    if (!dead_letters.empty()) {
      auto text = [&](auto get) { return text_array(dead_letters, get); };
      auto ints = [&](auto get) { return int_array(dead_letters, get); };
      tx.exec_prepared("insert_dead_letters",
                       text([](auto& d) -> const std::string& { return d.destination; }),
                       ints([](auto& d) { return d.position; }),
                       ints([](auto& d) { return d.auction_id; }),
                       text([](auto& d) -> const std::string& { return d.event_id; }),
                       text([](auto& d) { return protocols::to_string(d.type); }),
                       ints([](auto& d) { return d.bid_sequence; }),
                       text([](auto& d) { return protocols::to_string(d.status); }),
                       text([](auto& d) -> const std::string& { return d.reason; }),
                       ints([](auto& d) { return d.attempts; }),
                       ints([](auto& d) { return d.http_status; }), text([](auto& d) {
                         return d.envelope ? std::string_view{*d.envelope}
                                           : std::string_view{};
                       }));
    }
    if (!resolved.empty())
      tx.exec_prepared("delete_dead_letters", names_of(resolved), positions_of(resolved));
    if (!positions.empty()) {
      tx.exec_prepared("upsert_positions", p_names, p_positions);
      tx.exec_prepared("delete_progress", p_names, p_positions);
    }
    if (!progress.empty())
      tx.exec_prepared("upsert_progress", g_names, g_auctions, g_positions);
    if (auto ok = commit_or_resolve(tx, xid, events); !ok)
      return ok.err();
    return result;
  });
}

expected<std::vector<pg_store::taken>>
pg_store::find_taken(const std::vector<protocols::new_event>& events) {
  if (events.empty())
    return std::vector<taken>{};
  // A read: nothing is in doubt, and the caller commits next, which meets
  // (and reports) whatever made this fail. It runs only after a commit was
  // refused as "taken", so it may look everywhere: the event keys (any
  // day), the auction rows' last sequence, and the outbox's own unique
  // indexes in every partition.
  return guarded("find taken", [&]() -> expected<std::vector<taken>> {
    auto ids =
        text_array(events, [](auto& e) -> const std::string& { return e.event_id; });
    auto auctions = int_array(events, [](auto& e) { return e.auction_id; });
    auto sequences = int_array(events, [](auto& e) { return e.bid_sequence; });
    auto takes = bool_array(events, [](auto& e) {
      return e.type == protocols::event_type::auction_opened ||
             e.type == protocols::event_type::bid_placed;
    });
    pqxx::nontransaction tx{*conn_};
    auto r = tx.exec_params(R"sql(
select u.ord, k.auction_id
from unnest($1::text[]) with ordinality as u(event_id, ord)
join event_keys k on k.event_id = u.event_id
union
select u.ord, o.auction_id
from unnest($1::text[]) with ordinality as u(event_id, ord)
join outbox o on o.event_id = u.event_id
union
select u.ord, u.auction_id
from unnest($2::bigint[], $3::bigint[], $4::boolean[]) with ordinality
     as u(auction_id, bid_sequence, takes, ord)
join auctions a on a.auction_id = u.auction_id and u.bid_sequence <= a.last_sequence
where u.takes
union
select u.ord, o.auction_id
from unnest($2::bigint[], $3::bigint[], $4::boolean[]) with ordinality
     as u(auction_id, bid_sequence, takes, ord)
join outbox o on o.auction_id = u.auction_id and o.bid_sequence = u.bid_sequence
 and o.event_type in ('auction.opened', 'bid.placed')
where u.takes)sql",
                            ids, auctions, sequences, takes);
    std::vector<taken> out;
    out.reserve(r.size());
    for (const auto& row : r)
      out.push_back({static_cast<std::size_t>(row[0].as<std::int64_t>() - 1),
                     row[1].as<std::int64_t>()});
    return out;
  });
}

} // namespace gavel::adapters
