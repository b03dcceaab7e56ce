#pragma once

#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace gavel::actors::api {

/// What one caller may see through the pull API, decided once per request
/// from its token.
struct read_access {
  /// Appends one stored envelope to an answer. Every envelope the pull API
  /// returns passes through here, once: the `pii` masking of DESIGN §1.9
  /// (and its audit count) goes here. Until then the bytes go out as stored.
  void present(std::string_view envelope, std::string& out) const;
};

/// The reconciliation pull API (DESIGN §1.8, docs/reconciliation.md):
/// GET /v1/events, GET /v1/auctions/<id>, GET /v1/auctions. Called on the
/// HTTP I/O threads; never blocks (the reads run on the PULL actor).
class pull_api {
public:
  /// `cfg` must outlive the API.
  pull_api(const adapters::config& cfg, caf::actor_system* sys, pull_actor reads);

  /// GET /v1/events.
  void events(adapters::http_request&& req, adapters::http_responder respond);
  /// /v1/auctions and /v1/auctions/<id>.
  void auctions(adapters::http_request&& req, adapters::http_responder respond);

private:
  /// The caller's access, or nullopt after answering 401 (403 with scopes).
  /// The one place the `read` scope will be checked.
  std::optional<read_access> authorize(const adapters::http_request& req,
                                       const adapters::http_responder& respond) const;

  const adapters::config& cfg_;
  caf::actor_system* sys_;
  pull_actor reads_;
};

} // namespace gavel::actors::api
