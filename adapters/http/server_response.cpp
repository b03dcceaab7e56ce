// The server's side of turning a handler's http_response, or one of its own
// error answers, into the Beast message that goes on the wire.
#include "adapters/http/server_impl.hpp"

namespace gavel::adapters {

beast_response to_beast(http_response&& r, bool& close_requested) {
  beast_response res;
  res.result(r.status >= 100 && r.status <= 999 ? static_cast<unsigned>(r.status) : 500u);
  res.set(http::field::server, "gavel");
  if (!r.content_type.empty())
    res.set(http::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) {
    if (beast::iequals(name, "connection")) {
      if (beast::iequals(value, "close"))
        close_requested = true;
      continue;
    }
    // Framing is the server's business.
    if (beast::iequals(name, "content-length") ||
        beast::iequals(name, "transfer-encoding"))
      continue;
    res.insert(name, value);
  }
  res.body() = std::move(r.body);
  return res;
}

namespace {

/// The error body of docs/ingest.md; code and message are the server's own constants.
std::string error_body(http::status status, std::string_view code,
                       std::string_view message) {
  return "{\"error\":{\"status\":" + std::to_string(static_cast<unsigned>(status)) +
         ",\"code\":\"" + std::string{code} + "\",\"field\":\"\",\"message\":\"" +
         std::string{message} + "\"}}";
}

} // namespace

beast_response error_response(http::status status, std::string_view code,
                              std::string_view message) {
  beast_response res{status, 11};
  res.set(http::field::server, "gavel");
  res.set(http::field::content_type, "application/json");
  res.body() = error_body(status, code, message);
  return res;
}

} // namespace gavel::adapters
