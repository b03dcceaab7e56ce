#include "sim/verify_digest.hpp"

#include <set>

namespace gavel::sim {

std::map<std::int64_t, protocols::auction_digest>
closed_auction_digests(const std::vector<arrival_record>& arrivals) {
  std::map<std::int64_t, std::vector<protocols::digest_event>> events;
  std::set<std::int64_t> closed;
  std::set<std::string> seen;
  for (const auto& a : arrivals) {
    if (!a.sig_ok || a.malformed || !a.bid_sequence || !seen.insert(a.event_id).second)
      continue;
    auto type = protocols::parse_event_type(a.event_type);
    if (!type)
      continue;
    if (*type == protocols::event_type::auction_closed)
      closed.insert(a.auction_id);
    events[a.auction_id].push_back({*type, *a.bid_sequence, a.event_id});
  }
  std::map<std::int64_t, protocols::auction_digest> out;
  for (auto id : closed)
    out[id] = protocols::digest_of(std::move(events[id]));
  return out;
}

} // namespace gavel::sim
