#include "actors/api/router.hpp"

#include "actors/api/responses.hpp"

namespace gavel::actors::api {

router::router(const adapters::config& cfg, std::shared_ptr<admission_gate> admission,
               std::vector<gateway_actor> gateways, operations_targets operations)
    : ingest_(cfg, std::move(admission), std::move(gateways)),
      operations_(cfg, operations), pull_(cfg, operations.sys, operations.pull) {}

void router::handle(adapters::http_request&& req, adapters::http_responder respond) {
  std::string_view path = req.target;
  if (auto q = path.find('?'); q != std::string_view::npos)
    path = path.substr(0, q);
  if (path == "/v1/events" && req.method == "GET")
    return pull_.events(std::move(req), std::move(respond));
  if (path == "/v1/auctions" || path.starts_with("/v1/auctions/"))
    return pull_.auctions(std::move(req), std::move(respond));
  if (path == "/v1/events") {
    if (req.method != "POST")
      return respond(error_response(405, "method", "", "use POST"));
    return ingest_.handle(std::move(req), std::move(respond));
  }
  if (path == "/healthz")
    return operations_.healthz(std::move(respond));
  if (path == "/readyz")
    return operations_.readyz(std::move(respond));
  if (path == "/v1/pipeline")
    return operations_.pipeline(std::move(respond));
  if (path == "/metrics")
    return operations_.metrics(std::move(respond));
  if (path.starts_with("/v1/dead-letters"))
    return operations_.dead_letters(std::move(req), std::move(respond));
  if (path.starts_with("/v1/destinations/") || path.starts_with("/v1/components/"))
    return operations_.control(std::move(req), std::move(respond));
  respond(error_response(404, "not_found", "", "no such route"));
}

} // namespace gavel::actors::api
