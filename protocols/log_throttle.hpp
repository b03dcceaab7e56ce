#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace gavel::protocols {

/// At most one line per interval for a warning that can repeat once per
/// event (a producer resending changed content, a whole history in another
/// format): the first occurrence is logged at once, later ones within the
/// interval are counted and the next line says how many were left out.
/// Pure: the caller passes the time and guards it if it is shared.
class log_throttle {
public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  /// Whether to log now; if so, how many occurrences since the last line
  /// were not logged (0 for the first).
  std::optional<std::uint64_t> admit(clock::time_point now) noexcept {
    if (logged_once_ && now - last_ < interval_) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_once_ = true;
    last_ = now;
    auto left_out = suppressed_;
    suppressed_ = 0;
    return left_out;
  }

private:
  clock::duration interval_;
  clock::time_point last_{};
  bool logged_once_ = false;
  std::uint64_t suppressed_ = 0;
};

} // namespace gavel::protocols
