#pragma once

/// The core supervisor: the store (the outbox's single writer) and the
/// registry (with its auction actors) are restarted together as one unit,
/// like the destinations are by their own supervisors.

#include "actors/interfaces.hpp"
#include "protocols/resilience.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <random>

namespace gavel::actors {

struct core_settings {
  /// Crashes of the store or the registry tolerated within restart_period;
  /// beyond that the core is `failed` until an operator restarts it.
  unsigned restart_limit = 5;
  std::chrono::milliseconds restart_period{60000};
  std::chrono::milliseconds backoff_min{100}; ///< first restart delay (with jitter)
  std::chrono::milliseconds backoff_max{30000};
};

/// How the supervisor makes its children (the service spawns the store
/// detached; tests spawn everything under the test coordinator).
struct core_factory {
  /// A store that accepts persist requests of `epoch`.
  std::function<store_actor(std::uint64_t epoch)> make_store;
  /// A registry whose auction actors persist through `store` with `epoch`.
  std::function<registry_actor(store_actor store, std::uint64_t epoch)> make_registry;
};

/// Who must hear of a new store or registry.
struct core_dependents {
  /// Each gets (atom::subscribe, store) for a new store.
  std::vector<destination_actor> destinations;
  /// Each gets (atom::subscribe, registry) for a new registry, and a null
  /// registry while there is none (ingest then answers 503 at once).
  std::vector<registry_user_actor> gateways;
  /// true while store and registry run (readiness).
  std::shared_ptr<std::atomic<bool>> up;
};

/// The core supervisor's own messages: a backoff is over, restart what is
/// down (if generation G is still current).
using core_impl_actor = core_actor::extend<caf::reacts_to<atom::retry, std::uint64_t>>;

struct core_state {
  core_settings settings;
  core_factory make;
  core_dependents dependents;
  store_actor store;
  registry_actor registry;
  /// Shared with a cleanup functor: the children go down with the supervisor.
  std::shared_ptr<std::pair<store_actor, registry_actor>> current =
      std::make_shared<std::pair<store_actor, registry_actor>>();
  core_status status;
  protocols::restart_policy policy{5, std::chrono::milliseconds{60000},
                                   std::chrono::milliseconds{100},
                                   std::chrono::milliseconds{30000}};
  std::uint64_t generation = 0; ///< of the restart that is due (stale retries ignored)
  bool restart_pending = false;
  bool bumping = false; ///< waiting for the store to fence the old epoch off
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "gavel.core.supervisor";
};

/// The CORE SUPERVISOR. It monitors the store and the registry it is given
/// (already running, so nothing races the start) and, when one fails:
/// - the registry alone: waits out a backoff (exponential, with jitter), has
///   the store fence off the old registry's epoch (everything it sent is
///   committed or failed first), then starts a new registry with the next
///   epoch and hands it to the gateways;
/// - the store: stops the registry too (auction actors hold the store's
///   handle and their state may be ahead of an uncertain commit), then after
///   the backoff starts a new store and registry with the next epoch, hands
///   the store to the destinations (which resume from their stored positions
///   and subscribe to it) and the registry to the gateways.
/// More than restart_limit crashes within restart_period mark the core
/// `failed` (reported in its status, which /v1/pipeline, /readyz and the
/// alerts read): ingest answers 503 until an operator restarts it.
/// Nothing acknowledged is lost: acknowledgements follow COMMIT, and what
/// was in flight when a child failed is answered 503 (the producer retries;
/// ingest is idempotent).
core_impl_actor::behavior_type
core_supervisor(core_impl_actor::stateful_pointer<core_state> self,
                core_settings settings, core_factory make, core_dependents dependents,
                store_actor store, registry_actor registry);

} // namespace gavel::actors
