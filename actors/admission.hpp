#pragma once

#include "adapters/config/config.hpp"
#include "protocols/admission.hpp"

#include <atomic>
#include <memory>
#include <mutex>

namespace gavel::actors {

/// The ingest endpoint's admission controller (ADR 0014), shared by the HTTP
/// I/O threads (check, acquire) and the actor workers that answer requests
/// (release). One mutex: every call is a few arithmetic operations, far
/// cheaper than the request it decides about. Counts what it sheds.
class admission_gate {
public:
  explicit admission_gate(protocols::admission_settings s);
  /// The controller's settings from `[admission]` and `server.max_in_flight`.
  static protocols::admission_settings settings(const adapters::config& cfg);

  /// Before the body is parsed; not `none`: answer 503 now.
  protocols::shed_reason check();
  /// After parsing, for the `n` events going to the actors.
  protocols::shed_reason acquire(std::size_t n);
  /// Backfill is refused (queue_delay) while `behind` counts a destination
  /// that takes backfill and is behind (destination_settings).
  void watch_destinations(std::shared_ptr<const std::atomic<int>> behind) {
    behind_ = std::move(behind);
  }
  /// For the `n` events of a backfill batch: spare capacity only.
  protocols::shed_reason acquire_spare(std::size_t n);
  /// Before a backfill batch is parsed: whether there is spare capacity now.
  protocols::shed_reason check_spare();
  /// The `n` events of a backfill batch are answered.
  void release_spare(std::size_t n);
  /// The `n` events of a request admitted at `admitted` are answered.
  void release(std::size_t n, protocols::admission_time admitted);

  /// Events admitted and not yet answered (lock-free, for drain and metrics).
  std::size_t in_flight() const noexcept { return in_flight_.load(); }

  /// Registers the gauges (limit, queue delay, in flight) and the shed
  /// counters; the registry keeps `self` alive for its callbacks.
  static void register_metrics(const std::shared_ptr<admission_gate>& self);

private:
  void count(protocols::shed_reason r);

  mutable std::mutex mtx_;
  protocols::admission_controller ctl_;
  std::atomic<std::size_t> in_flight_{0};
  std::shared_ptr<const std::atomic<int>> behind_;
};

} // namespace gavel::actors
