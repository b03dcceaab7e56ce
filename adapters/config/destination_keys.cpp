// The keys every destination has, and the table of all `[[destination]]`
// keys: these plus each kind's own (adapters/destinations/<kind>/keys.cpp).
#include "adapters/config/key.hpp"
#include "protocols/event.hpp"

#include <sstream>

namespace gavel::adapters::keys {

namespace {

constexpr std::string_view d = "destination";

expected<std::string> read_event_type(const toml::node& n, const std::string& field) {
  auto s = read_string(n, field);
  if (!s || protocols::parse_event_type(*s))
    return s;
  std::string names;
  for (auto t : protocols::event_type_names)
    names += (names.empty() ? "" : "|") + std::string{t};
  return make_error(field, "expected one of " + names + ", got " + quoted(*s));
}

/// Keys listed before the kinds' own.
void add_identity_keys(std::vector<dest_key>& k) {
  std::vector<std::string_view> kinds;
  std::string kind_doc;
  for (const auto* kind : destination_kinds()) {
    kinds.push_back(kind->name);
    kind_doc += (kind_doc.empty() ? "" : "|") + std::string{kind->name};
  }
  k.push_back(required(string_key<destination_config>(
      d, "name", "unique, [a-z0-9_-]+; used in metrics, the API and the database",
      [](auto& c) -> auto& { return c.name; }, check_name)));
  k.push_back(required(enum_key<destination_config>(
      d, "kind", kind_doc, [](auto& c) -> auto& { return c.kind; }, kinds)));
  k.push_back(list_key<destination_config>(
      d, "event_types", "event types delivered here (default: all four)",
      [](auto& c) -> auto& { return c.event_types; }, read_event_type, show_list));
}

/// Keys of delivery every kind shares, listed after the kinds' own.
void add_delivery_keys(std::vector<dest_key>& k) {
  k.push_back(string_key<destination_config>(
      d, "ca_file", "extra CA bundle (PEM) trusted for TLS; empty: system CAs only",
      [](auto& c) -> auto& { return c.ca_file; }, check_readable_file));
  k.push_back(enum_key<destination_config>(
      d, "pii",
      "what it receives of the [pii] fields: clear, mask (as read without the pii "
      "scope) or hash (HMAC-SHA256 pseudonyms keyed by pii_key)",
      [](auto& c) -> auto& { return c.pii; }, {"clear", "mask", "hash"}));
  k.push_back(string_key<destination_config>(
      d, "pii_key",
      "with pii = \"hash\": the pseudonyms' key, at least 16 bytes (secret; the same "
      "key gives the same pseudonyms across systems)",
      [](auto& c) -> auto& { return c.pii_key; }, {}, {}, secret_or_empty));
  k.push_back(dest_key{
      d,
      "backfill",
      "whether it receives auctions first seen from a backfill (all of each or none); "
      "default: false for hubspot, true otherwise",
      {},
      [](const toml::node& n, destination_config& c,
         const std::string& field) -> opt_error {
        auto b = n.as_boolean();
        if (!b)
          return wrong_type(field, "a boolean (true or false)", n);
        c.backfill = b->get();
        return std::nullopt;
      },
      [](const destination_config& c) {
        return c.backfill ? std::string{*c.backfill ? "true" : "false"}
                          : std::string{"(by kind)"};
      }});
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
}

} // namespace

const std::vector<const destination_kind*>& destination_kinds() {
  static const std::vector<const destination_kind*> kinds{
      &eventhub_kind(), &hubspot_kind(), &webhook_kind()};
  return kinds;
}

const std::vector<dest_key>& destination_keys() {
  static const std::vector<dest_key> keys = [] {
    std::vector<dest_key> k;
    add_identity_keys(k);
    for (const auto* kind : destination_kinds())
      k.insert(k.end(), kind->keys.begin(), kind->keys.end());
    add_delivery_keys(k);
    return k;
  }();
  return keys;
}

} // namespace gavel::adapters::keys
