#include "actors/board.hpp"

#include <algorithm>

namespace gavel::actors {

void auction_board::update(const auction_view& v, bool heartbeat,
                           protocols::unix_ms now) {
  std::lock_guard guard{mutex_};
  auto& slot = auctions_[v.auction_id];
  auto last = slot.last_heartbeat_ms;
  slot = v;
  slot.last_heartbeat_ms = heartbeat ? now : last;
}

void auction_board::remove(std::int64_t auction_id) {
  std::lock_guard guard{mutex_};
  auctions_.erase(auction_id);
}

auction_board::summary auction_board::summarize(protocols::unix_ms now,
                                                std::int64_t final_window_ms) const {
  summary s;
  std::lock_guard guard{mutex_};
  for (const auto& [id, a] : auctions_) {
    if (a.closed) {
      ++s.closed;
      continue;
    }
    ++s.active;
    if (a.end_date && final_window_ms > 0 && now >= *a.end_date - final_window_ms &&
        now < *a.end_date + final_window_ms)
      s.final_window.push_back(a);
  }
  std::sort(s.final_window.begin(), s.final_window.end(),
            [](const auto& x, const auto& y) { return x.end_date < y.end_date; });
  return s;
}

} // namespace gavel::actors
