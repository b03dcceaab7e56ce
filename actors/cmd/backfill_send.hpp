#pragma once

#include "actors/cmd/backfill.hpp"
#include "adapters/http/http.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

/// How `gavel backfill` sends: batches per lane, the file's stored prefix
/// (the checkpoint it reports), the rate cap and the service's retries.
namespace gavel::actors {

/// One request's worth of a lane: the events' JSON array (without its `]`),
/// the file's records it covers (their indexes in file order), and the
/// records that are not events, by rejection code.
struct lane_batch {
  std::string body;
  std::size_t events = 0;
  std::vector<std::int64_t> records;
  std::map<std::string, std::int64_t> local;
};

/// `code:n,code:n` of a batch's local rejections (empty: none).
std::string local_rejected_param(const std::map<std::string, std::int64_t>& local);

/// The batches of one connection, in order; at most two wait, so reading
/// the file never runs far ahead of what is stored.
class batch_lane {
public:
  void push(lane_batch b);
  /// The next batch; nothing once closed and drained.
  std::optional<lane_batch> pop();
  void close();

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<lane_batch> q_;
  bool closed_ = false;
};

/// The file's prefix whose records are all stored (answered), while later
/// ones are answered out of order by several connections: the checkpoint a
/// request reports. Records are added in file order by the reader.
class stored_prefix {
public:
  struct point {
    std::int64_t offset = 0;
    std::int64_t records = 0;
  };
  stored_prefix(std::int64_t offset, std::int64_t records);
  /// A record read, ending at `end`; returns its index.
  std::int64_t add(std::int64_t end);
  /// These records are stored.
  void done(const std::vector<std::int64_t>& indexes);
  point now() const;

private:
  mutable std::mutex mtx_;
  std::deque<std::pair<std::int64_t, bool>> pending_; ///< (end, done) from base_
  std::int64_t base_ = 0;
  point stored_;
};

/// `--rate`: events per second over all connections (0: no cap).
class rate_limit {
public:
  explicit rate_limit(double per_second) : rate_(per_second) {}
  void wait(std::size_t events);

private:
  double rate_;
  std::mutex mtx_;
  std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::now();
};

/// The service, as the client talks to it: connections, and one POST with
/// the retries the service asks for (503) or a restart needs (the service
/// away for up to two minutes).
class service_client {
public:
  service_client(adapters::url origin, const backfill_options& o);
  std::shared_ptr<adapters::http_connection> connect();
  adapters::http_result post(adapters::http_connection& conn, const std::string& target,
                             const std::string& body);
  /// Why an answer ends the run, for the user.
  std::string refused(const adapters::http_result& r) const;

private:
  adapters::url origin_;
  std::string prefix_, url_;
  adapters::header_list headers_;
  adapters::http_client_options options_;
  adapters::io_runtime io_{2};
};

/// `data.auction_id` of an ingest event's JSON, when it is a positive integer.
std::optional<std::int64_t> auction_of(const std::string& event);

} // namespace gavel::actors
