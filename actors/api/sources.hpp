#pragma once

#include "actors/api/access.hpp"
#include "actors/interfaces.hpp"
#include "actors/sources.hpp"
#include "adapters/http/http.hpp"

#include <memory>

namespace gavel::actors::api {

/// `GET /v1/sources` (read) and `POST /v1/sources/<name>/enable|disable`
/// (admin), docs/sources.md. The router has authenticated every request.
/// Called on the HTTP I/O threads; never blocks.
class sources_api {
public:
  sources_api(caf::actor_system& sys, std::shared_ptr<source_registry> registry,
              sources_actor flags);

  void list(adapters::http_responder respond);
  void control(adapters::http_request&& req, const caller& who,
               adapters::http_responder respond);

private:
  caf::actor_system& sys_;
  std::shared_ptr<source_registry> registry_;
  sources_actor flags_;
};

} // namespace gavel::actors::api
