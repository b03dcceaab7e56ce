#include "protocols/resilience.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gavel::protocols {

failure_class classify_status(int status) noexcept {
  if (status >= 200 && status < 300)
    return failure_class::none;
  if (status == 0 || status == 408 || status == 425 || status == 429 || status >= 500)
    return failure_class::transient;
  return failure_class::permanent;
}

std::optional<milliseconds> parse_retry_after(std::string_view value) noexcept {
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  std::int64_t secs = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
  if (ec != std::errc{} || ptr != value.data() + value.size() || secs < 0)
    return std::nullopt;
  return milliseconds{std::min<std::int64_t>(secs, 3600) * 1000};
}

milliseconds backoff_delay(milliseconds initial, milliseconds max, double multiplier,
                           unsigned attempt, double unit) noexcept {
  double d = static_cast<double>(initial.count()) *
             std::pow(multiplier, static_cast<double>(attempt > 0 ? attempt - 1 : 0));
  d = std::min(d, static_cast<double>(max.count()));
  unit = std::clamp(unit, 0.0, 1.0);
  return milliseconds{static_cast<std::int64_t>(d / 2 + unit * d / 2)};
}

std::size_t restart_intensity::record(steady_time now) {
  restarts_.push_back(now);
  return recent(now);
}

std::size_t restart_intensity::recent(steady_time now) {
  while (!restarts_.empty() && restarts_.front() <= now - period_)
    restarts_.pop_front();
  return restarts_.size();
}

restart_policy::decision restart_policy::on_crash(steady_time now, double unit) {
  auto crashes = intensity_.record(now);
  bool over = crashes > intensity_.limit();
  auto delay =
      over ? max_ : backoff_delay(min_, max_, 2.0, static_cast<unsigned>(crashes), unit);
  return {crashes, over, delay};
}

circuit_breaker::circuit_breaker(unsigned threshold, milliseconds open_for,
                                 milliseconds max_open_for)
    : threshold_(std::max(1u, threshold)), base_open_(open_for),
      max_open_(std::max(open_for, max_open_for)), open_for_(open_for) {}

bool circuit_breaker::allow(steady_time now) noexcept {
  switch (state_) {
  case state::closed:
    return true;
  case state::open:
    if (now < until_)
      return false;
    state_ = state::half_open;
    probe_in_flight_ = true;
    return true;
  case state::half_open:
    if (probe_in_flight_)
      return false;
    probe_in_flight_ = true;
    return true;
  }
  return false;
}

void circuit_breaker::on_success() noexcept {
  failures_ = 0;
  state_ = state::closed;
  probe_in_flight_ = false;
  open_for_ = base_open_;
}

void circuit_breaker::on_failure(steady_time now) noexcept {
  ++failures_;
  if (state_ == state::half_open) {
    open_for_ = std::min(open_for_ * 2, max_open_);
  } else if (state_ == state::closed && failures_ < threshold_) {
    return;
  } else if (state_ == state::open) {
    return; // a request that started before the circuit opened
  }
  state_ = state::open;
  probe_in_flight_ = false;
  until_ = now + open_for_;
  ++opened_;
}

circuit_breaker::state circuit_breaker::current(steady_time now) const noexcept {
  if (state_ == state::open && now >= until_)
    return state::half_open;
  return state_;
}

rate_window::rate_window(std::size_t limit, milliseconds interval)
    : configured_limit_(std::max<std::size_t>(1, limit)), limit_(configured_limit_),
      interval_(interval) {}

milliseconds rate_window::acquire(steady_time now) {
  if (now < paused_until_)
    return std::chrono::ceil<milliseconds>(paused_until_ - now);
  while (!starts_.empty() && starts_.front() + interval_ <= now)
    starts_.pop_front();
  // Evenly spaced starts: a burst of work waits for the next slot and goes
  // out in one full batch instead of spending the window on small ones.
  auto spacing = interval_ / static_cast<std::int64_t>(limit_);
  if (!starts_.empty() && now < starts_.back() + spacing)
    return std::max(milliseconds{1},
                    std::chrono::ceil<milliseconds>(starts_.back() + spacing - now));
  if (starts_.size() < limit_) {
    starts_.push_back(now);
    return milliseconds{0};
  }
  // The slot frees when the oldest of the last `limit_` starts leaves the window.
  auto frees = starts_[starts_.size() - limit_] + interval_;
  return std::max(milliseconds{1}, std::chrono::ceil<milliseconds>(frees - now));
}

void rate_window::pause_until(steady_time until) noexcept {
  paused_until_ = std::max(paused_until_, until);
}

void rate_window::observe(std::optional<std::size_t> max,
                          std::optional<std::size_t> remaining,
                          std::optional<milliseconds> interval, steady_time now) {
  if (interval && interval->count() > 0)
    interval_ = *interval;
  if (max && *max > 0)
    limit_ = std::min(configured_limit_, *max);
  if (remaining && *remaining == 0)
    pause_until(now + interval_);
}

} // namespace gavel::protocols
