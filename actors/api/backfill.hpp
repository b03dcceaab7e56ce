#pragma once

#include "actors/admission.hpp"
#include "actors/api/access.hpp"
#include "actors/api/gateway.hpp"
#include "actors/sources.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace gavel::actors::api {

/// The service side of `gavel backfill` (docs/backfill.md, ADR 0027):
/// - `POST /v1/backfills/<job>` (admin, DESIGN §1.9) starts a job or a new
///   run of it, answering its checkpoint and run;
/// - `POST /v1/backfills/<job>/events?source=S&run=R&checkpoint=B&checkpoint_records=N`
///   takes one batch through the same validation, event ids and sequencing
///   as `POST /v1/events`, in the backfill lane: admitted on spare capacity
///   only (503 otherwise), and an auction it creates is backfilled. Once
///   every event is committed (or refused for good) its counts are added and
///   the checkpoint moves forward to B (the client's stored prefix: N
///   records), and only then is it answered; a batch of an older run is 409;
/// - `GET /v1/backfills` and `GET /v1/backfills/<job>` (read): jobs and
///   their progress.
/// Called on the HTTP I/O threads; never blocks.
class backfill_api {
public:
  backfill_api(const adapters::config& cfg, caf::actor_system& sys,
               std::shared_ptr<admission_gate> admission,
               std::vector<gateway_actor> gateways,
               std::shared_ptr<source_registry> sources, backfills_actor jobs);

  /// POST /v1/backfills/<job> and POST /v1/backfills/<job>/events.
  void post(adapters::http_request&& req, const caller& who,
            adapters::http_responder respond);
  /// GET /v1/backfills and GET /v1/backfills/<job>.
  void get(adapters::http_request&& req, adapters::http_responder respond);

  /// Graceful shutdown: batches are refused (503) from now on.
  void refuse_new() noexcept { draining_ = true; }

private:
  /// A configured source by name ("" is `default`); error "unknown_source".
  protocols::expected<std::string> source_of(std::string_view name) const;
  void begin(const std::string& job, adapters::http_request&& req, const caller& who,
             adapters::http_responder respond);
  void events(const std::string& job, adapters::http_request&& req, const caller& who,
              adapters::http_responder respond);

  const adapters::config& cfg_;
  caf::actor_system& sys_;
  std::shared_ptr<admission_gate> admission_;
  std::vector<gateway_actor> gateways_;
  std::shared_ptr<source_registry> sources_;
  backfills_actor jobs_;
  std::atomic<std::size_t> next_gateway_{0};
  std::atomic<bool> draining_{false};
};

} // namespace gavel::actors::api
