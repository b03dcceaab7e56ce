#pragma once

#include "actors/delivery_watermark.hpp"
#include "actors/destination_lanes.hpp"
#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/metrics.hpp"
#include "protocols/resilience.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

namespace gavel::actors {

/// The DESTINATION WORKER interface: the live feed, what its supervisor
/// forwards, and its own timers and I/O completions.
using destination_worker_actor = feed_actor::extend<
    caf::replies_to<atom::status>::with<destination_status>,
    caf::replies_to<atom::redrive, std::int64_t>::with<std::uint64_t>,
    caf::reacts_to<atom::crash>,
    /// Request N finished (from the I/O thread).
    caf::reacts_to<atom::delivered, std::uint64_t, adapters::delivery_result>,
    /// Backoff over for auction A (if token T still current).
    caf::reacts_to<atom::retry, std::int64_t, std::uint64_t>,
    /// Send what is ready (after a rate-limit wait or the circuit's open time).
    caf::reacts_to<atom::dispatch>,
    /// Catch up: read the next page from the outbox.
    caf::reacts_to<atom::read>,
    /// Periodic: store the delivered-through position.
    caf::reacts_to<atom::save_pos>>;

struct destination_settings {
  std::string name;
  std::string kind;
  std::set<protocols::event_type> event_types;
  /// Receives backfilled auctions (adapters::effective_backfill).
  bool backfill = true;
  std::uint32_t concurrency = 8; ///< requests in flight at once
  std::size_t window = 20000;    ///< records held in memory
  std::size_t page = 2000;       ///< outbox rows per catch-up read
  adapters::retry_config retry;
  unsigned circuit_failures = 5;
  std::chrono::milliseconds circuit_open{5000};
  std::chrono::milliseconds position_interval{200};
  unsigned restart_limit = 5;
  std::chrono::milliseconds restart_period{60000};
  /// Counts the destinations taking backfill that are behind (catching up,
  /// or holding half their window): backfill is admitted only while it is
  /// zero (admission_gate), so the history never pushes a destination that
  /// takes it into reading live records from the outbox behind backfilled
  /// ones. Null: not reported.
  std::shared_ptr<std::atomic<int>> backfill_behind;
  /// Seeds the backoff jitter; 0 draws one from std::random_device. A test
  /// that replays a seed sets it so that the timers fire in the same order.
  std::uint32_t jitter_seed = 0;
};

/// Builds settings from configuration.
destination_settings make_destination_settings(const adapters::destination_config& cfg);

/// Makes a fresh client for a (re)started worker.
using client_factory = std::function<std::shared_ptr<adapters::destination_client>()>;

/// Counters that outlive a worker (kept by its supervisor).
struct destination_counters {
  std::uint64_t delivered = 0, requests = 0, retries = 0, failures_transient = 0,
                failures_permanent = 0, dead_letters = 0, parked = 0, circuit_opens = 0,
                skipped_after_restart = 0; ///< done before a restart (ADR 0012)
  std::deque<std::pair<std::int64_t, bool>>
      recent;                      ///< (unix ms, is dead letter) of retries/DLs, 5 min
  std::deque<double> latencies_ms; ///< last 1,000 ack → delivered
};

/// This worker's share of destination_settings::backfill_behind, given
/// back when the worker goes (a restart starts behind again).
class behind_flag {
public:
  behind_flag() = default;
  behind_flag(const behind_flag&) = delete;
  behind_flag& operator=(const behind_flag&) = delete;
  ~behind_flag() { set(false); }
  void attach(std::shared_ptr<std::atomic<int>> counter) {
    counter_ = std::move(counter);
  }
  void set(bool behind) noexcept {
    if (!counter_ || behind == on_)
      return;
    on_ = behind;
    *counter_ += behind ? 1 : -1;
  }

private:
  std::shared_ptr<std::atomic<int>> counter_;
  bool on_ = false;
};

struct destination_state {
  enum class mode { starting, catching_up, live };

  destination_settings settings;
  std::shared_ptr<adapters::destination_client> client;
  std::shared_ptr<destination_counters> counters;
  store_actor store;
  reader_actor reader;
  /// Per-auction queues, the ready line and the requests in flight.
  destination_lanes lanes;
  protocols::circuit_breaker circuit;
  bool dispatch_scheduled = false;
  /// Delivered-through position and per-auction progress (what is saved).
  delivery_watermark marks;
  std::int64_t max_seen_live = 0;
  mode m = mode::starting;
  bool reading = false;
  bool subscribed = false;
  adapters::metrics::histogram* latency = nullptr; ///< ack → delivered, this destination
  std::string last_error;
  std::int64_t last_error_ms = 0;
  std::minstd_rand rng{std::random_device{}()};
  behind_flag behind;
  static inline const char* name = "gavel.destination";
};

/// The DESTINATION WORKER: delivers every committed record of the types it
/// takes, at least once, in per-auction order. Each auction has its own queue
/// with at most one request in flight; ready auctions are batched (Event Hubs:
/// one auction — one partition key — per request; HubSpot: up to 100 records,
/// many of one auction in sequence order next to other auctions'; webhook:
/// one record). A record the server rejects stops its auction there: what
/// followed it in the request is sent again after it. A transient failure backs the
/// auction off (exponential, jitter, cap); a permanent one dead-letters the
/// record and parks its auction (its later events wait in the dead-letter
/// table, in order) while everything else flows; a batch-wide rejection
/// halves the batch size until the bad record stands alone. A circuit breaker
/// stops sending after repeated failed requests and probes half-open. At most
/// `window` records are held: beyond that it drops the live feed and catches
/// up from the outbox. delivered-through is stored periodically; a restart
/// resumes there.
destination_worker_actor::behavior_type
destination_worker(destination_worker_actor::stateful_pointer<destination_state> self,
                   destination_settings settings,
                   std::shared_ptr<adapters::destination_client> client,
                   std::shared_ptr<destination_counters> counters, store_actor store,
                   reader_actor reader);

struct destination_supervisor_state {
  destination_settings settings;
  client_factory make_client;
  std::shared_ptr<destination_counters> counters;
  store_actor store;
  reader_actor reader;
  destination_worker_actor worker;
  /// Shared with a cleanup functor: the worker goes down with its supervisor.
  std::shared_ptr<destination_worker_actor> current =
      std::make_shared<destination_worker_actor>();
  protocols::restart_policy policy{5, std::chrono::milliseconds{60000},
                                   std::chrono::milliseconds{100},
                                   std::chrono::milliseconds{30000}};
  std::uint64_t restarts = 0;
  bool failed = false;
  bool replacing = false;       ///< the worker is stopping for a new store
  bool restart_pending = false; ///< a restart waits for its backoff
  std::string failure;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "gavel.destination.supervisor";
};

/// The supervisor in front of one destination worker: forwards the public
/// protocol, restarts a worker that failed (exponential backoff with jitter)
/// as long as it crashed at most `restart_limit` times within
/// `restart_period`; beyond that the destination is `failed` (reported in
/// its status, which alerting watches) until an operator restarts it. A
/// restarted worker resumes from the stored position (at-least-once).
/// `store` may be null: the worker then starts when the core supervisor
/// sends one (atom::subscribe), as it does whenever the store is replaced.
destination_actor::behavior_type destination_supervisor(
    destination_actor::stateful_pointer<destination_supervisor_state> self,
    destination_settings settings, client_factory make_client, store_actor store,
    reader_actor reader);

} // namespace gavel::actors
