#pragma once

#include "actors/api/access.hpp"
#include "actors/health.hpp"
#include "actors/interfaces.hpp"
#include "actors/sources.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>

namespace gavel::actors::api {

/// What the operations API reads and commands (filled in by the wiring).
struct operations_targets {
  caf::actor_system* sys = nullptr;
  /// Destinations, core supervisor, database and storage health (and the
  /// configured destination names, in the order of `health->destinations`).
  std::shared_ptr<const health_sources> health;
  reader_actor reader; ///< dead-letter listing, the audit log
  std::shared_ptr<std::atomic<bool>> core_up;
  pull_actor pull;                          ///< the reconciliation pull API's reads
  std::shared_ptr<source_registry> sources; ///< flags and counts of every source
  sources_actor source_flags;               ///< sets the persisted flags
  backfills_actor backfills;                ///< backfill jobs and checkpoints
};

/// The operations API (docs/operations.md): /healthz, /readyz, /v1/pipeline,
/// /metrics, dead letters (list, redrive), component control (restart,
/// fault injection) and the audit log. The router has authenticated every
/// request before it gets here. Called on the HTTP I/O threads; never blocks.
class operations_api {
public:
  /// `cfg` and `disclose` must outlive the API.
  operations_api(const adapters::config& cfg, operations_targets targets,
                 const disclosure& disclose);

  void healthz(adapters::http_responder respond);
  void readyz(adapters::http_responder respond);
  void pipeline(adapters::http_responder respond);
  void metrics(adapters::http_responder respond);
  /// GET /v1/dead-letters: envelopes masked unless `who` has `pii` (then
  /// audited).
  void dead_letters(adapters::http_request&& req, const caller& who,
                    adapters::http_responder respond);
  /// POST /v1/dead-letters/redrive.
  void redrive(adapters::http_request&& req, adapters::http_responder respond);
  /// GET /v1/audit: the audit log, newest first (`after`, `limit`).
  void audit(adapters::http_request&& req, adapters::http_responder respond);
  /// /v1/components/<core|store|registry>/<action> and
  /// /v1/destinations/<name>/<action>.
  void control(adapters::http_request&& req, adapters::http_responder respond);

private:
  std::optional<std::size_t> find_destination(std::string_view name) const;

  const adapters::config& cfg_;
  operations_targets t_;
  const disclosure& disclose_;
};

/// The /v1/pipeline body.
std::string pipeline_json(const pipeline_snapshot& s);

} // namespace gavel::actors::api
