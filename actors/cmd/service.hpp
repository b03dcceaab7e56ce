#pragma once

#include "actors/admission.hpp"
#include "actors/alerts.hpp"
#include "actors/api/router.hpp"
#include "actors/auction.hpp"
#include "actors/core.hpp"
#include "actors/destination.hpp"
#include "actors/health.hpp"
#include "actors/inbox_source.hpp"
#include "actors/maintenance.hpp"
#include "actors/sources.hpp"
#include "actors/store.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <atomic>
#include <memory>

namespace gavel::actors {

/// The running service: spawns and connects the actor tree and puts the HTTP
/// API (actors/api/) in front of it. Owns nothing of the process (actor
/// system, io runtime, database) — main() does — so tests can assemble it on
/// their own.
class service {
public:
  service(caf::actor_system& sys, adapters::io_runtime& io, adapters::config cfg,
          std::string database_url);
  ~service();

  /// Spawns the actors. Error when a destination cannot be built.
  protocols::expected<adapters::done> start();

  /// Where the embedded cluster's supervisor reports (readiness, health);
  /// not called: an external database. Call before start().
  void watch_database(std::function<adapters::database_status()> status) {
    database_status_ = std::move(status);
  }

  /// The HTTP entry point (ingest and operations routes); after start().
  void handle(adapters::http_request&& req, adapters::http_responder respond);

  /// Events accepted but not yet answered.
  std::size_t in_flight() const noexcept { return admission_->in_flight(); }

  /// Lets destinations store their positions, then stops every actor.
  void stop();

  /// Graceful shutdown, after the server stopped accepting (blocking; call
  /// off the actor threads): waits until events in flight are answered
  /// (commits finished), destinations have delivered what is committed (or
  /// `budget` is spent), and their delivered-through positions are stored.
  /// Returns a one-line summary for the log.
  std::string drain(std::chrono::milliseconds budget);

  /// What the health model reads (for the alerts actor); valid after start().
  std::shared_ptr<const health_sources> health() const { return health_; }

private:
  caf::actor_system& sys_;
  adapters::io_runtime& io_;
  adapters::config cfg_;
  std::string database_url_;
  std::shared_ptr<std::atomic<bool>> db_healthy_;
  /// Commits refused for want of storage (disk full, read-only).
  std::shared_ptr<storage_condition> storage_ = std::make_shared<storage_condition>();
  std::function<adapters::database_status()> database_status_;
  std::shared_ptr<admission_gate> admission_; ///< ADR 0014
  store_actor store_;
  reader_actor loader_;
  reader_actor reader_;
  registry_actor registry_; ///< the first incarnation (the core supervisor owns it)
  core_actor core_;
  std::shared_ptr<std::atomic<bool>> core_up_ =
      std::make_shared<std::atomic<bool>>(false);
  std::vector<destination_actor> destinations_;
  maintenance_actor maintenance_;
  pull_actor pull_;
  std::shared_ptr<source_registry> sources_;
  sources_actor source_flags_;
  backfills_actor backfills_;
  std::vector<std::unique_ptr<inbox_source>> inboxes_;
  alerts_actor alerts_;
  std::shared_ptr<auction_board> board_;
  std::shared_ptr<health_sources> health_;
  std::vector<api::gateway_actor> gateways_;
  std::unique_ptr<api::router> router_; ///< valid after start()
};

} // namespace gavel::actors
