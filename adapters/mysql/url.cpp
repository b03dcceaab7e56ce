// Parsing the mysql_inbox url (adapters/inbox.hpp, docs/inbox.md); apart
// from the reader, so the configuration checks it without Connector/C.
#include "adapters/inbox.hpp"
#include "protocols/crypto.hpp"

#include <charconv>

namespace gavel::adapters {

using protocols::error;

namespace {

error url_error(std::string message) {
  return error{"url", {}, "mysql inbox url: " + std::move(message)};
}

/// A URL's user, password and path keep `+` as a `+` (a legal character of
/// a password), unlike a form's query.
expected<std::string> decode_part(std::string_view s, const char* part) {
  auto out = protocols::percent_decode(s, protocols::plus_is::plus);
  if (!out)
    return url_error(std::string{"bad percent-encoding in the "} + part);
  return std::move(*out);
}

} // namespace

expected<mysql_url> parse_mysql_url(std::string_view text) {
  constexpr std::string_view scheme = "mysql://";
  if (text.substr(0, scheme.size()) != scheme)
    return url_error("must start with mysql://");
  auto rest = text.substr(scheme.size());
  // The authority ends at the path; a password with '/', '?', '#' or '@'
  // must be percent-encoded.
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return url_error("missing /DATABASE");
  auto authority = rest.substr(0, slash);
  auto path_query = rest.substr(slash + 1);
  auto at = authority.rfind('@');
  if (at == std::string_view::npos)
    return url_error("missing USER@");
  auto userinfo = authority.substr(0, at);
  auto hostport = authority.substr(at + 1);
  mysql_url out;
  auto colon = userinfo.find(':');
  auto user = decode_part(userinfo.substr(0, colon), "user");
  if (!user)
    return user.err();
  out.user = std::move(*user);
  if (out.user.empty())
    return url_error("empty user");
  if (colon != std::string_view::npos) {
    auto password = decode_part(userinfo.substr(colon + 1), "password");
    if (!password)
      return password.err();
    out.password = std::move(*password);
  }
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos)
      return url_error("unterminated IPv6 literal");
    out.host = std::string{hostport.substr(1, close - 1)};
    auto after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return url_error("garbage after the IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    auto c = hostport.rfind(':');
    out.host = std::string{hostport.substr(0, c)};
    if (c != std::string_view::npos)
      port_text = hostport.substr(c + 1);
  }
  if (out.host.empty())
    return url_error("missing host");
  if (!port_text.empty() || hostport.find(':') != std::string_view::npos) {
    unsigned port = 0;
    auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
      return url_error("invalid port '" + std::string{port_text} + "'");
    out.port = port;
  }
  auto q = path_query.find('?');
  auto database = decode_part(path_query.substr(0, q), "database");
  if (!database)
    return database.err();
  out.database = std::move(*database);
  if (out.database.empty() || out.database.find('/') != std::string::npos)
    return url_error("the path must be /DATABASE");
  if (q != std::string_view::npos) {
    auto query = path_query.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      auto param = query.substr(0, amp);
      auto eq = param.find('=');
      auto name = param.substr(0, eq);
      if (name != "socket" || eq == std::string_view::npos)
        return url_error("unknown parameter '" + std::string{name} +
                         "' (only socket=PATH)");
      auto socket = decode_part(param.substr(eq + 1), "socket");
      if (!socket)
        return socket.err();
      out.socket = std::move(*socket);
      if (amp == std::string_view::npos)
        break;
      query.remove_prefix(amp + 1);
    }
  }
  return out;
}

} // namespace gavel::adapters
