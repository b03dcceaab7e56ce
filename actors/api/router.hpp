#pragma once

#include "actors/api/access.hpp"
#include "actors/api/backfill.hpp"
#include "actors/api/ingest.hpp"
#include "actors/api/operations.hpp"
#include "actors/api/pull.hpp"
#include "actors/api/sources.hpp"
#include "protocols/access.hpp"

#include <span>
#include <string_view>

namespace gavel::actors::api {

/// The HTTP entry point: finds the request's route in the route table
/// (404, 405 for what no row takes), checks the caller's token against the
/// scope the row needs (401 missing or unknown, 403 without the scope) and
/// only then hands the request to the row's endpoint. Called on the HTTP I/O
/// threads.
class router {
public:
  router(const adapters::config& cfg, std::shared_ptr<admission_gate> admission,
         std::vector<gateway_actor> gateways, operations_targets operations);

  void handle(adapters::http_request&& req, adapters::http_responder respond);

  /// Graceful shutdown: new ingest requests are refused (503).
  void refuse_ingest() noexcept {
    ingest_.refuse_new();
    backfill_.refuse_new();
  }

  /// One row of the route table (DESIGN §1.9): a new route is one new row.
  struct route {
    std::string_view method;
    /// The path; ending in `/`, a prefix (`/v1/components/` takes
    /// `/v1/components/core/restart`).
    std::string_view path;
    protocols::scope needs;
    void (*serve)(router&, adapters::http_request&&, const caller&,
                  adapters::http_responder);
  };

  /// The route table, in match order.
  static std::span<const route> routes();

  /// The row taking (method, path); null when none does, with `path_known`
  /// set when some row takes the path with another method (405, not 404).
  static const route* find(std::string_view method, std::string_view path,
                           bool& path_known);

private:
  token_registry tokens_;
  disclosure disclose_;
  ingest_endpoint ingest_;
  operations_api operations_;
  pull_api pull_;
  sources_api sources_;
  backfill_api backfill_;
};

} // namespace gavel::actors::api
