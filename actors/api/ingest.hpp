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

/// `POST /v1/events` (docs/ingest.md): resolves the source, sheds at admission,
/// validates, hands the events to a gateway actor and answers once they are
/// committed (or refused). Called on the HTTP I/O threads; never blocks.
class ingest_endpoint {
public:
  /// `cfg` must outlive the endpoint; `gateways` are spawned by the wiring
  /// (one is picked per request, round robin).
  ingest_endpoint(const adapters::config& cfg, std::shared_ptr<admission_gate> admission,
                  std::vector<gateway_actor> gateways,
                  std::shared_ptr<source_registry> sources);

  /// A request the router authenticated: `who` has an ingest scope.
  void handle(adapters::http_request&& req, const caller& who,
              adapters::http_responder respond);

  /// `respond`, counting the answer by status and timing it (every answer to
  /// POST /v1/events goes through this, the router's 401 and 403 included).
  static adapters::http_responder metered(adapters::http_responder respond);

  /// From now on every request is answered 503 `shutting_down` and its
  /// connection closed (graceful shutdown).
  void refuse_new() noexcept { draining_ = true; }

  /// Creates the ingest series at zero, so they exist before the first event.
  static void register_metrics();

private:
  const adapters::config& cfg_;
  std::shared_ptr<admission_gate> admission_; ///< ADR 0014
  std::vector<gateway_actor> gateways_;
  /// Every source's flag and counts (DESIGN §1.7); the http ones are where
  /// events may be sent.
  std::shared_ptr<source_registry> sources_;
  std::atomic<std::size_t> next_gateway_{0};
  std::atomic<bool> draining_{false};
};

} // namespace gavel::actors::api
