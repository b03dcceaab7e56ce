// Gavel's configuration: one TOML file, every key declared once below (name,
// documentation, how it is read and checked). The defaults are the member
// initialisers in config.hpp, so the table never repeats them and cannot drift.
#include "adapters/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

namespace gavel::adapters {

namespace {

using protocols::error;
using opt_error = std::optional<error>;

constexpr std::string_view code = "config";

error make_error(std::string field, std::string_view what) {
  std::string message =
      field.empty() ? std::string{what} : field + ": " + std::string{what};
  return error{std::string{code}, std::move(field), std::move(message)};
}

constexpr std::array<std::string_view, 4> all_event_types{
    "auction.opened", "bid.placed", "auction.closed", "producer.heartbeat"};

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

// --- value readers --------------------------------------------------------

expected<std::string> read_string(const toml::node& n, const std::string& field) {
  if (auto s = n.as_string())
    return s->get();
  return wrong_type(field, "a string", n);
}

expected<std::string> read_secret(const toml::node& n, const std::string& field,
                                  bool allow_empty = false) {
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
  auto d = parse_duration(s->get());
  if (!d)
    return make_error(field, d.err().message);
  if (!allow_zero && d->count() == 0)
    return make_error(field, "must be greater than zero");
  return d;
}

// --- key declarations -----------------------------------------------------

/// One configuration key: where it lives, what it means, how it is assigned
/// from TOML and how its current value is shown (for the reference listing).
template <class Owner> struct key_def {
  std::string_view section;
  std::string_view name;
  std::string_view doc;
  /// Destinations only: the kind the key belongs to (empty: every kind).
  std::string_view kind;
  std::function<opt_error(const toml::node&, Owner&, const std::string&)> assign;
  std::function<std::string(const Owner&)> show;
};

using top_key = key_def<config>;
using dest_key = key_def<destination_config>;

enum secret_mode { plain, secret, secret_or_empty };

// Factories. `get` is a generic lambda returning a reference to the member,
// used with both a const and a mutable owner.

template <class Owner, class Get>
key_def<Owner>
string_key(std::string_view section, std::string_view name, std::string_view doc, Get get,
           std::function<opt_error(const std::string&, const std::string&)> check = {},
           std::string_view kind = {}, secret_mode secret = plain) {
  return {section,
          name,
          doc,
          kind,
          [get, check, secret](const toml::node& n, Owner& o,
                               const std::string& field) -> opt_error {
            auto v = secret == plain ? read_string(n, field)
                                     : read_secret(n, field, secret == secret_or_empty);
            if (!v)
              return v.err();
            if (check)
              if (auto e = check(*v, field))
                return e;
            get(o) = std::move(*v);
            return std::nullopt;
          },
          [get, secret](const Owner& o) {
            const std::string& v = get(o);
            return secret != plain && !v.empty() ? std::string{"(secret)"} : quoted(v);
          }};
}

template <class Owner, class Get>
key_def<Owner> enum_key(std::string_view section, std::string_view name,
                        std::string_view doc, Get get,
                        std::vector<std::string_view> allowed) {
  auto check = [allowed](const std::string& v, const std::string& field) -> opt_error {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end())
      return std::nullopt;
    std::string list;
    for (auto a : allowed)
      list += (list.empty() ? "" : "|") + std::string{a};
    return make_error(field, "expected one of " + list + ", got " + quoted(v));
  };
  return string_key<Owner>(section, name, doc, get, check);
}

template <class Owner, class Get>
key_def<Owner> int_key(std::string_view section, std::string_view name,
                       std::string_view doc, Get get, std::int64_t min, std::int64_t max,
                       std::string_view kind = {}) {
  return {section,
          name,
          doc,
          kind,
          [get, min, max](const toml::node& n, Owner& o,
                          const std::string& field) -> opt_error {
            auto v = read_integer(n, field, min, max);
            if (!v)
              return v.err();
            using target = std::remove_reference_t<decltype(get(o))>;
            get(o) = static_cast<target>(*v);
            return std::nullopt;
          },
          [get](const Owner& o) { return std::to_string(get(o)); }};
}

std::string show_duration(millis d) {
  auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0)
    return quoted(std::to_string(ms / 86'400'000) + "d");
  if (ms != 0 && ms % 3'600'000 == 0)
    return quoted(std::to_string(ms / 3'600'000) + "h");
  if (ms != 0 && ms % 60'000 == 0)
    return quoted(std::to_string(ms / 60'000) + "m");
  if (ms != 0 && ms % 1000 == 0)
    return quoted(std::to_string(ms / 1000) + "s");
  return quoted(std::to_string(ms) + "ms");
}

template <class Owner, class Get>
key_def<Owner> duration_key(std::string_view section, std::string_view name,
                            std::string_view doc, Get get, bool allow_zero = false) {
  return {section,
          name,
          doc,
          {},
          [get, allow_zero](const toml::node& n, Owner& o,
                            const std::string& field) -> opt_error {
            auto v = read_duration(n, field, allow_zero);
            if (!v)
              return v.err();
            get(o) = *v;
            return std::nullopt;
          },
          [get](const Owner& o) { return show_duration(get(o)); }};
}

template <class Owner, class Get>
key_def<Owner> bool_key(std::string_view section, std::string_view name,
                        std::string_view doc, Get get) {
  return {section,
          name,
          doc,
          {},
          [get](const toml::node& n, Owner& o, const std::string& field) -> opt_error {
            auto b = n.as_boolean();
            if (!b)
              return wrong_type(field, "a boolean (true or false)", n);
            get(o) = b->get();
            return std::nullopt;
          },
          [get](const Owner& o) { return std::string{get(o) ? "true" : "false"}; }};
}

/// An array of strings; `item` reads (and may resolve) one element.
template <class Owner, class Get>
key_def<Owner>
list_key(std::string_view section, std::string_view name, std::string_view doc, Get get,
         std::function<expected<std::string>(const toml::node&, const std::string&)> item,
         std::function<std::string(const std::vector<std::string>&)> show) {
  return {
      section,
      name,
      doc,
      {},
      [get, item](const toml::node& n, Owner& o, const std::string& field) -> opt_error {
        auto arr = n.as_array();
        if (!arr)
          return wrong_type(field, "an array of strings", n);
        std::vector<std::string> out;
        for (std::size_t i = 0; i < arr->size(); ++i) {
          auto v = item(*arr->get(i), field + "[" + std::to_string(i) + "]");
          if (!v)
            return v.err();
          out.push_back(std::move(*v));
        }
        get(o) = std::move(out);
        return std::nullopt;
      },
      [get, show](const Owner& o) { return show(get(o)); }};
}

std::string show_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i)
    out += (i ? ", " : "") + quoted(v[i]);
  return out + "]";
}

// --- checks ---------------------------------------------------------------

opt_error check_listen(const std::string& v, const std::string& field) {
  auto bad = [&] {
    return make_error(field, "expected host:port (such as \"127.0.0.1:8080\" or "
                             "\"[::1]:8080\"), got " +
                                 quoted(v));
  };
  auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return bad();
  auto host = std::string_view{v}.substr(0, colon);
  if (host.front() == '[' && (host.size() < 3 || host.back() != ']'))
    return bad();
  auto port = std::string_view{v}.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
      value > 65535)
    return bad();
  return std::nullopt;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
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

expected<std::string> read_event_type(const toml::node& n, const std::string& field) {
  auto s = read_string(n, field);
  if (!s)
    return s;
  if (std::find(all_event_types.begin(), all_event_types.end(), *s) ==
      all_event_types.end())
    return make_error(field, "expected one of auction.opened|bid.placed|auction.closed|"
                             "producer.heartbeat, got " +
                                 quoted(*s));
  return s;
}

expected<std::string> read_property_mapping(const toml::node& n,
                                            const std::string& field) {
  auto s = read_string(n, field);
  if (!s)
    return s;
  auto eq = s->find('=');
  auto path = eq == std::string::npos ? std::string{} : s->substr(eq + 1);
  if (eq == 0 || eq == std::string::npos ||
      !(path.rfind("metadata.", 0) == 0 || path.rfind("data.", 0) == 0))
    return make_error(field, "expected \"property=metadata.field\" or "
                             "\"property=data.field\", got " +
                                 quoted(*s));
  return s;
}

// --- the table --------------------------------------------------------------

const std::vector<top_key>& top_keys() {
  static const std::vector<top_key> keys = [] {
    std::vector<top_key> k;
    // [server]
    k.push_back(string_key<config>(
        "server", "listen", "host:port of the HTTP server (ingest, operations API)",
        [](auto& c) -> auto& { return c.server.listen; }, check_listen));
    k.push_back(int_key<config>(
        "server", "max_body_bytes", "largest request body accepted; larger gets 413",
        [](auto& c) -> auto& { return c.server.max_body_bytes; }, 1024, 1LL << 30));
    k.push_back(int_key<config>(
        "server", "io_threads", "threads running the HTTP server's I/O",
        [](auto& c) -> auto& { return c.server.io_threads; }, 1, 64));
    k.push_back(int_key<config>(
        "server", "max_in_flight",
        "events accepted but not yet committed above which ingest answers 503",
        [](auto& c) -> auto& { return c.server.max_in_flight; }, 1, 100'000'000));
    k.push_back(duration_key<config>(
        "server", "request_timeout",
        "time allowed to answer a request once it has been read (else 503)",
        [](auto& c) -> auto& { return c.server.request_timeout; }));
    k.push_back(duration_key<config>(
        "server", "header_timeout",
        "the whole request header must arrive within this (from accept, or from the "
        "first byte of a keep-alive request), else the connection is closed",
        [](auto& c) -> auto& { return c.server.header_timeout; }));
    k.push_back(duration_key<config>(
        "server", "body_timeout",
        "the whole request body must arrive within this after its header, else the "
        "connection is closed",
        [](auto& c) -> auto& { return c.server.body_timeout; }));
    k.push_back(duration_key<config>(
        "server", "idle_timeout",
        "a keep-alive connection with no new request for this long is closed",
        [](auto& c) -> auto& { return c.server.idle_timeout; }));
    k.push_back(int_key<config>(
        "server", "max_connections",
        "open connections beyond which a new one is answered 503 and closed",
        [](auto& c) -> auto& { return c.server.max_connections; }, 1, 1'000'000));
    k.push_back(bool_key<config>(
        "server", "fault_injection",
        "enable POST /v1/destinations/<name>/crash (drills and tests only)",
        [](auto& c) -> auto& { return c.server.fault_injection; }));
    k.push_back(duration_key<config>(
        "server", "drain_timeout",
        "on SIGTERM: time for commits in flight and the destinations' last deliveries",
        [](auto& c) -> auto& { return c.server.drain_timeout; }, true));
    // [admission]
    k.push_back(bool_key<config>(
        "admission", "enabled",
        "adaptive admission by queue delay; false: only server.max_in_flight sheds",
        [](auto& c) -> auto& { return c.admission.enabled; }));
    k.push_back(duration_key<config>(
        "admission", "target_delay",
        "queue delay tolerated: when even the fastest answer of an interval took longer, "
        "the limit on events in flight is cut and the excess is answered 503 at once",
        [](auto& c) -> auto& { return c.admission.target_delay; }));
    k.push_back(duration_key<config>(
        "admission", "interval", "how often the limit is reconsidered",
        [](auto& c) -> auto& { return c.admission.interval; }));
    k.push_back(int_key<config>(
        "admission", "initial_limit",
        "events in flight admitted at start, before any answer",
        [](auto& c) -> auto& { return c.admission.initial_limit; }, 1, 100'000'000));
    k.push_back(int_key<config>(
        "admission", "min_limit", "the limit never goes below this many events in flight",
        [](auto& c) -> auto& { return c.admission.min_limit; }, 1, 100'000'000));
    // [database]
    k.push_back(string_key<config>(
        "database", "url",
        "libpq URI or key=value string (secret: env:/file: accepted); empty: the "
        "embedded cluster under data_dir",
        [](auto& c) -> auto& { return c.database.url; },
        [](const std::string& v, const std::string& f) {
          return v.empty() ? opt_error{} : check_database_url(v, f);
        },
        {}, secret_or_empty));
    k.push_back(string_key<config>(
        "database", "data_dir", "home of the embedded cluster (used when url is empty)",
        [](auto& c) -> auto& { return c.database.data_dir; }, check_not_empty));
    k.push_back(duration_key<config>(
        "database", "connect_timeout", "time allowed to connect to PostgreSQL",
        [](auto& c) -> auto& { return c.database.connect_timeout; }));
    k.push_back(int_key<config>(
        "database", "restart_limit",
        "restarts of the embedded cluster tolerated within restart_period; beyond: "
        "alert, and restarts slow to one every 30 s (used when url is empty)",
        [](auto& c) -> auto& { return c.database.restart_limit; }, 0, 1000));
    k.push_back(duration_key<config>(
        "database", "restart_period",
        "window of the embedded cluster's restart intensity limit",
        [](auto& c) -> auto& { return c.database.restart_period; }));
    // [ingest]
    k.push_back(list_key<config>(
        "ingest", "tokens",
        "bearer tokens accepted by POST /v1/events (secrets); empty: every request 401",
        [](auto& c) -> auto& { return c.ingest.tokens; },
        [](const toml::node& n, const std::string& f) { return read_secret(n, f); },
        [](const std::vector<std::string>& v) {
          return v.empty() ? std::string{"[]"}
                           : "[" + std::to_string(v.size()) + " secret(s)]";
        }));
    k.push_back(int_key<config>(
        "ingest", "max_batch", "most events in one POST /v1/events array",
        [](auto& c) -> auto& { return c.ingest.max_batch; }, 1, 1000));
    k.push_back(int_key<config>(
        "ingest", "max_depth", "deepest JSON nesting accepted in an event",
        [](auto& c) -> auto& { return c.ingest.max_depth; }, 2, 1024));
    // [auction]
    k.push_back(duration_key<config>(
        "auction", "heartbeat_interval", "heartbeat period of an open auction",
        [](auto& c) -> auto& { return c.auction.heartbeat_interval; }));
    k.push_back(duration_key<config>(
        "auction", "final_heartbeat_interval",
        "heartbeat period inside the final window (must be < heartbeat_interval)",
        [](auto& c) -> auto& { return c.auction.final_heartbeat_interval; }));
    k.push_back(duration_key<config>(
        "auction", "final_window",
        "time before the scheduled end in which the fast heartbeat runs (0s: never)",
        [](auto& c) -> auto& { return c.auction.final_window; }, true));
    k.push_back(duration_key<config>(
        "auction", "idle_timeout", "a closed auction's actor is passivated after this",
        [](auto& c) -> auto& { return c.auction.idle_timeout; }));
    // [store]
    k.push_back(int_key<config>(
        "store", "max_batch_events", "most events written in one transaction",
        [](auto& c) -> auto& { return c.store.max_batch_events; }, 1, 1'000'000));
    k.push_back(bool_key<config>(
        "store", "synchronous_commit",
        "wait for the WAL flush before acknowledging (false risks acknowledged events "
        "on a PostgreSQL crash)",
        [](auto& c) -> auto& { return c.store.synchronous_commit; }));
    k.push_back(int_key<config>(
        "store", "restart_limit",
        "crashes of the store or the registry tolerated within restart_period; beyond: "
        "failed + alert (ingest answers 503 until an operator restart)",
        [](auto& c) -> auto& { return c.store.restart_limit; }, 0, 1000));
    k.push_back(duration_key<config>(
        "store", "restart_period", "window of the store's restart intensity limit",
        [](auto& c) -> auto& { return c.store.restart_period; }));
    // [alerts]
    constexpr std::string_view a = "alerts";
    k.push_back(duration_key<config>(
        a, "interval", "how often pipeline health is evaluated",
        [](auto& c) -> auto& { return c.alerts.interval; }));
    k.push_back(duration_key<config>(
        a, "failing_for", "alert when a destination is not ok for this long",
        [](auto& c) -> auto& { return c.alerts.failing_for; }));
    k.push_back(duration_key<config>(
        a, "lag_above", "alert when a destination's oldest undelivered event is older",
        [](auto& c) -> auto& { return c.alerts.lag_above; }));
    k.push_back(bool_key<config>(
        a, "dead_letters", "alert on any new dead letter",
        [](auto& c) -> auto& { return c.alerts.dead_letters; }));
    k.push_back(bool_key<config>(
        a, "restart_intensity",
        "alert when a destination's supervisor gives up (restart intensity exceeded)",
        [](auto& c) -> auto& { return c.alerts.restart_intensity; }));
    k.push_back(duration_key<config>(
        a, "database_unreachable_for", "alert when PostgreSQL is unreachable this long",
        [](auto& c) -> auto& { return c.alerts.database_unreachable_for; }));
    k.push_back(duration_key<config>(
        a, "min_interval",
        "at most one notice per incident per this (the recovery notice always goes)",
        [](auto& c) -> auto& { return c.alerts.min_interval; }));
    k.push_back(int_key<config>(
        a, "max_per_hour", "cap on all notices in any hour (a storm guard)",
        [](auto& c) -> auto& { return c.alerts.max_per_hour; }, 1, 10000));
    k.push_back(string_key<config>(
        a, "instance", "names this deployment in alert text",
        [](auto& c) -> auto& { return c.alerts.instance; }, check_not_empty));
    k.push_back(duration_key<config>(
        a, "timeout", "time allowed for one send",
        [](auto& c) -> auto& { return c.alerts.timeout; }));
    k.push_back(string_key<config>(
        a, "smtp_url",
        "smtp://host:587 (STARTTLS) or smtps://host:465; empty: no email alerts",
        [](auto& c) -> auto& { return c.alerts.smtp_url; }, check_smtp_url));
    k.push_back(string_key<config>(
        a, "smtp_user", "SMTP AUTH user; empty: no AUTH",
        [](auto& c) -> auto& { return c.alerts.smtp_user; }));
    k.push_back(string_key<config>(
        a, "smtp_password", "SMTP AUTH password (secret)",
        [](auto& c) -> auto& { return c.alerts.smtp_password; }, {}, {},
        secret_or_empty));
    k.push_back(bool_key<config>(
        a, "smtp_starttls",
        "smtp://: require STARTTLS (false only for a local relay or tests)",
        [](auto& c) -> auto& { return c.alerts.smtp_starttls; }));
    k.push_back(string_key<config>(
        a, "email_from", "sender address of alert emails",
        [](auto& c) -> auto& { return c.alerts.email_from; }));
    k.push_back(list_key<config>(
        a, "email_to", "recipients of alert emails",
        [](auto& c) -> auto& { return c.alerts.email_to; },
        [](const toml::node& n, const std::string& f) -> expected<std::string> {
          auto s = read_string(n, f);
          if (s && s->find('@') == std::string::npos)
            return make_error(f, "expected an email address, got " + quoted(*s));
          return s;
        },
        show_list));
    k.push_back(string_key<config>(
        a, "ca_file", "extra CA bundle (PEM) for SMTP and Teams TLS; empty: system CAs",
        [](auto& c) -> auto& { return c.alerts.ca_file; }, check_readable_file));
    k.push_back(string_key<config>(
        a, "teams_webhook_url",
        "Microsoft Teams incoming webhook URL (secret: it carries a key); empty: no "
        "Teams",
        [](auto& c) -> auto& { return c.alerts.teams_webhook_url; },
        [](const std::string& v, const std::string& f) {
          return v.empty() ? opt_error{} : check_http_url(v, f);
        },
        {}, secret_or_empty));
    // [retention]
    k.push_back(bool_key<config>(
        "retention", "enabled", "prune the outbox periodically in serve",
        [](auto& c) -> auto& { return c.retention.enabled; }));
    k.push_back(duration_key<config>(
        "retention", "max_age",
        "outbox rows older than this go, once every destination has them",
        [](auto& c) -> auto& { return c.retention.max_age; }));
    k.push_back(duration_key<config>(
        "retention", "interval", "how often serve prunes (and creates partitions)",
        [](auto& c) -> auto& { return c.retention.interval; }));
    k.push_back(int_key<config>(
        "retention", "partitions_ahead", "daily outbox partitions created in advance",
        [](auto& c) -> auto& { return c.retention.partitions_ahead; }, 1, 366));
    // [log]
    k.push_back(enum_key<config>("log", "level", "trace|debug|info|warn|error",
                                 [](auto& c) -> auto& { return c.log.level; },
                                 {"trace", "debug", "info", "warn", "error"}));
    k.push_back(enum_key<config>("log", "format", "text|json",
                                 [](auto& c) -> auto& { return c.log.format; },
                                 {"text", "json"}));
    return k;
  }();
  return keys;
}

const std::vector<dest_key>& destination_keys() {
  static const std::vector<dest_key> keys = [] {
    constexpr std::string_view d = "destination";
    std::vector<dest_key> k;
    k.push_back(string_key<destination_config>(
        d, "name", "unique, [a-z0-9_-]+; used in metrics, the API and the database",
        [](auto& c) -> auto& { return c.name; }, check_name));
    k.push_back(enum_key<destination_config>(d, "kind", "eventhub|hubspot|webhook",
                                             [](auto& c) -> auto& { return c.kind; },
                                             {"eventhub", "hubspot", "webhook"}));
    k.push_back(list_key<destination_config>(
        d, "event_types", "event types delivered here (default: all four)",
        [](auto& c) -> auto& { return c.event_types; }, read_event_type, show_list));
    // eventhub
    k.push_back(string_key<destination_config>(
        d, "endpoint", "https://NAMESPACE.servicebus.windows.net",
        [](auto& c) -> auto& { return c.endpoint; }, check_http_url, "eventhub"));
    k.push_back(string_key<destination_config>(
        d, "hub", "Event Hub name", [](auto& c) -> auto& { return c.hub; },
        check_not_empty, "eventhub"));
    k.push_back(string_key<destination_config>(
        d, "sas_key_name", "shared access policy name",
        [](auto& c) -> auto& { return c.sas_key_name; }, check_not_empty, "eventhub"));
    k.push_back(string_key<destination_config>(
        d, "sas_key", "shared access key, used as given (secret)",
        [](auto& c) -> auto& { return c.sas_key; }, {}, "eventhub", secret));
    k.push_back(duration_key<destination_config>(
        d, "sas_ttl", "lifetime of each SAS token (renewed when a tenth is left)",
        [](auto& c) -> auto& { return c.sas_ttl; }));
    // hubspot
    k.push_back(string_key<destination_config>(
        d, "base_url", "HubSpot API base URL (https://api.hubapi.com)",
        [](auto& c) -> auto& { return c.base_url; }, check_http_url, "hubspot"));
    k.push_back(string_key<destination_config>(
        d, "token", "private-app access token (secret)",
        [](auto& c) -> auto& { return c.token; }, {}, "hubspot", secret));
    k.push_back(string_key<destination_config>(
        d, "object_type", "CRM object type upserted (e.g. a custom object's id)",
        [](auto& c) -> auto& { return c.object_type; }, check_not_empty, "hubspot"));
    k.push_back(string_key<destination_config>(
        d, "id_property", "unique property that makes the upsert idempotent",
        [](auto& c) -> auto& { return c.id_property; }, check_not_empty, "hubspot"));
    k.push_back(int_key<destination_config>(
        d, "requests_per_10s", "client-side rate limit",
        [](auto& c) -> auto& { return c.requests_per_10s; }, 1, 10000, "hubspot"));
    k.push_back(list_key<destination_config>(
        d, "properties",
        "HubSpot property <- envelope path, \"property=data.amount\" (default: "
        "gavel_event_id, gavel_event_type, bid_sequence, producer_timestamp, auction_id, "
        "bid_id, amount, currency, bidder_user_id, end_date, total_bid_count)",
        [](auto& c) -> auto& { return c.properties; }, read_property_mapping, show_list));
    // webhook
    k.push_back(string_key<destination_config>(
        d, "url", "http(s) URL the envelope is POSTed to",
        [](auto& c) -> auto& { return c.url; }, check_http_url, "webhook"));
    k.push_back(string_key<destination_config>(
        d, "secret", "Standard Webhooks signing secret whsec_<base64> (secret)",
        [](auto& c) -> auto& { return c.secret; }, check_webhook_secret, "webhook",
        secret));
    // common
    k.push_back(string_key<destination_config>(
        d, "ca_file", "extra CA bundle (PEM) trusted for TLS; empty: system CAs only",
        [](auto& c) -> auto& { return c.ca_file; }, check_readable_file));
    k.push_back(int_key<destination_config>(
        d, "concurrency",
        "requests in flight at once; 0: the kind's default (eventhub 32, others 8)",
        [](auto& c) -> auto& { return c.concurrency; }, 0, 256));
    k.push_back(int_key<destination_config>(
        d, "window", "envelopes held in memory before catch-up from the outbox",
        [](auto& c) -> auto& { return c.window; }, 100, 10'000'000));
    k.push_back(duration_key<destination_config>(
        d, "request_timeout", "time allowed for one delivery request",
        [](auto& c) -> auto& { return c.request_timeout; }));
    k.push_back(int_key<destination_config>(
        d, "max_batch_events",
        "records per request; 0: the kind's default (eventhub 500 within 1 MB, hubspot "
        "100, webhook 1)",
        [](auto& c) -> auto& { return c.max_batch_events; }, 0, 100000));
    k.push_back(int_key<destination_config>(
        d, "circuit_failures", "consecutive failed requests that open the circuit",
        [](auto& c) -> auto& { return c.circuit_failures; }, 1, 1000000));
    k.push_back(duration_key<destination_config>(
        d, "circuit_open", "time the circuit stays open before a half-open probe",
        [](auto& c) -> auto& { return c.circuit_open; }));
    k.push_back(int_key<destination_config>(
        d, "restart_limit",
        "crashes of the destination actor tolerated within restart_period; beyond: "
        "failed + alert",
        [](auto& c) -> auto& { return c.restart_limit; }, 0, 1000));
    k.push_back(duration_key<destination_config>(
        d, "restart_period", "window of the restart intensity limit",
        [](auto& c) -> auto& { return c.restart_period; }));
    k.push_back(duration_key<destination_config>(
        d, "retry_initial", "first retry delay (exponential backoff with jitter)",
        [](auto& c) -> auto& { return c.retry.initial; }));
    k.push_back(duration_key<destination_config>(
        d, "retry_max", "longest retry delay",
        [](auto& c) -> auto& { return c.retry.max; }));
    k.push_back(dest_key{d,
                         "retry_multiplier",
                         "backoff growth factor, >= 1.0",
                         {},
                         [](const toml::node& n, destination_config& c,
                            const std::string& field) -> opt_error {
                           double v;
                           if (auto f = n.as_floating_point())
                             v = f->get();
                           else if (auto i = n.as_integer())
                             v = static_cast<double>(i->get());
                           else
                             return wrong_type(field, "a number", n);
                           if (!(v >= 1.0 && v <= 100.0))
                             return make_error(field, "expected a number in 1.0..100.0");
                           c.retry.multiplier = v;
                           return std::nullopt;
                         },
                         [](const destination_config& c) {
                           std::ostringstream os;
                           os << c.retry.multiplier;
                           auto s = os.str();
                           return s.find('.') == std::string::npos ? s + ".0" : s;
                         }});
    return k;
  }();
  return keys;
}

constexpr std::array<std::string_view, 9> sections{"server", "admission", "database",
                                                   "ingest", "auction",   "store",
                                                   "log",    "alerts",    "retention"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min(
          {prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

error unknown_key(const std::string& field, std::string_view key,
                  const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_d = 3;
  for (auto c : candidates) {
    auto dist = edit_distance(key, c);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  std::string what = "unknown key";
  if (!best.empty())
    what += " (did you mean `" + std::string{best} + "`?)";
  return make_error(field, what);
}

/// Adds the origin and line to a message for people (the field stays clean).
error locate(error e, std::string_view origin, const toml::node* n) {
  std::string where{origin};
  if (n && n->source().begin.line > 0)
    where += ":" + std::to_string(n->source().begin.line);
  e.message = where + ": " + e.message;
  return e;
}

opt_error parse_destination(const toml::table& t, destination_config& dc,
                            const std::string& prefix, std::string_view origin) {
  std::vector<std::string_view> names;
  for (auto& k : destination_keys())
    names.push_back(k.name);
  std::set<std::string_view> seen_kind_keys;
  for (auto&& [key, node] : t) {
    // A named copy: clang before 16 cannot capture a structured binding.
    std::string_view key_name = key.str();
    auto field = prefix + "." + std::string{key_name};
    auto it = std::find_if(destination_keys().begin(), destination_keys().end(),
                           [&](const dest_key& k) { return k.name == key_name; });
    if (it == destination_keys().end())
      return locate(unknown_key(field, key.str(), names), origin, &node);
    if (auto e = it->assign(node, dc, field))
      return locate(*e, origin, &node);
  }
  auto node_of = [&](std::string_view name) { return t.get(name); };
  auto fail = [&](std::string_view name, std::string_view what) {
    return locate(make_error(prefix + "." + std::string{name}, what), origin,
                  node_of(name) ? node_of(name) : &t);
  };
  if (!t.contains("name"))
    return fail("name", "missing (every destination needs a unique name)");
  if (!t.contains("kind"))
    return fail("kind", "missing (expected one of eventhub|hubspot|webhook)");
  for (auto& k : destination_keys()) {
    if (!k.kind.empty() && k.kind != dc.kind && t.contains(k.name))
      return fail(k.name, "not a key of a " + dc.kind + " destination (it belongs to " +
                              std::string{k.kind} + ")");
  }
  static const std::vector<std::pair<std::string_view, std::vector<std::string_view>>>
      required{{"eventhub", {"endpoint", "hub", "sas_key_name", "sas_key"}},
               {"hubspot", {"base_url", "token", "object_type", "id_property"}},
               {"webhook", {"url", "secret"}}};
  for (auto& [kind, keys] : required)
    if (kind == dc.kind)
      for (auto key : keys)
        if (!t.contains(key))
          return fail(key, "missing (required for a " + dc.kind + " destination)");
  if (!t.contains("event_types"))
    dc.event_types.assign(all_event_types.begin(), all_event_types.end());
  if (dc.event_types.empty())
    return fail("event_types", "must list at least one event type");
  std::set<std::string> unique(dc.event_types.begin(), dc.event_types.end());
  if (unique.size() != dc.event_types.size())
    return fail("event_types", "lists an event type twice");
  if (dc.retry.initial > dc.retry.max)
    return fail("retry_initial",
                "must not exceed retry_max (" + show_duration(dc.retry.max) + ")");
  if (dc.kind == "hubspot") {
    // The upsert key must be a property the mapping fills.
    std::vector<std::string> names;
    if (dc.properties.empty())
      names = {
          "gavel_event_id", "gavel_event_type", "bid_sequence",   "producer_timestamp",
          "auction_id",     "bid_id",           "amount",         "currency",
          "bidder_user_id", "end_date",         "total_bid_count"};
    for (const auto& p : dc.properties)
      names.push_back(p.substr(0, p.find('=')));
    if (std::find(names.begin(), names.end(), dc.id_property) == names.end())
      return fail("id_property", "\"" + dc.id_property +
                                     "\" is not a mapped property (see `properties`)");
  }
  return std::nullopt;
}

} // namespace

expected<millis> parse_duration(std::string_view text) {
  auto bad = [&] {
    return make_error({}, "expected a duration with a unit (ms, s, m, h or d) such as "
                          "\"250ms\", \"5s\", \"5m\" or \"1h\", got " +
                              quoted(text));
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits == text.size())
    return bad();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc{} || end != text.data() + digits)
    return bad();
  auto unit = text.substr(digits);
  std::int64_t scale;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else
    return bad();
  // A year is far beyond any sensible setting and far from overflow.
  constexpr std::int64_t max_ms = 366LL * 24 * 3'600'000;
  if (value > max_ms / scale)
    return make_error({}, "duration " + quoted(text) + " is too long (at most 366 days)");
  return millis{value * scale};
}

expected<std::string> resolve_secret(std::string_view value) {
  if (starts_with(value, "env:")) {
    std::string name{value.substr(4)};
    if (name.empty())
      return make_error({}, "env: needs a variable name (env:NAME)");
    const char* v = std::getenv(name.c_str());
    if (v == nullptr)
      return make_error({}, "environment variable " + name + " is not set");
    if (*v == '\0')
      return make_error({}, "environment variable " + name + " is empty");
    return std::string{v};
  }
  if (starts_with(value, "file:")) {
    std::string path{value.substr(5)};
    if (path.empty())
      return make_error({}, "file: needs a path (file:PATH)");
    std::ifstream in{path, std::ios::binary};
    if (!in)
      return make_error({},
                        "cannot read secret file " + path + ": " + std::strerror(errno));
    std::ostringstream os;
    os << in.rdbuf();
    auto s = os.str();
    if (!s.empty() && s.back() == '\n') {
      s.pop_back();
      if (!s.empty() && s.back() == '\r')
        s.pop_back();
    }
    if (s.empty())
      return make_error({}, "secret file " + path + " is empty");
    return s;
  }
  return std::string{value};
}

config default_config() {
  return config{};
}

expected<config> parse_config(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    auto& b = e.source().begin;
    return error{std::string{code},
                 {},
                 std::string{origin} + ":" + std::to_string(b.line) + ":" +
                     std::to_string(b.column) +
                     ": invalid TOML: " + std::string{e.description()}};
  }
  config cfg = default_config();
  std::vector<std::string_view> top_names{sections.begin(), sections.end()};
  top_names.push_back("destination");
  for (auto&& [key, node] : root) {
    std::string section{key.str()};
    if (section == "destination") {
      auto arr = node.as_array();
      if (!arr || !arr->is_array_of_tables())
        return locate(
            wrong_type("destination", "an array of tables ([[destination]])", node),
            origin, &node);
      std::set<std::string> names;
      for (std::size_t i = 0; i < arr->size(); ++i) {
        auto& t = *arr->get(i)->as_table();
        auto prefix = "destination[" + std::to_string(i) + "]";
        destination_config dc;
        if (auto e = parse_destination(t, dc, prefix, origin))
          return *e;
        if (!names.insert(dc.name).second)
          return locate(make_error(prefix + ".name",
                                   "duplicate destination name " + quoted(dc.name)),
                        origin, t.get("name"));
        cfg.destinations.push_back(std::move(dc));
      }
      continue;
    }
    if (std::find(sections.begin(), sections.end(), section) == sections.end())
      return locate(unknown_key(section, section, top_names), origin, &node);
    auto table = node.as_table();
    if (!table)
      return locate(wrong_type(section, "a table ([" + section + "])", node), origin,
                    &node);
    std::vector<std::string_view> names;
    for (auto& k : top_keys())
      if (k.section == section)
        names.push_back(k.name);
    for (auto&& [k2, value] : *table) {
      std::string_view key_name = k2.str(); // clang < 16: no capture of k2
      auto field = section + "." + std::string{key_name};
      auto it = std::find_if(top_keys().begin(), top_keys().end(), [&](const top_key& k) {
        return k.section == section && k.name == key_name;
      });
      if (it == top_keys().end())
        return locate(unknown_key(field, k2.str(), names), origin, &value);
      if (auto e = it->assign(value, cfg, field))
        return locate(*e, origin, &value);
    }
  }
  if (!cfg.alerts.smtp_url.empty() &&
      (cfg.alerts.email_from.empty() || cfg.alerts.email_to.empty())) {
    auto n = root.at_path("alerts.smtp_url").node();
    return locate(make_error(cfg.alerts.email_from.empty() ? "alerts.email_from"
                                                           : "alerts.email_to",
                             "required when alerts.smtp_url is set"),
                  origin, n);
  }
  // Both are capped by server.max_in_flight (the hard bound) where used.
  if (cfg.admission.min_limit > cfg.admission.initial_limit) {
    auto n = root.at_path("admission.min_limit").node();
    return locate(make_error("admission.min_limit",
                             "must not exceed admission.initial_limit (" +
                                 std::to_string(cfg.admission.initial_limit) + ")"),
                  origin, n ? n : root.at_path("admission.initial_limit").node());
  }
  if (cfg.auction.final_heartbeat_interval >= cfg.auction.heartbeat_interval) {
    auto n = root.at_path("auction.final_heartbeat_interval").node();
    return locate(make_error("auction.final_heartbeat_interval",
                             "must be shorter than auction.heartbeat_interval (" +
                                 show_duration(cfg.auction.heartbeat_interval) + ")"),
                  origin, n ? n : root.at_path("auction.heartbeat_interval").node());
  }
  return cfg;
}

expected<config> load_config(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return error{std::string{code},
                 {},
                 "cannot read configuration file " + path + ": " + std::strerror(errno)};
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad())
    return error{std::string{code}, {}, "cannot read configuration file " + path};
  return parse_config(os.str(), path);
}

std::vector<config_key> config_keys() {
  std::vector<config_key> out;
  const config defaults = default_config();
  for (auto& k : top_keys())
    out.push_back({std::string{k.section} + "." + std::string{k.name},
                   k.show(defaults),
                   std::string{k.doc},
                   {}});
  const destination_config dest_defaults;
  for (auto& k : destination_keys()) {
    auto shown = k.show(dest_defaults);
    if (k.name == "event_types") {
      std::vector<std::string> all{all_event_types.begin(), all_event_types.end()};
      shown = show_list(all);
    } else if (shown == "\"\"" && k.name != "ca_file") {
      shown = "(required)";
    }
    out.push_back({"destination." + std::string{k.name}, shown, std::string{k.doc},
                   std::string{k.kind}});
  }
  return out;
}

unsigned effective_concurrency(const destination_config& d) {
  if (d.concurrency > 0)
    return d.concurrency;
  return d.kind == "eventhub" ? 32u : 8u;
}

} // namespace gavel::adapters
