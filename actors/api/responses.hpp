#pragma once

#include "adapters/http/http.hpp"
#include "protocols/access.hpp"
#include "protocols/outcome.hpp"

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

/// The HTTP edge of the actor system: the only place where outcomes become
/// status codes and JSON bodies.
namespace gavel::actors::api {

/// The status and error code a refused event or request is answered with
/// (docs/ingest.md).
struct http_error {
  int status;
  std::string_view code;
};

/// The one mapping from ingest outcomes to HTTP (status, code).
constexpr http_error to_http(protocols::ingest_error e) noexcept {
  using protocols::ingest_error;
  switch (e) {
  case ingest_error::none:
    return {202, ""};
  case ingest_error::invalid:
    return {422, "schema"};
  case ingest_error::closed:
    return {409, "closed"};
  case ingest_error::event_id_conflict:
    return {409, "event_id_conflict"};
  case ingest_error::unavailable:
    return {503, "unavailable"};
  case ingest_error::overloaded:
    return {503, "overloaded"};
  case ingest_error::shutting_down:
    return {503, "shutting_down"};
  case ingest_error::source_disabled:
    return {503, "source_disabled"};
  }
  return {500, "internal"};
}

/// The status of a whole-body error of the ingest parser (protocols/event.hpp).
int parse_error_status(std::string_view code) noexcept;

adapters::http_response json_response(int status, std::string body);

/// Compact JSON text of an answer; invalid UTF-8 (a database error text) is
/// replaced, never thrown on.
std::string dump_json(const nlohmann::ordered_json& j);

/// `{"error": {"status", "code", "field", "message"}}`: the shape of every
/// error body (docs/ingest.md); `field` is always present, empty for
/// whole-request errors.
std::string error_body(int status, std::string_view code, std::string_view field,
                       std::string_view message);

/// A JSON error answer.
adapters::http_response error_response(int status, std::string_view code,
                                       std::string_view field, std::string_view message);

/// 503 with `Retry-After`: the producer should send the same request again.
adapters::http_response unavailable_response(std::string body);

/// 401 with `WWW-Authenticate: Bearer`.
adapters::http_response unauthorized_response();

/// 403 `forbidden`: a known token without the scope the route needs.
adapters::http_response forbidden_response(protocols::scope needed);

} // namespace gavel::actors::api
