#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

/// Delivery policy as pure, clock-parameterised code: failure classes,
/// backoff, the circuit breaker and the client-side rate limit. Every
/// function takes `now`, so tests drive time by hand.
namespace gavel::protocols {

using steady_time = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

/// What a failed delivery means for the record.
enum class failure_class : std::uint8_t {
  none,      ///< delivered
  transient, ///< try again later (timeouts, resets, 408, 429, 5xx)
  permanent, ///< will never succeed as sent (other 4xx): dead-letter
};

/// Classifies an HTTP status; 0 (no response: connect error, timeout, reset)
/// is transient.
failure_class classify_status(int status) noexcept;

/// `Retry-After` as delta-seconds (an HTTP-date or garbage yields nullopt).
std::optional<milliseconds> parse_retry_after(std::string_view value) noexcept;

/// Exponential backoff with "equal jitter": half of the capped exponential
/// delay is fixed, half uniformly random (`unit` in [0, 1)), so failures that
/// happened together do not retry together.
milliseconds backoff_delay(milliseconds initial, milliseconds max, double multiplier,
                           unsigned attempt, double unit) noexcept;

/// A supervisor's restart intensity: how many restarts fell within the last
/// `period`. More than `limit` of them means restarting is not curing the
/// failure, and the supervisor escalates (alert, slower retries, or giving up:
/// its call).
class restart_intensity {
public:
  restart_intensity(unsigned limit, milliseconds period) noexcept
      : limit_(limit), period_(period) {}

  /// Records a restart at `now`; returns how many fell within the period.
  std::size_t record(steady_time now);
  /// Restarts within the period as of `now` (older ones are forgotten).
  std::size_t recent(steady_time now);
  /// Whether more than `limit` restarts fell within the period.
  bool exceeded(steady_time now) { return recent(now) > limit_; }
  void clear() noexcept { restarts_.clear(); }
  unsigned limit() const noexcept { return limit_; }
  milliseconds period() const noexcept { return period_; }

private:
  unsigned limit_;
  milliseconds period_;
  std::deque<steady_time> restarts_;
};

/// One supervisor's restart decision, the same for every supervisor in the
/// tree (destination worker, core, embedded PostgreSQL): the crash counts
/// toward the restart intensity, and the restart waits an exponential
/// backoff with jitter over the crashes within the period. What to do over
/// the limit is the supervisor's call (the destination and core supervisors
/// give up until an operator restarts them; the database's keeps trying at
/// the backoff's maximum, because nothing works without it).
class restart_policy {
public:
  struct decision {
    std::size_t crashes; ///< within the period, this one included
    bool over_limit;     ///< more than `limit` of them
    milliseconds delay;  ///< before restarting; the maximum when over the limit
  };

  restart_policy(unsigned limit, milliseconds period, milliseconds backoff_min,
                 milliseconds backoff_max) noexcept
      : intensity_(limit, period), min_(backoff_min), max_(backoff_max) {}

  /// A crash (or a failed restart) at `now`; `unit` in [0, 1) draws the jitter.
  decision on_crash(steady_time now, double unit);
  /// Whether the crashes within the period, as of `now`, are over the limit.
  bool exceeded(steady_time now) { return intensity_.exceeded(now); }
  /// An operator's restart: a clean slate.
  void reset() noexcept { intensity_.clear(); }
  unsigned limit() const noexcept { return intensity_.limit(); }
  milliseconds period() const noexcept { return intensity_.period(); }

private:
  restart_intensity intensity_;
  milliseconds min_, max_;
};

/// Closed → (threshold consecutive failures) → open → (open_for elapsed) →
/// half-open: one probe at a time; a probe's success closes it, its failure
/// opens it again for twice as long (up to max_open_for).
class circuit_breaker {
public:
  enum class state : std::uint8_t { closed, open, half_open };

  circuit_breaker(unsigned threshold = 5, milliseconds open_for = milliseconds{5000},
                  milliseconds max_open_for = milliseconds{60000});

  /// Whether a request may start now; in half-open, true once (the probe).
  bool allow(steady_time now) noexcept;
  void on_success() noexcept;
  void on_failure(steady_time now) noexcept;
  /// The state as of `now` (open turns half-open when its time is up).
  state current(steady_time now) const noexcept;
  /// When an open circuit admits its next probe.
  steady_time reopens_at() const noexcept { return until_; }
  unsigned consecutive_failures() const noexcept { return failures_; }
  std::uint64_t times_opened() const noexcept { return opened_; }

private:
  unsigned threshold_;
  milliseconds base_open_, max_open_, open_for_;
  unsigned failures_ = 0;
  state state_ = state::closed;
  steady_time until_{};
  bool probe_in_flight_ = false;
  std::uint64_t opened_ = 0;
};

/// At most `limit` request starts in any rolling `interval` (HubSpot's
/// "100 requests per 10 s"), evenly spaced (interval / limit apart, so work
/// that piles up meanwhile leaves in full batches), plus pauses the server
/// asks for (429 Retry-After, or Remaining 0 in its rate-limit headers).
class rate_window {
public:
  rate_window(std::size_t limit, milliseconds interval);

  /// Zero: a slot was taken for a request starting now. Otherwise the time
  /// to wait before asking again (nothing taken).
  milliseconds acquire(steady_time now);
  /// Admits nothing before `until`.
  void pause_until(steady_time until) noexcept;
  /// Adapts to `X-HubSpot-RateLimit-Max`, `-Remaining` and
  /// `-Interval-Milliseconds` (each optional): a smaller server limit
  /// lowers ours; Remaining 0 pauses until the interval has passed.
  void observe(std::optional<std::size_t> max, std::optional<std::size_t> remaining,
               std::optional<milliseconds> interval, steady_time now);
  std::size_t limit() const noexcept { return limit_; }
  milliseconds interval() const noexcept { return interval_; }

private:
  std::size_t configured_limit_;
  std::size_t limit_;
  milliseconds interval_;
  std::deque<steady_time> starts_;
  steady_time paused_until_{};
};

} // namespace gavel::protocols
