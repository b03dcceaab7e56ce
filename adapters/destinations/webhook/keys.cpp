// The configuration keys of a webhook destination.
#include "adapters/config/key.hpp"

namespace gavel::adapters::keys {

const destination_kind& webhook_kind() {
  static const destination_kind kind = [] {
    constexpr std::string_view d = "destination";
    constexpr std::string_view webhook = "webhook";
    std::vector<dest_key> k;
    k.push_back(required(string_key<destination_config>(
        d, "url", "http(s) URL the envelope is POSTed to",
        [](auto& c) -> auto& { return c.url; }, check_http_url, webhook)));
    k.push_back(required(string_key<destination_config>(
        d, "secret", "Standard Webhooks signing secret whsec_<base64> (secret)",
        [](auto& c) -> auto& { return c.secret; }, check_webhook_secret, webhook,
        secret)));
    return destination_kind{webhook, std::move(k), {}};
  }();
  return kind;
}

} // namespace gavel::adapters::keys
