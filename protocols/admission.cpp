#include "protocols/admission.hpp"

#include <algorithm>

namespace gavel::protocols {

namespace {

/// Growth per interval while on time and bound: 10 % compounds to doubling
/// in about 0.7 s at the default interval, slow enough that the latency of
/// the last step is seen before the next ones pile up.
constexpr double growth = 0.10;
/// A single cut never takes more than half: one slow fsync should not empty
/// the pipeline that group commit needs to batch.
constexpr double max_cut = 0.5;
/// Live answers kept per second for backfill's pace: a p99 needs far fewer.
constexpr std::size_t max_answers = 65536;
/// Fewer live answers in a second than this tell nothing about its p99.
constexpr std::size_t min_answers = 20;
/// Backfill's pace: every this many seconds of live traffic, two without
/// backfill (one to drain, one measured) renew the baseline.
constexpr int clean_every = 10;
/// A second with backfill may take live p99 to 1.1 times its baseline plus
/// half a millisecond (below which scheduling noise dominates): the margin
/// under the 1.5 times issue 13 allows is for what a second's p99 misses.
constexpr double slow_factor = 1.1;
constexpr std::chrono::microseconds slow_slack{500};

} // namespace

std::string_view to_string(shed_reason r) noexcept {
  switch (r) {
  case shed_reason::none:
    return "none";
  case shed_reason::queue_delay:
    return "queue_delay";
  case shed_reason::max_in_flight:
    return "max_in_flight";
  }
  return "none";
}

admission_controller::admission_controller(admission_settings s, admission_time now)
    : s_(s), interval_end_(now + s.interval), changed_at_(now),
      spare_rate_(s.spare_rate_initial), rate_window_end_(now + std::chrono::seconds{1}) {
  s_.spare_rate_min = std::max(1.0, s_.spare_rate_min);
  s_.spare_rate_max = std::max(s_.spare_rate_min, s_.spare_rate_max);
  spare_rate_ = std::clamp(spare_rate_, s_.spare_rate_min, s_.spare_rate_max);
  answers_.reserve(max_answers);
  s_.max_in_flight = std::max<std::size_t>(1, s_.max_in_flight);
  s_.min_limit = std::clamp<std::size_t>(s_.min_limit, 1, s_.max_in_flight);
  limit_ = static_cast<double>(
      s_.enabled ? std::clamp(s_.initial_limit, s_.min_limit, s_.max_in_flight)
                 : s_.max_in_flight);
}

shed_reason admission_controller::check(admission_time now) noexcept {
  roll(now);
  // Backfill's events take only spare room (acquire_spare): the limit is
  // live traffic's, so they never count against a live request. An empty
  // pipeline always takes a request, even one larger than the limit: there
  // is no queue for it to wait in.
  if (live() == 0)
    return shed_reason::none;
  if (in_flight_ >= s_.max_in_flight)
    return shed_reason::max_in_flight;
  if (static_cast<double>(live()) >= limit_) {
    binding_ = true;
    return shed_reason::queue_delay;
  }
  return shed_reason::none;
}

shed_reason admission_controller::acquire(admission_time now, std::size_t n) noexcept {
  roll(now);
  if (in_flight_ > 0 && in_flight_ + n > s_.max_in_flight)
    return shed_reason::max_in_flight;
  in_flight_ += n;
  live_now_ = true;
  if (static_cast<double>(live()) >= limit_)
    binding_ = true;
  return shed_reason::none;
}

shed_reason admission_controller::acquire_spare(admission_time now,
                                                std::size_t n) noexcept {
  roll(now);
  const double room = (s_.enabled ? limit_ : static_cast<double>(s_.max_in_flight)) / 2;
  // An empty pipeline takes one batch whatever its size (as check() does):
  // there is no one for it to delay.
  const bool live_flows = live() > 0 || live_now_ || live_before_;
  if (live_flows && (spare_ > 0 || now < spare_next_))
    return shed_reason::queue_delay;
  if (live_flows && clean_left_ > 0)
    return shed_reason::queue_delay; // measuring live latency without backfill
  if (live_flows && now < spare_paced_) {
    spare_held_ = true;
    return shed_reason::queue_delay;
  }
  if (in_flight_ > 0 &&
      (delay_ * 4 > s_.target_delay || static_cast<double>(in_flight_ + n) > room ||
       (n == 0 && static_cast<double>(in_flight_) >= room)))
    return shed_reason::queue_delay;
  if (spare_ == 0 && n > 0)
    spare_since_ = now;
  if (live_flows && n > 0)
    spare_paced_ =
        now + std::chrono::duration_cast<admission_clock::duration>(
                  std::chrono::duration<double>(static_cast<double>(n) / spare_rate_));
  in_flight_ += n;
  spare_ += n;
  if (n > 0)
    spare_ran_ = true;
  return shed_reason::none;
}

void admission_controller::release_spare(admission_time now, std::size_t n) noexcept {
  n = std::min(n, spare_);
  spare_ -= n;
  in_flight_ -= n;
  // Backfill's share of the time beside live traffic: a quarter (its busy
  // time, then three times as long without it).
  if (spare_ == 0 && n > 0)
    spare_next_ = now + (now - spare_since_) * 3;
  roll(now);
}

void admission_controller::release(admission_time now, std::size_t n,
                                   admission_time admitted) noexcept {
  in_flight_ -= std::min(n, live());
  if (answers_.size() < answers_.capacity())
    answers_.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(now - admitted));
  if (admitted >= changed_at_) {
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(now - admitted);
    fastest_ = std::min(fastest_, took);
    ++samples_;
  }
  roll(now);
}

