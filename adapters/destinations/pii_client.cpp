#include "adapters/destinations/pii_client.hpp"

#include "protocols/pii.hpp"

#include <deque>
#include <mutex>
#include <unordered_map>

namespace gavel::adapters {

namespace {

class pii_client final : public destination_client {
public:
  pii_client(std::shared_ptr<destination_client> inner, const destination_config& cfg)
      : inner_(std::move(inner)), fields_(cfg.pii_fields), hash_(cfg.pii == "hash"),
        key_(cfg.pii_key) {}

  batch_limits limits() const override { return inner_->limits(); }

  std::size_t size_of(const outbox_record& rec) const override {
    auto r = rewritten(rec);
    return r ? inner_->size_of(*r) : destination_client::size_of(rec);
  }

  std::string batch_key(const outbox_record& rec) const override {
    auto r = rewritten(rec);
    return r ? inner_->batch_key(*r) : std::string{};
  }

  std::chrono::milliseconds acquire(protocols::steady_time now) override {
    return inner_->acquire(now);
  }

  void send(std::vector<outbox_record> batch,
            std::function<void(delivery_result)> done) override {
    for (auto& rec : batch) {
      auto r = rewritten(rec);
      if (!r) {
        // Never sent as it is: the batch fails for good (dead letters),
        // which only an envelope that is not JSON can cause.
        delivery_result failed;
        failed.overall = protocols::failure_class::permanent;
        failed.error = "pii: cannot " + std::string{hash_ ? "hash" : "mask"} + " event " +
                       rec.event_id + ": " + r.err().message;
        return done(std::move(failed));
      }
      rec = std::move(*r);
    }
    inner_->send(std::move(batch), std::move(done));
  }

  void close() override { inner_->close(); }

private:
  /// The record with its envelope rewritten. The worker asks a record's size
  /// and key while it builds a request, then sends it: the rewrite of a
  /// position (whose stored envelope never changes) is kept for those calls
  /// and its retries, up to `memo_size` positions.
  expected<outbox_record> rewritten(const outbox_record& rec) const {
    if (!rec.envelope)
      return rec;
    auto out = rec;
    std::lock_guard lock{memo_mutex_};
    if (auto it = memo_.find(rec.position); it != memo_.end()) {
      out.envelope = it->second;
      return out;
    }
    auto text = hash_ ? protocols::pseudonymize_envelope(*rec.envelope, fields_, key_)
                      : protocols::mask_envelope(*rec.envelope, fields_);
    if (!text)
      return text.err();
    out.envelope = std::make_shared<const std::string>(std::move(*text));
    if (memo_order_.size() >= memo_size) {
      memo_.erase(memo_order_.front());
      memo_order_.pop_front();
    }
    memo_.emplace(rec.position, out.envelope);
    memo_order_.push_back(rec.position);
    return out;
  }

  static constexpr std::size_t memo_size = 4096;

  std::shared_ptr<destination_client> inner_;
  std::vector<std::string> fields_;
  bool hash_;
  std::string key_;
  mutable std::mutex memo_mutex_;
  mutable std::unordered_map<std::int64_t, std::shared_ptr<const std::string>> memo_;
  mutable std::deque<std::int64_t> memo_order_;
};

} // namespace

std::shared_ptr<destination_client> with_pii(std::shared_ptr<destination_client> inner,
                                             const destination_config& cfg) {
  if (cfg.pii == "clear" || cfg.pii.empty())
    return inner;
  return std::make_shared<pii_client>(std::move(inner), cfg);
}

} // namespace gavel::adapters
