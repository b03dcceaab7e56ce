#include "adapters/destinations/webhook/client.hpp"

#include "adapters/destinations/connection_pool.hpp"
#include "protocols/crypto.hpp"

namespace gavel::adapters::destinations {

using protocols::failure_class;

namespace {

class webhook_client final : public destination_client {
public:
  webhook_client(io_runtime& io, const destination_config& cfg, const url& target)
      : secret_(cfg.secret), target_(target.target), pool_(io, target, cfg) {}
  ~webhook_client() override { close(); }

  batch_limits limits() const override { return {1, 64 * 1024 * 1024, false}; }

  void send(std::vector<outbox_record> batch,
            std::function<void(delivery_result)> done) override {
    const auto& rec = batch.front();
    auto ts = unix_seconds();
    auto sig = protocols::webhook_signature(secret_, rec.event_id, ts, *rec.envelope);
    if (!sig) {
      delivery_result r;
      r.overall = failure_class::permanent;
      r.error = "signing: " + sig.err().message;
      done(std::move(r));
      return;
    }
    header_list headers{
        {"Content-Type", "application/json"},
        {"webhook-id", rec.event_id},
        {"webhook-timestamp", std::to_string(ts)},
        {"webhook-signature", *sig},
    };
    pool_.request("POST", target_, std::move(headers), *rec.envelope,
                  [done = std::move(done)](http_result r) { done(whole(r)); });
  }

  void close() override { pool_.close(); }

private:
  std::string secret_;
  std::string target_;
  connection_pool pool_;
};

} // namespace

std::shared_ptr<destination_client>
make_webhook_client(io_runtime& io, const destination_config& cfg, const url& target) {
  return std::make_shared<webhook_client>(io, cfg, target);
}

} // namespace gavel::adapters::destinations
