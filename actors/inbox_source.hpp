#pragma once

#include "actors/api/gateway.hpp"
#include "actors/sources.hpp"
#include "adapters/inbox.hpp"
#include "protocols/event.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gavel::actors {

struct inbox_source_settings {
  std::string name; ///< the source's name (registry entry, metrics, logs)
  std::chrono::milliseconds poll_interval{1000};
  std::size_t batch = 500;
  protocols::validation_limits limits;
  /// How long to wait for the outbox commit of a batch before reading it
  /// again (rows not answered stay in the inbox; a re-read is deduplicated).
  std::chrono::milliseconds commit_timeout{30000};
  /// Pause after a failure (database unreachable, events refused for now).
  std::chrono::milliseconds backoff{1000};
  /// How often the depth and the oldest row's age are read for
  /// GET /v1/sources and the metrics.
  std::chrono::milliseconds depth_interval{1000};
  /// Apply the inbox DDL before the first read (the inbox is in Gavel's own
  /// database, which Gavel migrates itself).
  bool apply_schema = false;
};

/// One inbox source (DESIGN §1.7, ADR 0021): reads committed rows of the
/// platform's gavel_inbox in id order, validates each exactly as the HTTP
/// ingest does, submits the valid ones through a gateway and, once their
/// events are committed to the outbox (accepted or duplicate), removes the
/// rows; a row that fails validation, or is refused for good (a closed
/// auction, an event_id conflict), moves to gavel_inbox_rejected with the
/// reason. A refusal a retry cures (database down, overload) leaves the rows
/// for the next read. While its flag is off the inbox is not read at all.
///
/// Runs on a thread of its own (libpq and Connector/C block; never on the
/// actor scheduler's workers). A crash anywhere leaves at most rows whose
/// events are already committed; they are read again and deduplicated.
class inbox_source {
public:
  inbox_source(inbox_source_settings settings,
               std::unique_ptr<adapters::inbox_reader> reader,
               std::shared_ptr<source_registry> registry,
               std::vector<api::gateway_actor> gateways);
  ~inbox_source();
  inbox_source(const inbox_source&) = delete;
  inbox_source& operator=(const inbox_source&) = delete;

  void start();
  /// Stops taking rows and joins the thread (a batch in flight is finished
  /// or left to the next start).
  void stop();

private:
  void run();
  /// One read and its batch; false when there was nothing to do.
  bool step(source_registry::entry& e);
  /// Waits for rows (a NOTIFY, or poll_interval) or stop().
  void idle();
  void read_depth(source_registry::entry& e);
  /// Sleeps up to `d` or until stop().
  void pause(std::chrono::milliseconds d);

  inbox_source_settings settings_;
  std::unique_ptr<adapters::inbox_reader> reader_;
  std::shared_ptr<source_registry> registry_;
  std::vector<api::gateway_actor> gateways_;
  std::size_t next_gateway_ = 0;
  std::chrono::steady_clock::time_point last_depth_{};
  bool reported_failure_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

} // namespace gavel::actors
