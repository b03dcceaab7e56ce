#include "actors/api/responses.hpp"

#include <nlohmann/json.hpp>

namespace gavel::actors::api {

int parse_error_status(std::string_view code) noexcept {
  return code == "batch_too_large" ? 413 : code == "empty_batch" ? 422 : 400;
}

adapters::http_response json_response(int status, std::string body) {
  adapters::http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_body(int status, std::string_view code, std::string_view field,
                       std::string_view message) {
  // Ordered: fields keep the documented order.
  nlohmann::ordered_json error;
  error["status"] = status;
  error["code"] = code;
  error["field"] = field;
  error["message"] = message;
  nlohmann::ordered_json body;
  body["error"] = std::move(error);
  return dump_json(body);
}

adapters::http_response error_response(int status, std::string_view code,
                                       std::string_view field, std::string_view message) {
  return json_response(status, error_body(status, code, field, message));
}

adapters::http_response unavailable_response(std::string body) {
  auto r = json_response(503, std::move(body));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

adapters::http_response unauthorized_response() {
  auto r = error_response(401, "unauthorized", "", "missing or bad bearer token");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

adapters::http_response forbidden_response(protocols::scope needed) {
  using protocols::scope;
  std::string_view what = needed == scope::ingest ? "an ingest scope (ingest:<source>)"
                          : needed == scope::read ? "the read scope (or admin)"
                                                  : "the admin scope";
  return error_response(403, "forbidden", "",
                        "this token lacks " + std::string{what} + " for this route");
}

} // namespace gavel::actors::api
