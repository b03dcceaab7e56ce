#pragma once

// The parts of the sender (send_workload, shared by `sim burst` and `sim
// replay`) that its files share; included only by sim/burst*.cpp:
//
// - burst_send.cpp: send_workload: the schedule, the closed- and open-loop
//   senders, the run and its end.
// - burst_channel.cpp: channel: one keep-alive connection, its requests and
//   retries, and the ack log of their answers.
// - burst_report.cpp: the progress line's receiver stats, the printed
//   summary and the JSON report.
// - burst.cpp: the `sim burst` command and the options both commands share.

#include "adapters/http/http.hpp"
#include "sim/common.hpp"
#include "sim/dispatch.hpp"
#include "sim/workload.hpp"

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace gavel::sim::sending {

struct counters {
  std::atomic<std::int64_t> sent{0};     ///< events sent at least once
  std::atomic<std::int64_t> requests{0}; ///< HTTP requests (attempts)
  std::atomic<std::int64_t> accepted{0};
  std::atomic<std::int64_t> duplicate{0};
  std::atomic<std::int64_t> rejected{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> retries{0}; ///< attempts repeated
  std::atomic<std::int64_t> errors{0};  ///< attempts without a definitive answer
  std::atomic<std::int64_t> dedup_mismatch{0};
  /// Attempts without any HTTP answer (client timeout, reset, refused).
  std::atomic<std::int64_t> no_answer{0};
  std::atomic<std::int64_t> id_mismatch{0};
  std::int64_t acked() const { return accepted.load() + duplicate.load(); }
};

struct auction_state {
  const auction_script* script = nullptr;
  std::size_t inflight = 0; ///< events in the request being built/sent
  std::vector<std::optional<std::int64_t>> seq; ///< acked bid_sequence per event
  std::vector<std::uint8_t> status; ///< 0 none, 1 accepted, 2 duplicate, 3 other
};

enum class pacing { closed_loop, constant_rate, time_profile };

const char* mode_name(pacing m);

struct shared_state {
  shared_state(const send_options& o, adapters::io_runtime& i, adapters::url u)
      : opts(o), io(i), origin(std::move(u)) {}
  const send_options& opts;
  adapters::io_runtime& io;
  adapters::url origin;
  pacing mode = pacing::closed_loop;
  adapters::header_list headers;
  std::string target;
  double mono_start = 0; ///< steady ms at start
  double wall_start = 0; ///< unix ms at start
  std::atomic<std::size_t> workers_left{0};
  counters stats;
  std::mutex log_mtx;
  std::string log_buf;
  std::atomic<int> error_reports{0};

  double to_wall(double mono) const { return wall_start + (mono - mono_start); }
  bool open_loop() const { return mode != pacing::closed_loop; }
};

/// One event of a request.
struct item {
  auction_state* a;
  std::uint32_t idx;
  double t_sent;      ///< unix ms: first send, or the scheduled time in open loop
  double t_first = 0; ///< unix ms: when it actually went out first
};

class channel;

/// Told when a channel's request got its definitive answer (every event of
/// it is recorded by then).
class channel_owner {
public:
  virtual ~channel_owner() = default;
  virtual void request_done(channel& c) = 0;
};

/// One keep-alive connection carrying one request at a time: sends it,
/// repeats it (same bytes) on transport errors, 408, 429 and 5xx, and records
/// the definitive answer of each of its events in the ack log.
class channel {
public:
  /// `guard`: when set, held while an answer is recorded and the owner is
  /// told (the open-loop sender shares auction state between channels).
  channel(shared_state& s, std::size_t index, channel_owner& owner, std::mutex* guard);

  std::size_t index() const { return index_; }
  /// The next request's events; fill, then start().
  std::vector<item>& batch() { return batch_; }
  void start();
  void close() { conn_->close(); }
  std::vector<double>& latencies() { return latencies_; }
  /// Per attempt on an established connection, from its own send: answered
  /// 503 (shed) and answered 2xx (admitted), to tell how fast Gavel says no
  /// from how fast it says yes.
  std::vector<double>& shed_latencies() { return shed_latencies_; }
  std::vector<double>& admitted_latencies() { return admitted_latencies_; }
  /// Moves the ack lines recorded so far to the shared log buffer.
  void flush_log();

private:
  static constexpr double backoff_initial_ms = 50;
  static constexpr double backoff_max_ms = 1000;

  void send();
  void on_result(adapters::http_result r);
  void finish_all(std::string_view status, int http, double now);
  /// Records the definitive answer for one event (`res` null: no readable
  /// answer).
  void finish(const item& it, const ingest_answer* res, int http, double t_ack);
  void report_error(const std::string& what, const adapters::http_result& r);

  shared_state& s_;
  channel_owner& owner_;
  std::mutex* guard_;
  std::size_t index_;
  std::shared_ptr<adapters::http_connection> conn_;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::vector<item> batch_;
  std::string body_;
  std::string log_;
  std::vector<ingest_answer> answers_;
  int attempts_ = 0;
  double first_failure_ = -1;
  double backoff_ = backoff_initial_ms;
  double attempt_start_ = 0;  ///< steady ms at the current attempt's send
  bool warm_ = false;         ///< the connection has answered before
  bool attempt_warm_ = false; ///< ...when the current attempt was sent
  std::vector<double> latencies_;
  std::vector<double> shed_latencies_;
  std::vector<double> admitted_latencies_;
};

/// Polls receivers' `GET /_sim/stats` for the progress line.
class stats_poller {
public:
  stats_poller(adapters::io_runtime& io, const std::vector<std::string>& urls,
               const std::string& ca_file);
  bool empty() const { return conns_.empty(); }
  /// Arrivals per receiver (-1 when it did not answer).
  std::vector<std::int64_t> poll();
  void close();

private:
  std::vector<std::string> targets_;
  std::vector<std::shared_ptr<adapters::http_connection>> conns_;
};

/// What the open-loop sender reports besides the common figures.
struct open_loop_figures {
  percentiles behind;          ///< first send − scheduled time, per event (ms)
  std::size_t connections = 0; ///< pool size at the end (opened or ready)
  std::size_t max_connections = 0;
  std::size_t grown = 0;      ///< connections opened beyond --connections
  std::size_t peak_busy = 0;  ///< most requests in flight at once
  std::size_t pool_waits = 0; ///< events due while all max connections were busy
  std::size_t held = 0;       ///< events held past their due time by a dependency
  double max_held_ms = 0;
};

/// Everything a finished run reports: the printed summary and the JSON report.
struct run_figures {
  std::size_t auctions = 0;
  std::size_t total = 0;  ///< events in the workload
  std::size_t unique = 0; ///< distinct events (not resends)
  double schedule_ms = 0; ///< open loop: the last event's due time
  double elapsed_ms = 0;
  bool interrupted = false;
  percentiles lat;      ///< ack latency per event
  percentiles shed;     ///< per attempt answered 503
  percentiles admitted; ///< per attempt answered 2xx
  open_loop_figures ol;
};

void write_summary(const send_options& opts, const shared_state& s, const run_figures& f,
                   std::ostream& os);
/// The summary as JSON, to `opts.report`.
void write_report(const send_options& opts, const shared_state& s, const run_figures& f);

} // namespace gavel::sim::sending
