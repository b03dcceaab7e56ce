#pragma once

#include "adapters/config/config.hpp"
#include "adapters/destinations/client.hpp"
#include "adapters/http/http.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

/// What the three destination clients share: a pool of keep-alive
/// connections to one origin and the reading of a whole-request answer.
namespace gavel::adapters::destinations {

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

/// "HTTP 503", or why no response arrived.
std::string describe(const http_result& r);

/// A result for a request that failed as a whole (or succeeded as a whole).
delivery_result whole(const http_result& r);

/// Seconds since the Unix epoch, now (webhook timestamps, SAS expiry).
std::int64_t unix_seconds();

/// A URL's path without its query and trailing slashes, for appending to.
std::string base_path(const std::string& target);

} // namespace gavel::adapters::destinations
