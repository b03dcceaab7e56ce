// The configuration keys of an Event Hubs destination.
#include "adapters/config/key.hpp"

namespace gavel::adapters::keys {

const destination_kind& eventhub_kind() {
  static const destination_kind kind = [] {
    constexpr std::string_view d = "destination";
    constexpr std::string_view eventhub = "eventhub";
    std::vector<dest_key> k;
    k.push_back(required(string_key<destination_config>(
        d, "endpoint", "https://NAMESPACE.servicebus.windows.net",
        [](auto& c) -> auto& { return c.endpoint; }, check_http_url, eventhub)));
    k.push_back(required(string_key<destination_config>(
        d, "hub", "Event Hub name", [](auto& c) -> auto& { return c.hub; },
        check_not_empty, eventhub)));
    k.push_back(required(string_key<destination_config>(
        d, "sas_key_name", "shared access policy name",
        [](auto& c) -> auto& { return c.sas_key_name; }, check_not_empty, eventhub)));
    k.push_back(required(string_key<destination_config>(
        d, "sas_key", "shared access key, used as given (secret)",
        [](auto& c) -> auto& { return c.sas_key; }, {}, eventhub, secret)));
    // No kind: destinations of every kind accept it (docs/adr/0017, "Not yet").
    k.push_back(duration_key<destination_config>(
        d, "sas_ttl", "lifetime of each SAS token (renewed when a tenth is left)",
        [](auto& c) -> auto& { return c.sas_ttl; }));
    return destination_kind{eventhub, std::move(k), {}};
  }();
  return kind;
}

} // namespace gavel::adapters::keys
