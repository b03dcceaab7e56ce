#pragma once

#include "protocols/event.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gavel::actors {

/// What the operations API shows about one auction: its durable state as the
/// auction actor last committed it.
struct auction_view {
  std::int64_t auction_id = 0;
  std::optional<protocols::unix_ms> end_date;
  bool closed = false;
  std::int64_t last_sequence = 0;
  std::int64_t heartbeat_count = 0;
  protocols::unix_ms last_heartbeat_ms = 0; ///< 0: none since this process started
};

/// The AUCTION BOARD: a thread-safe summary of the auctions held by auction
/// actors, written by them after each commit and read by /v1/pipeline,
/// /metrics and the alerts actor. A mutex, not an actor: one short critical
/// section per commit, and readers must not queue behind a burst of ingest
/// messages to answer a health probe.
class auction_board {
public:
  /// The auction actor's state after a commit (heartbeat: one was emitted at `now`).
  void update(const auction_view& v, bool heartbeat, protocols::unix_ms now);
  /// The auction actor ended (passivated or stopped).
  void remove(std::int64_t auction_id);

  struct summary {
    std::size_t active = 0; ///< held and not closed
    std::size_t closed = 0; ///< held, closed, not yet passivated
    /// Open auctions with now in [end − final_window, end + final_window).
    std::vector<auction_view> final_window;
  };
  summary summarize(protocols::unix_ms now, std::int64_t final_window_ms) const;

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, auction_view> auctions_;
};

} // namespace gavel::actors
