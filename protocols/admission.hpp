#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

/// Admission of ingest requests by time (ADR 0014): an adaptive limit on the
/// events in flight, cut when the requests' own latency shows a standing
/// queue (CoDel's test: even the fastest answer of an interval was late) and
/// grown while answers are on time and the limit is what holds the load back.
/// Pure and clock-parameterised, like resilience.hpp: tests drive time by hand.
namespace gavel::protocols {

using admission_clock = std::chrono::steady_clock;
using admission_time = admission_clock::time_point;

struct admission_settings {
  /// Off: only the hard cap (`max_in_flight`) applies, as before ADR 0014.
  bool enabled = true;
  /// Queue delay Gavel tolerates: when the fastest answer of an interval took
  /// longer, every request waited, so the limit is cut.
  std::chrono::milliseconds target_delay{100};
  /// How often the limit is reconsidered (and the window the fastest answer is
  /// taken over): longer than one commit, short enough to react in a blink.
  std::chrono::milliseconds interval{100};
  std::size_t initial_limit = 2000;   ///< events in flight at start
  std::size_t min_limit = 100;        ///< never below (one batch of 100 keeps flowing)
  std::size_t max_in_flight = 100000; ///< hard cap on events in flight (memory)
  /// Beside live traffic, backfill is paced at a rate that adapts to live
  /// latency (acquire_spare): where it starts, and its bounds, in events/s.
  double spare_rate_initial = 1000;
  double spare_rate_min = 100;
  double spare_rate_max = 1'000'000;
};

/// Why a request is answered 503 at the door.
enum class shed_reason : std::uint8_t {
  none,
  queue_delay,   ///< the adaptive limit is reached: the answer would be late
  max_in_flight, ///< the hard cap on events in flight
};

std::string_view to_string(shed_reason r) noexcept;

/// Not thread-safe: the caller serialises (one mutex around it in the service).
class admission_controller {
public:
  admission_controller(admission_settings s, admission_time now);

  /// Before the body is parsed: whether one more request may enter. Cheap, so
  /// a shed request costs Gavel nothing but reading its bytes.
  shed_reason check(admission_time now) noexcept;
  /// After parsing, `n` events of a request that passed check() enter; only
  /// the hard cap can still refuse them (the adaptive limit was checked
  /// before: overshoot is at most one request per concurrent parse).
  shed_reason acquire(admission_time now, std::size_t n) noexcept;
  /// A low-priority request of `n` events (a backfill batch, DESIGN §1.10):
  /// it takes only spare capacity, so it is refused (queue_delay) while a
  /// queue stands (the last interval's fastest live answer took over a
  /// quarter of the target), when it would fill more than half the limit,
  /// or, while live traffic flows (a live request in flight or admitted in
  /// this interval or the last), when it comes too early. Beside live
  /// traffic backfill has one batch in flight at a time, at most a quarter
  /// of the time (after a batch that took d, the next waits 3d), and is
  /// paced at spare_rate() events/s: a batch of n waits n / rate after the
  /// one before. The pace follows live latency against live latency without
  /// backfill: each second's live p99 is compared with a baseline, the p99
  /// of seconds without backfill (two such seconds every twelve while live
  /// traffic flows: one for backfill's last work to drain, one measured). A
  /// second with backfill whose p99 is over 1.1 times the baseline plus
  /// 0.5 ms halves the pace; one within it grows the pace by a quarter if the
  /// pace held a batch back: backfill takes what live latency shows to be
  /// spare.
  /// An empty pipeline takes it whatever its size. Its events never count against
  /// live requests (check() compares only live events with the limit): a
  /// limit cut while backfill batches are in flight sheds no live request
  /// for them.
  shed_reason acquire_spare(admission_time now, std::size_t n) noexcept;
  /// Before a low-priority request's body is parsed: whether it could be
  /// admitted at all now (acquire_spare with no events), so that a batch
  /// turned away costs only reading its bytes.
  shed_reason check_spare(admission_time now) noexcept { return acquire_spare(now, 0); }
  /// A low-priority request's `n` events got their answer. Its latency is
  /// not a sample: only live traffic judges the limit, so a large backfill
  /// batch never cuts what live requests may use.
  void release_spare(admission_time now, std::size_t n) noexcept;
  /// The `n` events of a request admitted at `admitted` got their answer
  /// (whatever it was) at `now`.
  void release(admission_time now, std::size_t n, admission_time admitted) noexcept;

  std::size_t limit() const noexcept { return static_cast<std::size_t>(limit_); }
  std::size_t in_flight() const noexcept { return in_flight_; }
  /// Backfill's pace beside live traffic, in events/s (acquire_spare).
  double spare_rate() const noexcept { return spare_rate_; }
  /// The fastest answer of the last interval that had one: the standing queue
  /// delay (zero when idle).
  std::chrono::microseconds queue_delay() const noexcept { return delay_; }

private:
  void roll(admission_time now) noexcept;
  /// Once a second: backfill's pace from the share of slow live answers.
  void roll_spare_rate(admission_time now) noexcept;
  /// Live events in flight: what the limit is compared with.
  std::size_t live() const noexcept { return in_flight_ - spare_; }

  admission_settings s_;
  double limit_;
  std::size_t in_flight_ = 0; ///< live and backfill events together
  std::size_t spare_ = 0;     ///< of them, backfill's (acquire_spare)
  admission_time interval_end_;
  /// Only requests admitted after the last change of the limit judge it: the
  /// older ones waited behind the old limit (one decision per round trip, as
  /// TCP cuts once per window).
  admission_time changed_at_;
  std::chrono::microseconds fastest_ = std::chrono::microseconds::max();
  std::size_t samples_ = 0;
  bool binding_ = false;         ///< the limit turned a request away this interval
  admission_time spare_since_{}; ///< when backfill's events in flight last left zero
  admission_time spare_next_{};  ///< beside live traffic, no backfill before this
  bool live_now_ = false;        ///< a live request was admitted this interval
  bool live_before_ = false;     ///< ... or in the interval before
  double spare_rate_;            ///< backfill's pace beside live traffic, events/s
  admission_time spare_paced_{}; ///< beside live traffic, the pace allows no batch before
  bool spare_held_ = false;      ///< the pace turned a batch away this second
  bool spare_ran_ = false;       ///< backfill was admitted or in flight this second
  admission_time rate_window_end_;
  /// Live answer times of this second (at most its capacity: enough for a
  /// p99 at any rate, and no allocation on the hot path).
  std::vector<std::chrono::microseconds> answers_;
  std::chrono::microseconds baseline_{0}; ///< live p99 without backfill (0: none yet)
  int seconds_since_clean_ = 0; ///< seconds of live traffic since the last measured
  int clean_left_ = 0; ///< seconds still kept free of backfill to measure the baseline
  std::chrono::microseconds delay_{0};
};

} // namespace gavel::protocols
