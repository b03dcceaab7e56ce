// The keys of the auction actor: heartbeat cadence and passivation
// (actors/auction.cpp).
#include "adapters/config/key.hpp"

namespace gavel::adapters::keys {

void add_auction_keys(std::vector<top_key>& k) {
  k.push_back(duration_key<config>(
      "auction", "heartbeat_interval", "heartbeat period of an open auction",
      [](auto& c) -> auto& { return c.auction.heartbeat_interval; }));
  k.push_back(duration_key<config>(
      "auction", "final_heartbeat_interval",
      "heartbeat period inside the final window (must be < heartbeat_interval)",
      [](auto& c) -> auto& { return c.auction.final_heartbeat_interval; }));
  k.push_back(duration_key<config>(
      "auction", "final_window",
      "time before the scheduled end in which the fast heartbeat runs (0s: never)",
      [](auto& c) -> auto& { return c.auction.final_window; }, true));
  k.push_back(duration_key<config>(
      "auction", "idle_timeout", "a closed auction's actor is passivated after this",
      [](auto& c) -> auto& { return c.auction.idle_timeout; }));
}

std::optional<key_fault> check_auction_keys(const config& c) {
  if (c.auction.final_heartbeat_interval < c.auction.heartbeat_interval)
    return std::nullopt;
  return key_fault{"auction.final_heartbeat_interval",
                   "must be shorter than auction.heartbeat_interval (" +
                       show_duration(c.auction.heartbeat_interval) + ")",
                   {"auction.final_heartbeat_interval", "auction.heartbeat_interval"}};
}

} // namespace gavel::adapters::keys
