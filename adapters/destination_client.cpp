#include "adapters/destination_client.hpp"

#include "protocols/crypto.hpp"
#include "protocols/destinations.hpp"

#include <atomic>
#include <charconv>
#include <mutex>
#include <unordered_map>

namespace gavel::adapters {

using protocols::failure_class;

std::size_t destination_client::size_of(const outbox_record& rec) const {
  return rec.envelope ? rec.envelope->size() : 0;
}

std::string destination_client::batch_key(const outbox_record&) const {
  return {};
}

std::chrono::milliseconds destination_client::acquire(protocols::steady_time) {
  return std::chrono::milliseconds{0};
}

namespace {

/// `concurrency` keep-alive connections to one origin; a request goes to an
/// idle connection when there is one (each connection sends one at a time).
class connection_pool {
public:
  connection_pool(io_runtime& io, const url& origin, const destination_config& cfg)
      : s_(std::make_shared<shared>()) {
    http_client_options opts;
    opts.ca_file = cfg.ca_file;
    opts.request_timeout = cfg.request_timeout;
    auto n = effective_concurrency(cfg);
    for (unsigned i = 0; i < n; ++i)
      s_->conns.push_back(http_connection::make(io, origin, opts));
    s_->busy = std::make_unique<std::atomic<int>[]>(n);
    for (unsigned i = 0; i < n; ++i)
      s_->busy[i] = 0;
  }

  void request(std::string method, std::string target, header_list headers,
               std::string body, std::function<void(http_result)> done) {
    auto n = s_->conns.size();
    std::size_t pick = s_->next++ % n;
    for (std::size_t k = 0; k < n; ++k) {
      auto i = (pick + k) % n;
      if (s_->busy[i].load() == 0) {
        pick = i;
        break;
      }
    }
    s_->busy[pick].fetch_add(1);
    // The callback keeps the pool's state alive: a client may be dropped (its
    // actor restarted) while requests are still in flight.
    s_->conns[pick]->async_request(std::move(method), std::move(target),
                                   std::move(headers), std::move(body),
                                   [s = s_, pick, done = std::move(done)](http_result r) {
                                     s->busy[pick].fetch_sub(1);
                                     done(std::move(r));
                                   });
  }

  void close() {
    for (auto& c : s_->conns)
      c->close();
  }

private:
  struct shared {
    std::vector<std::shared_ptr<http_connection>> conns;
    std::unique_ptr<std::atomic<int>[]> busy;
    std::atomic<std::size_t> next{0};
  };
  std::shared_ptr<shared> s_;
};

std::string describe(const http_result& r) {
  if (r.status == 0)
    return r.error.empty() ? std::string{"no response"} : r.error;
  return "HTTP " + std::to_string(r.status);
}

/// A result for a request that failed as a whole (or succeeded as a whole).
delivery_result whole(const http_result& r) {
  delivery_result out;
  out.status = r.status;
  out.overall = protocols::classify_status(r.status);
  if (out.overall != failure_class::none)
    out.error = describe(r);
  if (auto ra = protocols::parse_retry_after(find_header(r.headers, "Retry-After")))
    out.retry_after = *ra;
  out.rate_limited = r.status == 429;
  return out;
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// -- webhook -------------------------------------------------------------------

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

// -- Azure Event Hubs ----------------------------------------------------------

class eventhub_client final : public destination_client {
public:
  eventhub_client(io_runtime& io, const destination_config& cfg, const url& origin)
      : key_name_(cfg.sas_key_name), key_(cfg.sas_key), ttl_(cfg.sas_ttl),
        resource_(protocols::eventhub_resource_uri(cfg.endpoint, cfg.hub)),
        target_(base_path(origin.target) + "/" + cfg.hub +
                "/messages?timeout=60&api-version=2014-01"),
        max_records_(cfg.max_batch_events > 0 ? cfg.max_batch_events : 500),
        pool_(io, origin, cfg) {}
  ~eventhub_client() override { close(); }

  batch_limits limits() const override {
    // A little headroom below 1 MB for the array brackets and commas.
    return {max_records_, protocols::eventhub_max_batch_bytes - 64, false};
  }

  std::size_t size_of(const outbox_record& rec) const override {
    auto key = std::to_string(rec.auction_id);
    return protocols::eventhub_message_size(
               {*rec.envelope, key, rec.event_id, protocols::to_string(rec.type)}) +
           1;
  }

  void send(std::vector<outbox_record> batch,
            std::function<void(delivery_result)> done) override {
    std::vector<std::string> keys;
    keys.reserve(batch.size());
    for (const auto& r : batch)
      keys.push_back(std::to_string(r.auction_id));
    std::vector<protocols::eventhub_message> msgs;
    msgs.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i)
      msgs.push_back({*batch[i].envelope, keys[i], batch[i].event_id,
                      protocols::to_string(batch[i].type)});
    header_list headers{
        {"Authorization", token()},
        {"Content-Type", "application/vnd.microsoft.servicebus.json"},
    };
    pool_.request(
        "POST", target_, std::move(headers), protocols::eventhub_batch_body(msgs),
        [done = std::move(done)](http_result r) {
          auto out = whole(r);
          if (r.status != 0 && r.status != 201 && out.overall == failure_class::none)
            out.error = "unexpected " + describe(r);
          done(std::move(out));
        });
  }

  void close() override { pool_.close(); }

private:
  static std::string base_path(const std::string& target) {
    auto p = target.substr(0, target.find('?'));
    while (!p.empty() && p.back() == '/')
      p.pop_back();
    return p;
  }

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

// -- HubSpot -------------------------------------------------------------------

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
                                  protocols::hubspot_max_batch_inputs)),
        limiter_(std::make_shared<locked_window>(cfg.requests_per_10s)),
        pool_(io, origin, cfg) {
    if (cfg.properties.empty()) {
      mapping_ = protocols::default_hubspot_mapping();
    } else {
      for (const auto& p : cfg.properties) {
        auto eq = p.find('=');
        mapping_.emplace_back(p.substr(0, eq), p.substr(eq + 1));
      }
    }
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
    auto in = protocols::hubspot_input(*rec.envelope, mapping_, id_property_);
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
      auto in = protocols::hubspot_input(*batch[i].envelope, mapping_, id_property_);
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
        "POST", target_, std::move(headers), protocols::hubspot_batch_body(inputs),
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
          auto outcome = protocols::read_hubspot_response(r.body, id_property, ids);
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

  static std::string base_path(const std::string& target) {
    auto p = target.substr(0, target.find('?'));
    while (!p.empty() && p.back() == '/')
      p.pop_back();
    return p;
  }

  std::string bearer_, id_property_, target_;
  std::size_t max_records_;
  protocols::hubspot_mapping mapping_;
  bool per_event_id_ = false;
  std::shared_ptr<locked_window> limiter_;
  connection_pool pool_;
};

} // namespace

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
        std::make_shared<webhook_client>(io, cfg, *u)};
  }
  if (cfg.kind == "eventhub") {
    auto u = origin_of(cfg.endpoint);
    if (!u)
      return u.err();
    return std::shared_ptr<destination_client>{
        std::make_shared<eventhub_client>(io, cfg, *u)};
  }
  if (cfg.kind == "hubspot") {
    auto u = origin_of(cfg.base_url);
    if (!u)
      return u.err();
    return std::shared_ptr<destination_client>{
        std::make_shared<hubspot_client>(io, cfg, *u)};
  }
  return protocols::error{"config", cfg.name, "unknown destination kind " + cfg.kind};
}

} // namespace gavel::adapters