void admission_controller::roll_spare_rate(admission_time now) noexcept {
  if (now < rate_window_end_)
    return;
  const bool ran = spare_ran_ || spare_ > 0;
  const bool measured = answers_.size() >= min_answers;
  if (measured) {
    auto p99 = answers_.begin() + static_cast<std::ptrdiff_t>(answers_.size() * 99 / 100);
    std::nth_element(answers_.begin(), p99, answers_.end());
    if (clean_left_ == 1 && !ran) {
      // The measured second of a clean pair: the baseline follows it.
      baseline_ = baseline_.count() == 0 ? *p99 : (baseline_ * 7 + *p99 * 3) / 10;
      seconds_since_clean_ = 0;
    } else if (ran && baseline_.count() > 0) {
      const auto line =
          std::chrono::duration_cast<std::chrono::microseconds>(baseline_ * slow_factor) +
          slow_slack;
      if (*p99 > line)
        spare_rate_ = std::max(s_.spare_rate_min, spare_rate_ / 2);
      else if (spare_held_)
        spare_rate_ = std::min(s_.spare_rate_max, spare_rate_ * 1.25);
    }
  }
  // A clean pair runs out whatever the traffic: with too few live answers
  // to measure, backfill must not wait for one.
  if (clean_left_ > 0)
    --clean_left_;
  else if (measured && (baseline_.count() == 0 || ++seconds_since_clean_ >= clean_every))
    clean_left_ = 2;
  answers_.clear();
  spare_held_ = spare_ran_ = false;
  rate_window_end_ = now + std::chrono::seconds{1};
}

void admission_controller::roll(admission_time now) noexcept {
  roll_spare_rate(now);
  if (now < interval_end_)
    return;
  // More than one interval since the last roll: the one before now was idle.
  live_before_ = live_now_ && now < interval_end_ + s_.interval;
  live_now_ = false;
  if (samples_ > 0) {
    delay_ = fastest_;
    if (s_.enabled) {
      const auto target = std::chrono::duration<double>(s_.target_delay).count();
      const auto fastest = std::chrono::duration<double>(fastest_).count();
      const double old = limit_;
      if (fastest > target) {
        // Proportional cut (the gradient target/delay): a queue twice the
        // target halves the limit, a slight excess trims it.
        limit_ *= std::max(max_cut, target / fastest);
      } else if (binding_) {
        limit_ *= 1 + growth;
      }
      limit_ = std::clamp(limit_, static_cast<double>(s_.min_limit),
                          static_cast<double>(s_.max_in_flight));
      if (limit_ != old)
        changed_at_ = now;
    }
  } else if (live() == 0) {
    // No live request in flight and none answered: no live queue stands
    // (backfill batches alone must not keep an old measurement alive).
    delay_ = {};
  }
  fastest_ = std::chrono::microseconds::max();
  samples_ = 0;
  binding_ = static_cast<double>(live()) >= limit_;
  interval_end_ = now + s_.interval;
}

} // namespace gavel::protocols
