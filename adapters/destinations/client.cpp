#include "adapters/destinations/client.hpp"

#include "adapters/destinations/eventhub/client.hpp"
#include "adapters/destinations/hubspot/client.hpp"
#include "adapters/destinations/pii_client.hpp"
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
  using factory = std::shared_ptr<destination_client> (*)(
      io_runtime&, const destination_config&, const url&);
  struct kind_client {
    std::string_view kind;
    std::string destination_config::*url; ///< the key naming where it sends
    factory make;
  };
  static constexpr kind_client clients[]{
      {"webhook", &destination_config::url, destinations::make_webhook_client},
      {"eventhub", &destination_config::endpoint, destinations::make_eventhub_client},
      {"hubspot", &destination_config::base_url, destinations::make_hubspot_client},
  };
  for (const auto& c : clients) {
    if (c.kind != cfg.kind)
      continue;
    auto u = parse_url(cfg.*c.url);
    if (!u)
      return protocols::error{"config", cfg.name, "bad URL: " + u.err().message};
    return with_pii(c.make(io, cfg, *u), cfg);
  }
  return protocols::error{"config", cfg.name, "unknown destination kind " + cfg.kind};
}

} // namespace gavel::adapters
