#include "actors/api/responses.hpp"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

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

std::string error_body(int status, std::string_view code, std::string_view field,
                       std::string_view message) {
  // Ordered: fields keep the documented order; invalid UTF-8 (a database
  // error text) is replaced rather than thrown on.
  nlohmann::ordered_json error;
  error["status"] = status;
  error["code"] = code;
  error["field"] = field;
  error["message"] = message;
  nlohmann::ordered_json body;
  body["error"] = std::move(error);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

bool token_ok(const std::vector<std::string>& tokens, std::string_view header) {
  constexpr std::string_view prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.substr(0, prefix.size()) != prefix)
    return false;
  auto given = header.substr(prefix.size());
  bool ok = false;
  for (const auto& t : tokens)
    if (t.size() == given.size() && CRYPTO_memcmp(t.data(), given.data(), t.size()) == 0)
      ok = true;
  return ok;
}

} // namespace gavel::actors::api
