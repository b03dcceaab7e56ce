#pragma once

#include "actors/api/ingest.hpp"
#include "actors/api/operations.hpp"
#include "actors/api/pull.hpp"

namespace gavel::actors::api {

/// The HTTP entry point: sends each route to its endpoint; answers 404 and
/// 405 for what no endpoint takes. Called on the HTTP I/O threads.
class router {
public:
  router(const adapters::config& cfg, std::shared_ptr<admission_gate> admission,
         std::vector<gateway_actor> gateways, operations_targets operations);

  void handle(adapters::http_request&& req, adapters::http_responder respond);

  /// Graceful shutdown: new ingest requests are refused (503).
  void refuse_ingest() noexcept { ingest_.refuse_new(); }

private:
  ingest_endpoint ingest_;
  operations_api operations_;
  pull_api pull_;
};

} // namespace gavel::actors::api
