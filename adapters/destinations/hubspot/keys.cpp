// The configuration keys of a HubSpot destination, and its one cross-key
// rule: the upsert key must be a property the mapping fills.
#include "adapters/config/key.hpp"
#include "adapters/destinations/hubspot/format.hpp"

namespace gavel::adapters::keys {

namespace {

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

std::optional<key_fault> check_id_property(const destination_config& c) {
  for (const auto& [name, path] : hubspot_mapping_of(c.properties))
    if (name == c.id_property)
      return std::nullopt;
  return key_fault{"id_property", "\"" + c.id_property +
                                      "\" is not a mapped property (see `properties`)"};
}

} // namespace

const destination_kind& hubspot_kind() {
  static const destination_kind kind = [] {
    constexpr std::string_view d = "destination";
    constexpr std::string_view hubspot = "hubspot";
    std::string defaults;
    for (const auto& [name, path] : default_hubspot_mapping())
      defaults += (defaults.empty() ? "" : ", ") + name;
    std::vector<dest_key> k;
    k.push_back(required(string_key<destination_config>(
        d, "base_url", "HubSpot API base URL (https://api.hubapi.com)",
        [](auto& c) -> auto& { return c.base_url; }, check_http_url, hubspot)));
    k.push_back(required(string_key<destination_config>(
        d, "token", "private-app access token (secret)",
        [](auto& c) -> auto& { return c.token; }, {}, hubspot, secret)));
    k.push_back(required(string_key<destination_config>(
        d, "object_type", "CRM object type upserted (e.g. a custom object's id)",
        [](auto& c) -> auto& { return c.object_type; }, check_not_empty, hubspot)));
    k.push_back(required(string_key<destination_config>(
        d, "id_property", "unique property that makes the upsert idempotent",
        [](auto& c) -> auto& { return c.id_property; }, check_not_empty, hubspot)));
    k.push_back(int_key<destination_config>(
        d, "requests_per_10s", "client-side rate limit",
        [](auto& c) -> auto& { return c.requests_per_10s; }, 1, 10000, hubspot));
    // No kind: destinations of every kind accept it (docs/adr/0017, "Not yet").
    k.push_back(list_key<destination_config>(
        d, "properties",
        "HubSpot property <- envelope path, \"property=data.bid_amount\" (default: " +
            defaults + ")",
        [](auto& c) -> auto& { return c.properties; }, read_property_mapping, show_list));
    return destination_kind{hubspot, std::move(k), check_id_property};
  }();
  return kind;
}

} // namespace gavel::adapters::keys
