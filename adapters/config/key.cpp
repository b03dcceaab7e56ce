// The value readers and checks every key table is written with.
#include "adapters/config/key.hpp"

#include "protocols/duration.hpp"
#include "protocols/listen_address.hpp"

#include <fstream>

namespace gavel::adapters::keys {

error make_error(std::string field, std::string_view what) {
  std::string message =
      field.empty() ? std::string{what} : field + ": " + std::string{what};
  return error{"config", std::move(field), std::move(message)};
}

namespace {

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a float";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  default:
    return "nothing";
  }
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_base64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0)
    return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0 || !(alnum || c == '+' || c == '/'))
      return false;
  }
  return pad <= 2;
}

} // namespace

error wrong_type(const std::string& field, std::string_view expected,
                 const toml::node& got) {
  return make_error(field, "expected " + std::string{expected} + ", got " +
                               std::string{type_name(got)});
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string show_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    out += (i ? ", " : "") + quoted(v[i]);
  return out + "]";
}

std::string show_duration(millis d) {
  return quoted(protocols::format_duration(d));
}

// --- value readers ------------------------------------------------------------

expected<std::string> read_string(const toml::node& n, const std::string& field) {
  if (auto s = n.as_string())
    return s->get();
  return wrong_type(field, "a string", n);
}

expected<std::string> read_secret(const toml::node& n, const std::string& field,
                                  bool allow_empty) {
  auto s = read_string(n, field);
  if (!s || (allow_empty && s->empty()))
    return s;
  auto resolved = resolve_secret(*s);
  if (!resolved)
    return make_error(field, resolved.err().message);
  if (resolved->empty())
    return make_error(field, "must not be empty");
  return resolved;
}

expected<std::int64_t> read_integer(const toml::node& n, const std::string& field,
                                    std::int64_t min, std::int64_t max) {
  auto i = n.as_integer();
  if (!i)
    return wrong_type(field, "an integer", n);
  auto v = i->get();
  if (v < min || v > max)
    return make_error(field, "expected an integer in " + std::to_string(min) + ".." +
                                 std::to_string(max) + ", got " + std::to_string(v));
  return v;
}

expected<millis> read_duration(const toml::node& n, const std::string& field,
                               bool allow_zero) {
  auto s = n.as_string();
  if (!s)
    return wrong_type(field, R"(a duration string such as "250ms", "5s", "5m" or "1h")",
                      n);
  auto d = protocols::parse_duration(s->get());
  if (!d)
    return make_error(field, d.err().message);
  if (!allow_zero && d->count() == 0)
    return make_error(field, "must be greater than zero");
  return d;
}

// --- checks -------------------------------------------------------------------

opt_error check_listen(const std::string& v, const std::string& field) {
  auto addr = protocols::parse_listen_address(v);
  // The server would listen on every address for an empty host; the
  // configuration asks for it to be written out.
  if (!addr || addr->host.empty())
    return make_error(field, "expected host:port (such as \"127.0.0.1:8080\" or "
                             "\"[::1]:8080\"), got " +
                                 quoted(v));
  return std::nullopt;
}

opt_error check_http_url(const std::string& v, const std::string& field) {
  for (std::string_view scheme : {"http://", "https://"})
    if (starts_with(v, scheme) && v.size() > scheme.size())
      return std::nullopt;
  return make_error(field, "expected an http:// or https:// URL, got " + quoted(v));
}

opt_error check_smtp_url(const std::string& v, const std::string& field) {
  if (v.empty() || ((starts_with(v, "smtp://") || starts_with(v, "smtps://")) &&
                    v.size() > std::string_view{"smtps://"}.size()))
    return std::nullopt;
  return make_error(field,
                    "expected smtp://host:port or smtps://host:port, got " + quoted(v));
}

opt_error check_database_url(const std::string& v, const std::string& field) {
  if (v.empty() || starts_with(v, "postgresql://") || starts_with(v, "postgres://") ||
      v.find('=') != std::string::npos)
    return std::nullopt;
  return make_error(field, "expected a libpq URI (postgresql://...) or a "
                           "key=value connection string");
}

opt_error check_not_empty(const std::string& v, const std::string& field) {
  if (v.empty())
    return make_error(field, "must not be empty");
  return std::nullopt;
}

opt_error check_name(const std::string& v, const std::string& field) {
  if (v.empty())
    return make_error(field, "must not be empty");
  for (char c : v)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return make_error(
          field, "expected lowercase letters, digits, '_' or '-' only, got " + quoted(v));
  return std::nullopt;
}

opt_error check_webhook_secret(const std::string& v, const std::string& field) {
  constexpr std::string_view prefix = "whsec_";
  if (!starts_with(v, prefix) || !is_base64(std::string_view{v}.substr(prefix.size())))
    return make_error(field,
                      "expected a Standard Webhooks secret: \"whsec_\" followed by "
                      "base64 (such as \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\")");
  return std::nullopt;
}

opt_error check_readable_file(const std::string& v, const std::string& field) {
  if (v.empty())
    return std::nullopt;
  std::ifstream in{v};
  if (!in)
    return make_error(field, "cannot read " + quoted(v));
  return std::nullopt;
}

string_check unless_empty(string_check check) {
  return [check = std::move(check)](const std::string& v,
                                    const std::string& field) -> opt_error {
    return v.empty() ? opt_error{} : check(v, field);
  };
}

string_check one_of(std::vector<std::string_view> allowed) {
  return [allowed = std::move(allowed)](const std::string& v,
                                        const std::string& field) -> opt_error {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end())
      return std::nullopt;
    std::string list;
    for (auto a : allowed)
      list += (list.empty() ? "" : "|") + std::string{a};
    return make_error(field, "expected one of " + list + ", got " + quoted(v));
  };
}

// --- the top-level table ----------------------------------------------------------

const std::vector<top_key>& top_keys() {
  static const std::vector<top_key> keys = [] {
    std::vector<top_key> k;
    add_server_keys(k);
    add_admission_keys(k);
    add_database_keys(k);
    add_ingest_keys(k);
    add_pii_keys(k);
    add_auction_keys(k);
    add_store_keys(k);
    add_alerts_keys(k);
    add_retention_keys(k);
    add_log_keys(k);
    return k;
  }();
  return keys;
}

} // namespace gavel::adapters::keys
