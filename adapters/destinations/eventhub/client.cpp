#include "adapters/destinations/eventhub/client.hpp"

#include "adapters/destinations/connection_pool.hpp"
#include "adapters/destinations/eventhub/format.hpp"
#include "protocols/crypto.hpp"
#include "protocols/event.hpp"

#include <mutex>

namespace gavel::adapters::destinations {

using protocols::failure_class;

namespace {

class eventhub_client final : public destination_client {
public:
  eventhub_client(io_runtime& io, const destination_config& cfg, const url& origin)
      : key_name_(cfg.sas_key_name), key_(cfg.sas_key), ttl_(cfg.sas_ttl),
        resource_(eventhub_resource_uri(cfg.endpoint, cfg.hub)),
        target_(base_path(origin.target) + "/" + cfg.hub +
                "/messages?timeout=60&api-version=2014-01"),
        max_records_(cfg.max_batch_events > 0 ? cfg.max_batch_events : 500),
        pool_(io, origin, cfg) {}
  ~eventhub_client() override { close(); }

  batch_limits limits() const override {
    // A little headroom below 1 MB for the array brackets and commas.
    return {max_records_, eventhub_max_batch_bytes - 64, false};
  }

  std::size_t size_of(const outbox_record& rec) const override {
    auto key = std::to_string(rec.auction_id);
    return eventhub_message_size(
               {*rec.envelope, key, rec.event_id, protocols::to_string(rec.type)}) +
           1;
  }

  void send(std::vector<outbox_record> batch,
            std::function<void(delivery_result)> done) override {
    std::vector<std::string> keys;
    keys.reserve(batch.size());
    for (const auto& r : batch)
      keys.push_back(std::to_string(r.auction_id));
    std::vector<eventhub_message> msgs;
    msgs.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i)
      msgs.push_back({*batch[i].envelope, keys[i], batch[i].event_id,
                      protocols::to_string(batch[i].type)});
    header_list headers{
        {"Authorization", token()},
        {"Content-Type", "application/vnd.microsoft.servicebus.json"},
    };
    pool_.request("POST", target_, std::move(headers), eventhub_batch_body(msgs),
                  [done = std::move(done)](http_result r) {
                    auto out = whole(r);
                    if (r.status != 0 && r.status != 201 &&
                        out.overall == failure_class::none)
                      out.error = "unexpected " + describe(r);
                    done(std::move(out));
                  });
  }

  void close() override { pool_.close(); }

private:
  /// A cached token, renewed when less than a tenth of its lifetime is left.
  std::string token() {
    std::lock_guard<std::mutex> guard{mu_};
    auto now = unix_seconds();
    auto ttl = std::max<std::int64_t>(60, ttl_.count() / 1000);
    if (token_.empty() || now >= expiry_ - ttl / 10) {
      expiry_ = now + ttl;
      token_ = protocols::sas_token(resource_, key_name_, key_, expiry_);
    }
    return token_;
  }

  std::string key_name_, key_;
  millis ttl_;
  std::string resource_, target_;
  std::size_t max_records_;
  connection_pool pool_;
  std::mutex mu_;
  std::string token_;
  std::int64_t expiry_ = 0;
};

} // namespace

std::shared_ptr<destination_client>
make_eventhub_client(io_runtime& io, const destination_config& cfg, const url& origin) {
  return std::make_shared<eventhub_client>(io, cfg, origin);
}

} // namespace gavel::adapters::destinations
