#include "adapters/destinations/client.hpp"

#include "adapters/destinations/eventhub/client.hpp"
#include "adapters/destinations/hubspot/client.hpp"
#include "adapters/destinations/webhook/client.hpp"

namespace gavel::adapters {

std::size_t destination_client::size_of(const outbox_record& rec) const {
  return rec.envelope ? rec.envelope->size() : 0;
}

std::string destination_client::batch_key(const outbox_record&) const {
  return {};
}

std::chrono::milliseconds destination_client::acquire(protocols::steady_time) {
  return std::chrono::milliseconds{0};
}

expected<std::shared_ptr<destination_client>>
make_destination_client(io_runtime& io, const destination_config& cfg) {
  auto origin_of = [&](const std::string& text) -> expected<url> {
    auto u = parse_url(text);
    if (!u)
      return protocols::error{"config", cfg.name, "bad URL: " + u.err().message};
    return u;
  };
  if (cfg.kind == "webhook") {
    auto u = origin_of(cfg.url);
    if (!u)
      return u.err();
    return std::shared_ptr<destination_client>{
        destinations::make_webhook_client(io, cfg, *u)};
  }
  if (cfg.kind == "eventhub") {
    auto u = origin_of(cfg.endpoint);
    if (!u)
      return u.err();
    return std::shared_ptr<destination_client>{
        destinations::make_eventhub_client(io, cfg, *u)};
  }
  if (cfg.kind == "hubspot") {
    auto u = origin_of(cfg.base_url);
    if (!u)
      return u.err();
    return std::shared_ptr<destination_client>{
        destinations::make_hubspot_client(io, cfg, *u)};
  }
  return protocols::error{"config", cfg.name, "unknown destination kind " + cfg.kind};
}

} // namespace gavel::adapters
