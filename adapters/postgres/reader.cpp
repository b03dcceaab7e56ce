// The outbox reader: what auctions restore, what destinations read and
// resume from, and the dead letters the operations API lists.
#include "adapters/postgres/arrays.hpp"
#include "adapters/postgres/guarded.hpp"
#include "protocols/fingerprint.hpp"

#include <pqxx/pqxx>
#include <unordered_map>

namespace gavel::adapters {

using postgres::int_array;
using protocols::auction_snapshot;
using protocols::dead_letter;
using protocols::event_type;
using protocols::outbox_record;

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
      s.row.backfilled = r[7].as<bool>();
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
      rec.backfill = row[8].as<bool>();
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

expected<std::vector<dead_letter>>
pg_store::dead_letters(const std::string& destination, std::int64_t auction_id,
                       std::int64_t after, std::size_t limit,
                       const std::string& after_destination) {
  return guarded("read dead letters", [&]() -> expected<std::vector<dead_letter>> {
    prepare_statements();
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_prepared("select_dead_letters", destination, auction_id, after,
                              static_cast<std::int64_t>(limit), after_destination);
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
      d.status = std::string_view{row[6].c_str()} == "parked"
                     ? protocols::dead_letter_status::parked
                     : protocols::dead_letter_status::dead;
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

} // namespace gavel::adapters
