#pragma once

#include "actors/api/access.hpp"
#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace gavel::actors::api {

/// The reconciliation pull API (DESIGN §1.8, docs/reconciliation.md):
/// GET /v1/events, GET /v1/auctions/<id>, GET /v1/auctions. Called on the
/// HTTP I/O threads; never blocks (the reads run on the PULL actor).
class pull_api {
public:
  /// The router checks the `read` scope before calling; every envelope
  /// returned passes through `disclose` (masking, audit). `disclose` must
  /// outlive the API.
  pull_api(caf::actor_system* sys, pull_actor reads, const disclosure& disclose);

  /// GET /v1/events.
  void events(adapters::http_request&& req, const caller& who,
              adapters::http_responder respond);
  /// /v1/auctions and /v1/auctions/<id> (no record data: nothing to mask).
  void auctions(adapters::http_request&& req, adapters::http_responder respond);

private:
  caf::actor_system* sys_;
  pull_actor reads_;
  const disclosure* disclose_;
};

} // namespace gavel::actors::api
