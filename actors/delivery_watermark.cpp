#include "actors/delivery_watermark.hpp"

#include <algorithm>

namespace gavel::actors {

void delivery_watermark::resume(std::int64_t position,
                                const auction_progress& done_before) {
  order_.clear();
  progress_unsaved_.clear();
  delivered_through_ = saved_through_ = loaded_through_ = position;
  done_before_.clear();
  done_before_max_ = 0;
  for (const auto& [auction, at] : done_before) {
    done_before_[auction] = at;
    done_before_max_ = std::max(done_before_max_, at);
  }
}

bool delivery_watermark::load(std::int64_t position, std::int64_t auction,
                              std::int64_t created_ms) {
  loaded_through_ = position;
  bool done_already = false;
  if (position <= done_before_max_) {
    // Delivered (or dead-lettered) before a restart, though the prefix
    // position had not passed it.
    auto it = done_before_.find(auction);
    done_already = it != done_before_.end() && position <= it->second;
  } else if (!done_before_.empty()) {
    done_before_.clear();
  }
  order_.push_back({position, false, created_ms, auction});
  if (done_already)
    done(position);
  return done_already;
}

void delivery_watermark::done(std::int64_t position) {
  auto it =
      std::lower_bound(order_.begin(), order_.end(), position,
                       [](const slot& s, std::int64_t p) { return s.position < p; });
  if (it != order_.end() && it->position == position) {
    it->done = true;
    auto& p = progress_unsaved_[it->auction_id];
    p = std::max(p, position);
  }
  advance();
}

void delivery_watermark::advance() {
  while (!order_.empty() && order_.front().done) {
    delivered_through_ = order_.front().position;
    order_.pop_front();
  }
  if (order_.empty())
    delivered_through_ = std::max(delivered_through_, loaded_through_);
}

void delivery_watermark::settle() {
  if (order_.empty())
    delivered_through_ = std::max(delivered_through_, loaded_through_);
}

std::optional<std::int64_t> delivery_watermark::oldest_pending_ms() const {
  for (const auto& o : order_)
    if (!o.done)
      return o.created_ms;
  return std::nullopt;
}

std::pair<std::int64_t, auction_progress> delivery_watermark::take_save() {
  auction_progress progress;
  for (auto& [auction, pos] : progress_unsaved_)
    if (pos > delivered_through_)
      progress.emplace_back(auction, pos);
  progress_unsaved_.clear();
  saved_through_ = delivered_through_;
  return {delivered_through_, std::move(progress)};
}

} // namespace gavel::actors
