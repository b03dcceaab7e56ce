#pragma once

#include "actors/auction.hpp"
#include "actors/board.hpp"
#include "actors/interfaces.hpp"
#include "actors/sources.hpp"
#include "actors/store.hpp"
#include "adapters/alert.hpp"
#include "adapters/postgres/embedded_postgres_supervisor.hpp"

#include <atomic>
#include <functional>
#include <memory>

namespace gavel::actors {

/// Where the health model reads from (what the service owns).
struct health_sources {
  std::vector<destination_actor> destinations;
  core_actor core;                ///< the store and registry's supervisor (may be null)
  std::vector<std::string> names; ///< configured name of each destination
  std::vector<std::string> kinds;
  maintenance_actor maintenance;
  std::shared_ptr<auction_board> board;
  std::shared_ptr<std::atomic<bool>> db_healthy;
  std::shared_ptr<storage_condition> storage; ///< may be null
  /// The embedded cluster's supervisor (null: an external database).
  std::function<adapters::database_status()> database;
  std::int64_t final_window_ms = 300000;
  wall_clock clock;
  std::shared_ptr<const source_registry> sources; ///< may be null
};

/// One source as /v1/pipeline and the alerts see it (cumulative counts).
using source_health = adapters::health_input::source;

/// One destination as /v1/pipeline, /metrics and the alerts see it.
struct destination_health {
  destination_status status; ///< the destination's own report
  bool answered = false;     ///< false: it did not answer in time (state "unknown")
  std::int64_t lag_events = 0;
  protocols::unix_ms oldest_undelivered_ms = 0; ///< commit time; 0: nothing undelivered
  double lag_seconds = 0;                       ///< now − oldest_undelivered
};

/// The pipeline's health at one instant (the model behind /v1/pipeline).
struct pipeline_snapshot {
  protocols::unix_ms now = 0;
  bool database_up = false;
  adapters::database_status database_server; ///< the embedded cluster, if any
  storage_condition::view storage;           ///< what the store's commits found
  bool facts_ok = false;                     ///< the outbox facts query answered
  std::int64_t head_position = 0;
  std::vector<destination_health> destinations;
  core_status core;
  bool core_answered = false; ///< false: state "unknown"
  auction_board::summary auctions;
  std::vector<protocols::outbox_facts::gap> gaps;
  std::vector<source_health> sources;
};

/// The storage condition as people should see it: the store's commits
/// refused for want of space, or the embedded cluster (not running) failing
/// to start for the same reason: a PANIC on a WAL write ends in crash
/// recovery that cannot write either, and then no commit is even tried.
storage_condition::view storage_state(const storage_condition* store,
                                      const adapters::database_status& server,
                                      protocols::unix_ms now);

/// Asks every destination and the maintenance actor (bounded by `timeout`),
/// then calls `done` once, on an actor thread, with the snapshot. Missing
/// answers degrade the snapshot instead of failing it.
void gather_health(caf::actor_system& sys, std::shared_ptr<const health_sources> src,
                   std::function<void(pipeline_snapshot&)> done,
                   std::chrono::milliseconds timeout = std::chrono::seconds{5});

/// Sets the scrape-time gauges (lag, delivered-through, states, auctions).
void export_health_metrics(const pipeline_snapshot& s);

} // namespace gavel::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::pipeline_snapshot)
