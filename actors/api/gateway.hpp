#pragma once

#include "actors/interfaces.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace gavel::actors::api {

/// One ingest request in flight: the events that passed validation go to the
/// registry; answers are collected in request order.
struct submission {
  std::vector<protocols::ingest_event> events;
  std::vector<std::size_t> slots; ///< index in `results` of each event
  std::vector<ingest_result> results;
  std::vector<std::string> ids; ///< event id of each event (for a 503 answer)
  std::vector<bool> answered;   ///< per event, in `events` order
  std::size_t remaining = 0;
  bool finished = false; ///< `done` ran (all answered, or the deadline passed)
  std::function<void(std::vector<ingest_result>&)> done;
};

using submission_ptr = std::shared_ptr<submission>;

/// A submission of a parsed request body: its valid events go to the
/// registry (marked as a backfill's when `backfill`), each invalid item is
/// answered `invalid` in its place.
submission_ptr make_submission(protocols::ingest_body& body, bool backfill = false);

} // namespace gavel::actors::api

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::api::submission_ptr)

namespace gavel::actors::api {

/// The GATEWAY interface: what the ingest endpoint submits, and the
/// registry the core supervisor hands over when it restarts one.
using gateway_actor =
    registry_user_actor::extend<caf::reacts_to<atom::submit, submission_ptr>>;

/// The gateway's own timer: the oldest waiting submission's deadline.
using gateway_impl_actor = gateway_actor::extend<caf::reacts_to<atom::expire>>;

/// The submissions a gateway waits on, oldest first, for the request deadline.
struct gateway_state {
  struct entry {
    std::chrono::steady_clock::time_point deadline;
    std::weak_ptr<submission> sub;
  };
  std::deque<entry> waiting;
  bool timer_armed = false;
  /// Null while the core supervisor restarts the registry (ingest: 503).
  registry_actor registry;
};

/// A GATEWAY actor: turns a submission (atom::submit) into one
/// (atom::ingest, ingest_event) request per event to the registry and
/// completes it when every event has its answer, or answers `unavailable`
/// for what is still missing once the request deadline passes. Takes
/// (atom::adopt, registry_actor) from the core supervisor when the
/// registry is replaced.
gateway_impl_actor::behavior_type
gateway(gateway_impl_actor::stateful_pointer<gateway_state> self, registry_actor registry,
        std::chrono::milliseconds timeout);

} // namespace gavel::actors::api
