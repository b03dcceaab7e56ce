// `sim replay`: sends a recorded JSON-lines bid log (sim/README.md, "Bid log")
// to Gavel at its original pace, faster, or as fast as acknowledged.

#include "protocols/event.hpp"
#include "protocols/json.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/workload.hpp"

#include <charconv>
#include <fstream>
#include <iostream>
#include <unordered_map>

namespace gavel::sim {

namespace {

namespace pj = protocols::json;

std::optional<std::int64_t> int_of(const pj::value* v) {
  if (v == nullptr || (!v->is_number() && !v->is_string()))
    return std::nullopt;
  const auto& t = v->text;
  std::int64_t out = 0;
  auto res = std::from_chars(t.data(), t.data() + t.size(), out);
  if (res.ec != std::errc{})
    return std::nullopt;
  if (res.ptr != t.data() + t.size()) {
    // "1781012591412.381": a fractional time; the whole milliseconds do.
    if (*res.ptr != '.')
      return std::nullopt;
  }
  return out;
}

} // namespace

int run_replay(const replay_args& args) {
  std::ifstream in(args.file, std::ios::binary);
  if (!in) {
    std::cerr << "sim replay: cannot open " << args.file << "\n";
    return 2;
  }
  send_options o;
  if (!read_send_args(args, "sim replay", o))
    return 2;
  if (args.speed < 0) {
    std::cerr << "sim replay: --speed must be >= 0\n";
    return 2;
  }

  // Events go to per-auction scripts in file order; a repeated event_id is a
  // resend of the first occurrence (Gavel must answer `duplicate`).
  std::vector<auction_script> scripts;
  std::unordered_map<std::int64_t, std::size_t> script_of;
  std::vector<std::unordered_map<std::string, std::int32_t>> seen;
  std::string line;
  std::size_t lineno = 0, skipped = 0;
  std::int64_t last_t = std::numeric_limits<std::int64_t>::min();
  auto skip = [&](const std::string& why) {
    if (++skipped <= 5)
      std::cerr << "sim replay: " << args.file << ":" << lineno << ": skipped (" << why
                << ")\n";
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto doc = pj::parse(line);
    if (!doc || !doc->is_object()) {
      skip("not a JSON object");
      continue;
    }
    const pj::value* ev = doc->find("event");
    if (ev == nullptr || !ev->is_object()) {
      skip("no \"event\" object");
      continue;
    }
    std::optional<std::int64_t> t = int_of(doc->find("t_ms"));
    if (!t)
      if (const auto* iso = doc->find("t"); iso != nullptr && iso->is_string())
        t = parse_iso8601(iso->text);
    if (!t) {
      skip("no t_ms / t");
      continue;
    }
    const pj::value* type = ev->find("event_type");
    const pj::value* data = ev->find("data");
    if (type == nullptr || !type->is_string() || data == nullptr || !data->is_object()) {
      skip("event without event_type or data");
      continue;
    }
    auto auction = int_of(data->find("auction_id"));
    if (!auction) {
      skip("no data.auction_id");
      continue;
    }
    script_event se;
    if (type->text == "auction.opened") {
      se.kind = event_kind::opened;
      se.event_id = protocols::opened_event_id(*auction);
    } else if (type->text == "auction.closed") {
      se.kind = event_kind::closed;
      se.event_id = protocols::closed_event_id(*auction);
    } else if (type->text == "bid.placed") {
      auto bid = int_of(data->find("bid_id"));
      if (!bid) {
        skip("bid without data.bid_id");
        continue;
      }
      se.kind = event_kind::bid;
      se.event_id = protocols::bid_event_id(*bid);
    } else {
      skip("event_type " + type->text);
      continue;
    }
    // The log is in time order; a line out of order keeps its file position.
    last_t = std::max(last_t, *t);
    se.t_ms = last_t;
    se.body = pj::dump(*ev); // numbers keep their text: amounts stay exact
    auto [it, fresh] = script_of.emplace(*auction, scripts.size());
    if (fresh) {
      scripts.emplace_back();
      scripts.back().auction_id = *auction;
      seen.emplace_back();
    }
    auto& script = scripts[it->second];
    auto idx = static_cast<std::int32_t>(script.events.size());
    auto [first, is_new] = seen[it->second].emplace(se.event_id, idx);
    if (!is_new)
      se.resend_of = first->second;
    else if (se.kind == event_kind::bid)
      ++script.bids;
    script.closed = script.closed || se.kind == event_kind::closed;
    script.events.push_back(std::move(se));
  }
  if (skipped > 5)
    std::cerr << "sim replay: " << skipped << " lines skipped in total\n";
  if (scripts.empty()) {
    std::cerr << "sim replay: no events in " << args.file << "\n";
    return 2;
  }

  o.time_scale = args.speed;
  o.workload_text = std::to_string(scripts.size()) + " auctions from " + args.file;
  return send_workload(scripts, o);
}

} // namespace gavel::sim
