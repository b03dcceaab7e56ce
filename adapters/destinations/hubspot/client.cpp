#include "adapters/destinations/hubspot/client.hpp"

#include "adapters/destinations/connection_pool.hpp"
#include "adapters/destinations/hubspot/format.hpp"

#include <charconv>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace gavel::adapters::destinations {

using protocols::failure_class;

namespace {

std::optional<std::size_t> header_number(const header_list& h, std::string_view name) {
  auto v = find_header(h, name);
  std::size_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (v.empty() || ec != std::errc{})
    return std::nullopt;
  return x;
}

class hubspot_client final : public destination_client {
public:
  hubspot_client(io_runtime& io, const destination_config& cfg, const url& origin)
      : bearer_("Bearer " + cfg.token), id_property_(cfg.id_property),
        target_(base_path(origin.target) + "/crm/v3/objects/" + cfg.object_type +
                "/batch/upsert"),
        max_records_(
            std::min<std::size_t>(cfg.max_batch_events > 0 ? cfg.max_batch_events : 100,
                                  hubspot_max_batch_inputs)),
        mapping_(hubspot_mapping_of(cfg.properties)),
        limiter_(std::make_shared<locked_window>(cfg.requests_per_10s)),
        pool_(io, origin, cfg) {
    // An id mapped from the event_id is unique per record: no two inputs of
    // a request can clash, and nothing needs parsing to tell.
    for (const auto& [name, path] : mapping_)
      if (name == id_property_)
        per_event_id_ = path == "metadata.event_id";
  }
  ~hubspot_client() override { close(); }

  batch_limits limits() const override {
    // Many events of one auction per request, in sequence order. Safe
    // whatever order HubSpot applies a batch's inputs in: with a per-event
    // id each input is its own object, and a shared id never appears twice
    // in one request (batch_key). A rejected input stops its auction; the
    // worker resends what followed it. ADR 0013.
    return {max_records_, 3 * 1024 * 1024, true, max_records_};
  }

  std::string batch_key(const outbox_record& rec) const override {
    if (per_event_id_ || !rec.envelope)
      return {};
    // An id property shared by several events (say, one CRM object per
    // auction): one input per object per request, as HubSpot demands.
    auto in = hubspot_input(*rec.envelope, mapping_, id_property_);
    if (!in)
      return {}; // fails on its own in send()
    return in->find("id")->text;
  }

  std::chrono::milliseconds acquire(protocols::steady_time now) override {
    std::lock_guard<std::mutex> guard{limiter_->mu};
    return limiter_->window.acquire(now);
  }

  void send(std::vector<outbox_record> batch,
            std::function<void(delivery_result)> done) override {
    // Records the mapping cannot express are permanent failures on their own;
    // the rest go out in one request.
    auto result = std::make_shared<delivery_result>();
    result->records.resize(batch.size());
    std::vector<protocols::json::value> inputs;
    std::vector<std::string> ids;
    std::vector<std::size_t> index; // input i is batch[index[i]]
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto in = hubspot_input(*batch[i].envelope, mapping_, id_property_);
      if (!in) {
        result->records[i] = {failure_class::permanent, "mapping: " + in.err().message,
                              0};
        continue;
      }
      ids.push_back(in->find("id")->text);
      index.push_back(i);
      inputs.push_back(std::move(*in));
    }
    if (inputs.empty()) {
      done(std::move(*result));
      return;
    }
    header_list headers{{"Authorization", bearer_}, {"Content-Type", "application/json"}};
    pool_.request(
        "POST", target_, std::move(headers), hubspot_batch_body(inputs),
        [result, ids = std::move(ids), index = std::move(index), limiter = limiter_,
         id_property = id_property_, done = std::move(done)](http_result r) mutable {
          {
            std::lock_guard<std::mutex> guard{limiter->mu};
            auto interval =
                header_number(r.headers, "X-HubSpot-RateLimit-Interval-Milliseconds");
            limiter->window.observe(
                header_number(r.headers, "X-HubSpot-RateLimit-Max"),
                header_number(r.headers, "X-HubSpot-RateLimit-Remaining"),
                interval
                    ? std::optional<millis>{millis{static_cast<std::int64_t>(*interval)}}
                    : std::nullopt,
                std::chrono::steady_clock::now());
            if (r.status == 429) {
              auto ra =
                  protocols::parse_retry_after(find_header(r.headers, "Retry-After"));
              limiter->window.pause_until(std::chrono::steady_clock::now() +
                                          ra.value_or(limiter->window.interval()));
            }
          }
          if (r.status != 200 && r.status != 201 && r.status != 207) {
            auto w = whole(r);
            if (w.overall == failure_class::none) // another 2xx: treat as unknown
              w.overall = failure_class::transient, w.error = "unexpected " + describe(r);
            if (!r.body.empty() && w.overall == failure_class::permanent)
              w.error += ": " + r.body.substr(0, 300);
            auto failed_mapping = std::move(result->records);
            *result = std::move(w);
            // Keep the mapping failures: they are this request's own verdicts.
            bool any = false;
            for (auto& x : failed_mapping)
              any = any || x.outcome != failure_class::none;
            if (any) {
              for (auto i : index)
                failed_mapping[i] = {result->overall, result->error, r.status};
              result->records = std::move(failed_mapping);
              result->overall = failure_class::none;
            }
            done(std::move(*result));
            return;
          }
          result->status = r.status;
          auto outcome = read_hubspot_response(r.body, id_property, ids);
          std::unordered_map<std::string_view, std::size_t> pos;
          for (std::size_t k = 0; k < ids.size(); ++k)
            pos.emplace(ids[k], index[k]);
          if (!outcome || r.status != 207) {
            // 200/201: the whole batch was written (an unreadable body of a
            // success changes nothing).
            done(std::move(*result));
            return;
          }
          std::vector<bool> seen(result->records.size(), false);
          for (const auto& id : outcome->succeeded)
            if (auto it = pos.find(id); it != pos.end())
              seen[it->second] = true;
          for (const auto& f : outcome->failed)
            if (auto it = pos.find(f.id); it != pos.end()) {
              auto cls = f.status ? protocols::classify_status(f.status)
                                  : failure_class::permanent;
              if (cls == failure_class::none)
                cls = failure_class::permanent;
              result->records[it->second] = {cls, "HubSpot: " + f.message, f.status};
              seen[it->second] = true;
            }
          // Neither confirmed nor rejected: send again (the upsert is idempotent).
          for (auto i : index)
            if (!seen[i])
              result->records[i] = {failure_class::transient,
                                    "HubSpot 207 without a verdict", r.status};
          done(std::move(*result));
        });
  }

  void close() override { pool_.close(); }

private:
  struct locked_window {
    explicit locked_window(std::size_t limit) : window(limit, millis{10000}) {}
    std::mutex mu;
    protocols::rate_window window;
  };

  std::string bearer_, id_property_, target_;
  std::size_t max_records_;
  hubspot_mapping mapping_;
  bool per_event_id_ = false;
  std::shared_ptr<locked_window> limiter_;
  connection_pool pool_;
};

} // namespace

std::shared_ptr<destination_client>
make_hubspot_client(io_runtime& io, const destination_config& cfg, const url& origin) {
  return std::make_shared<hubspot_client>(io, cfg, origin);
}

} // namespace gavel::adapters::destinations
