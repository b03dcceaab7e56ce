#pragma once

#include "actors/interfaces.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>

namespace gavel::actors {

/// A destination's delivered-through position and its per-auction progress
/// (ADR 0003, ADR 0012), as plain code: which loaded records are done
/// (delivered, dead-lettered, or not for this destination), the highest
/// position with everything at or below it done, and what to save. A
/// position is never saved past a record that is not done, so a restart never
/// skips one; records done before a restart (per-auction progress) are not
/// sent again.
class delivery_watermark {
public:
  /// Starting (or restarting) from the stored position and the per-auction
  /// progress beyond it.
  void resume(std::int64_t position, const auction_progress& done_before);

  /// A record loaded, live or from the outbox, in position order. Returns
  /// true when it was done before the restart: it is then already marked
  /// done and must not be sent again.
  bool load(std::int64_t position, std::int64_t auction, std::int64_t created_ms);

  /// A loaded record is done. Unknown positions are ignored (a redriven dead
  /// letter was done when it was dead-lettered).
  void done(std::int64_t position);

  /// Caught up with nothing held: the position moves to what was loaded
  /// (positions in between were not this destination's, or were never used).
  void settle();

  std::int64_t delivered_through() const noexcept { return delivered_through_; }
  std::int64_t loaded_through() const noexcept { return loaded_through_; }
  /// Records loaded and not yet behind the delivered-through position.
  std::size_t held() const noexcept { return order_.size(); }
  /// Commit time (unix ms) of the oldest record not done, if any.
  std::optional<std::int64_t> oldest_pending_ms() const;

  /// Whether the position or some auction's progress moved since the last save.
  bool save_due() const noexcept {
    return delivered_through_ > saved_through_ || !progress_unsaved_.empty();
  }
  /// What to save now: the position and the auctions done beyond it.
  std::pair<std::int64_t, auction_progress> take_save();

private:
  struct slot {
    std::int64_t position;
    bool done;
    std::int64_t created_ms;
    std::int64_t auction_id;
  };
  void advance();

  std::deque<slot> order_; ///< ascending positions
  std::int64_t delivered_through_ = 0;
  std::int64_t saved_through_ = 0;
  std::int64_t loaded_through_ = 0;
  /// Auction → highest position done beyond delivered_through, not yet saved.
  std::unordered_map<std::int64_t, std::int64_t> progress_unsaved_;
  /// What the store held at start-up: auction → highest position done.
  std::unordered_map<std::int64_t, std::int64_t> done_before_;
  std::int64_t done_before_max_ = 0;
};

} // namespace gavel::actors
