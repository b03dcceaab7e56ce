// `gavel backfill --verify`: the file against the outbox, read straight
// from Gavel's database like `gavel reconcile`.
#include "actors/cmd/backfill.hpp"
#include "actors/cmd/backfill_file.hpp"
#include "adapters/postgres/store.hpp"
#include "protocols/event.hpp"
#include "protocols/json.hpp"

#include <algorithm>
#include <iostream>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace gavel::actors {

namespace {

struct file_event {
  std::string id;
  protocols::event_type type;
};

} // namespace

std::size_t verify_backfill(const std::string& path, const std::string& database_url) {
  std::size_t differences = 0;
  auto report = [&](const std::string& line) {
    if (differences++ < 50)
      std::cerr << line << "\n";
  };
  auto file = backfill_file::open(path);
  if (!file) {
    report("verify: " + file.err().message);
    return differences;
  }
  // The events ingest would take, per auction in file order (a repeated
  // event is one event).
  std::map<std::int64_t, std::vector<file_event>> by_auction;
  std::unordered_set<std::string> seen;
  while (auto rec = file->next()) {
    if (!rec->event)
      continue;
    auto doc = protocols::json::parse(*rec->event);
    if (!doc)
      continue;
    auto ev = protocols::validate_event(*doc);
    if (!ev)
      continue;
    auto id = ev->event_id();
    if (!seen.insert(id).second)
      continue;
    by_auction[ev->auction_id].push_back({std::move(id), ev->type});
  }
  seen.clear();
  adapters::pg_store store{{database_url}};
  std::vector<std::int64_t> ids;
  auto check_chunk = [&]() -> bool {
    auto events = store.auction_events(ids);
    if (!events) {
      report("verify: database: " + events.err().message);
      return false;
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto auction = ids[i];
      const auto& outbox = (*events)[i];
      const auto name = "auction " + std::to_string(auction) + ": ";
      std::unordered_map<std::string_view, std::int64_t> seq_of;
      std::vector<std::int64_t> sequences;
      std::string outbox_close;
      for (const auto& e : outbox) {
        if (!seq_of.emplace(e.event_id, e.bid_sequence).second)
          report(name + e.event_id + " is in the outbox twice");
        if (e.type == protocols::event_type::auction_closed)
          outbox_close = e.event_id;
        else
          sequences.push_back(e.bid_sequence);
      }
      std::sort(sequences.begin(), sequences.end());
      for (std::size_t k = 0; k < sequences.size(); ++k)
        if (sequences[k] != static_cast<std::int64_t>(k) + 1) {
          report(name + "sequences do not run 1.." + std::to_string(sequences.size()) +
                 " (at " + std::to_string(k + 1) + ": " + std::to_string(sequences[k]) +
                 ")");
          break;
        }
      bool closed_before = false; // in file order, or by an event not in the file
      std::unordered_set<std::string_view> in_file;
      for (const auto& fe : by_auction[auction])
        in_file.insert(fe.id);
      if (!outbox_close.empty() && !in_file.count(outbox_close))
        closed_before = true;
      std::int64_t last = 0;
      for (const auto& fe : by_auction[auction]) {
        auto it = seq_of.find(fe.id);
        if (it == seq_of.end()) {
          // Ingest refuses a bid once its auction is closed: not a loss.
          if (!(closed_before && fe.type == protocols::event_type::bid_placed))
            report(name + "missing " + fe.id);
          continue;
        }
        const bool bid = fe.type == protocols::event_type::bid_placed;
        if (it->second < last || (bid && it->second == last))
          report(name + fe.id + " at sequence " + std::to_string(it->second) +
                 ", after sequence " + std::to_string(last) + " in the file's order");
        last = std::max(last, it->second);
        if (fe.type == protocols::event_type::auction_closed)
          closed_before = true;
      }
    }
    ids.clear();
    return true;
  };
  for (const auto& [auction, events] : by_auction) {
    ids.push_back(auction);
    if (ids.size() == 1000 && !check_chunk())
      return differences;
  }
  if (!ids.empty())
    check_chunk();
  if (differences > 50)
    std::cerr << "… and " << differences - 50 << " more\n";
  std::cerr << "verify: " << by_auction.size() << " auctions of " << path
            << " compared with the outbox" << std::endl;
  return differences;
}

} // namespace gavel::actors
