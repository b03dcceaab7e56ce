// `sim burst`: sends an auction-close workload to Gavel's ingest API and logs
// every definitive answer. The sender (send_workload) is shared with
// `sim replay`.

#include "adapters/http/http.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/dispatch.hpp"
#include "sim/workload.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

namespace gavel::sim {

namespace {

using adapters::http_result;
using nlohmann::json;

constexpr double backoff_initial_ms = 50;
constexpr double backoff_max_ms = 1000;

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

std::optional<double> retry_after_ms(const http_result& r) {
  auto v = adapters::find_header(r.headers, "retry-after");
  if (v.empty())
    return std::nullopt;
  double secs = 0;
  auto res = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (res.ec != std::errc{} || secs < 0)
    return std::nullopt; // HTTP-date form: fall back to our own backoff
  return secs * 1000;
}

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
  channel(shared_state& s, std::size_t index, channel_owner& owner, std::mutex* guard)
      : s_(s), owner_(owner), guard_(guard), index_(index), timer_(s.io.context()),
        rng_(mix64(s.opts.seed ^ (0xabcdefULL + index))) {
    adapters::http_client_options opts;
    opts.request_timeout = std::chrono::milliseconds(s.opts.request_timeout_ms);
    conn_ = adapters::http_connection::make(s.io, s.origin, opts);
  }

  std::size_t index() const { return index_; }
  /// The next request's events; fill, then start().
  std::vector<item>& batch() { return batch_; }
  void start() {
    body_.clear();
    if (s_.opts.batch > 1) {
      body_.push_back('[');
      for (std::size_t i = 0; i < batch_.size(); ++i) {
        if (i)
          body_.push_back(',');
        body_ += batch_[i].a->script->events[batch_[i].idx].body;
      }
      body_.push_back(']');
    }
    attempts_ = 0;
    first_failure_ = -1;
    backoff_ = backoff_initial_ms;
    send();
  }
  void close() { conn_->close(); }
  std::vector<double>& latencies() { return latencies_; }
  /// Per attempt on an established connection, from its own send: answered
  /// 503 (shed) and answered 2xx (admitted), to tell how fast Gavel says no
  /// from how fast it says yes.
  std::vector<double>& shed_latencies() { return shed_latencies_; }
  std::vector<double>& admitted_latencies() { return admitted_latencies_; }
  /// Moves the ack lines recorded so far to the shared log buffer.
  void flush_log() {
    if (log_.empty())
      return;
    std::lock_guard<std::mutex> guard(s_.log_mtx);
    s_.log_buf += log_;
    log_.clear();
  }

private:
  void send() {
    if (attempts_++ == 0) {
      s_.stats.sent.fetch_add(static_cast<std::int64_t>(batch_.size()),
                              std::memory_order_relaxed);
      const double now = now_unix_ms();
      for (auto& it : batch_) {
        it.t_first = now;
        if (!s_.open_loop())
          it.t_sent = now;
      }
    } else {
      s_.stats.retries.fetch_add(1, std::memory_order_relaxed);
    }
    s_.stats.requests.fetch_add(1, std::memory_order_relaxed);
    attempt_start_ = now_mono_ms();
    attempt_warm_ = warm_;
    const std::string& body =
        s_.opts.batch > 1 ? body_ : batch_[0].a->script->events[batch_[0].idx].body;
    conn_->async_request("POST", s_.target, s_.headers, body,
                         [this](http_result r) { on_result(std::move(r)); });
  }

  static bool retryable(int status) {
    return status == 0 || status == 429 || status == 408 || status >= 500;
  }

  void on_result(http_result r) {
    const double took = now_mono_ms() - attempt_start_;
    // Only attempts on a connection that had answered before: a first
    // attempt also waits for the TCP connect (and, with 2,000 connections
    // opening at once, for the accept queue), which is not Gavel's answer time.
    if (attempt_warm_ && r.status == 503)
      shed_latencies_.push_back(took);
    else if (attempt_warm_ && r.status >= 200 && r.status < 300)
      admitted_latencies_.push_back(took);
    if (r.status == 0)
      s_.stats.no_answer.fetch_add(1, std::memory_order_relaxed);
    else
      warm_ = true;
    if (retryable(r.status)) {
      s_.stats.errors.fetch_add(1, std::memory_order_relaxed);
      const double now = now_mono_ms();
      if (first_failure_ < 0)
        first_failure_ = now;
      const double remaining =
          static_cast<double>(s_.opts.retry_for_ms) - (now - first_failure_);
      if (remaining > 0) {
        double delay = backoff_ * std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
        if (auto ra = retry_after_ms(r))
          delay = std::max(delay, *ra);
        backoff_ = std::min(backoff_ * 2, backoff_max_ms);
        delay = std::min(delay, remaining);
        timer_.expires_after(
            std::chrono::microseconds(static_cast<std::int64_t>(delay * 1000)));
        timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec)
            send();
        });
        return;
      }
    }
    std::unique_lock<std::mutex> lock;
    if (guard_)
      lock = std::unique_lock<std::mutex>(*guard_);
    const double now = now_unix_ms();
    if (retryable(r.status)) {
      report_error("giving up after " + std::to_string(attempts_) + " attempts", r);
      finish_all("failed", r.status, now);
    } else if (r.status >= 200 && r.status < 300) {
      if (s_.opts.batch > 1) {
        const bool ok = read_ingest_results(r.body, answers_);
        if (!ok || answers_.size() != batch_.size())
          report_error("batch response without one result per item", r);
        for (std::size_t i = 0; i < batch_.size(); ++i)
          if (ok && i < answers_.size())
            finish(batch_[i], &answers_[i], r.status, now);
          else
            finish(batch_[i], nullptr, r.status, now);
      } else {
        ingest_answer ans;
        const bool ok = read_ingest_answer(r.body, ans);
        finish(batch_[0], ok ? &ans : nullptr, r.status, now);
      }
    } else {
      // A definitive rejection of the whole request (4xx other than 408/429).
      report_error("rejected", r);
      finish_all("rejected", r.status, now);
    }
    if (!guard_)
      flush_log(); // closed loop: per request; open loop: the owner batches it
    owner_.request_done(*this);
  }

  void finish_all(std::string_view status, int http, double now) {
    ingest_answer ans;
    ans.status = status;
    for (auto& it : batch_)
      finish(it, &ans, http, now);
  }

  /// Records the definitive answer for one event (`res` null: no readable
  /// answer).
  void finish(const item& it, const ingest_answer* res, int http, double t_ack) {
    auto* a = it.a;
    const auto& ev = a->script->events[it.idx];
    std::string_view status = "failed";
    std::optional<std::int64_t> seq;
    if (res) {
      if (!res->status.empty())
        status = res->status;
      seq = res->bid_sequence;
      if (!res->event_id.empty() && res->event_id != ev.event_id &&
          s_.stats.id_mismatch.fetch_add(1) < 5)
        std::cerr << s_.opts.label << ": " << ev.event_id << " answered with event_id "
                  << res->event_id << "\n";
    } else if (http >= 200 && http < 300) {
      report_error("unparsable ack", {});
    }
    std::uint8_t code = 3;
    if (status == "accepted") {
      s_.stats.accepted.fetch_add(1, std::memory_order_relaxed);
      code = 1;
    } else if (status == "duplicate") {
      s_.stats.duplicate.fetch_add(1, std::memory_order_relaxed);
      code = 2;
    } else if (status == "rejected") {
      s_.stats.rejected.fetch_add(1, std::memory_order_relaxed);
      if (res && !res->error.empty() && s_.error_reports++ < 5)
        std::cerr << s_.opts.label << ": " << ev.event_id << " rejected: " << res->error
                  << "\n";
    } else {
      status = "failed";
      s_.stats.failed.fetch_add(1, std::memory_order_relaxed);
    }
    a->status[it.idx] = code;
    a->seq[it.idx] = seq;
    if (code == 1 || code == 2) {
      latencies_.push_back(std::max(0.0, t_ack - it.t_sent));
      // A resend must be a duplicate carrying the original's sequence number.
      if (ev.resend_of >= 0) {
        auto orig = static_cast<std::size_t>(ev.resend_of);
        bool orig_acked = a->status[orig] == 1 || a->status[orig] == 2;
        if (orig_acked && (code != 2 || (seq && a->seq[orig] && *seq != *a->seq[orig]))) {
          if (s_.stats.dedup_mismatch.fetch_add(1) < 5)
            std::cerr << s_.opts.label << ": resend of " << ev.event_id << " answered "
                      << status << " seq " << (seq ? std::to_string(*seq) : "null")
                      << "\n";
        }
      }
    }

    auto& out = log_;
    out += "{\"event_id\":";
    append_json_string(ev.event_id, out);
    out += ",\"event_type\":\"";
    out += event_type_name(ev.kind);
    out += "\",\"auction_id\":";
    append_int(a->script->auction_id, out);
    out += ",\"status\":\"";
    out += status;
    out += "\",\"http\":";
    append_int(http, out);
    out += ",\"bid_sequence\":";
    if (seq)
      append_int(*seq, out);
    else
      out += "null";
    out += ",\"t_sent_ms\":";
    append_fixed(it.t_sent, 3, out);
    out += ",\"t_ack_ms\":";
    append_fixed(t_ack, 3, out);
    out += ",\"t_first_send_ms\":";
    append_fixed(it.t_first, 3, out);
    out += "}\n";
  }

  void report_error(const std::string& what, const http_result& r) {
    if (s_.error_reports.fetch_add(1) >= 10)
      return;
    std::string body = r.body.substr(0, 300);
    std::cerr << s_.opts.label << ": " << what << " (http " << r.status
              << (r.error.empty() ? "" : ", " + r.error) << ")"
              << (body.empty() ? "" : ": " + body) << "\n";
  }

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

/// Closed loop: one channel working through its auctions' events in
/// send-time order, one request at a time, as fast as the answers come (so
/// each auction's events go in script order, and its close only after its
/// earlier events were answered).
class closed_loop_worker final : public channel_owner {
public:
  closed_loop_worker(shared_state& s, std::size_t index)
      : s_(s), channel_(s, index, *this, nullptr) {}

  /// The worker's events, in send-time order.
  std::vector<std::pair<auction_state*, std::uint32_t>>& queue() { return queue_; }
  void start() {
    boost::asio::post(s_.io.context(), [this] { next(); });
  }
  channel& chan() { return channel_; }
  void request_done(channel&) override {
    for (const auto& it : channel_.batch())
      --it.a->inflight;
    next();
  }

private:
  /// Takes the next request's events, up to --batch; never an auction's
  /// close together with its own earlier events.
  void next() {
    auto& batch = channel_.batch();
    batch.clear();
    const std::size_t limit = std::max<std::size_t>(1, s_.opts.batch);
    while (batch.size() < limit && head_ < queue_.size()) {
      auto [a, idx] = queue_[head_];
      if (a->script->events[idx].kind == event_kind::closed && a->inflight > 0)
        break;
      batch.push_back({a, idx, 0});
      ++a->inflight;
      ++head_;
    }
    if (batch.empty()) {
      s_.workers_left.fetch_sub(1);
      return;
    }
    channel_.start();
  }

  shared_state& s_;
  channel channel_;
  std::vector<std::pair<auction_state*, std::uint32_t>> queue_;
  std::size_t head_ = 0;
};

/// Open loop: one shared schedule (dispatcher) and a pool of keep-alive
/// connections. An event leaves at its due time on any idle connection
/// (with the other events already due, up to --batch); when every
/// connection is busy the pool grows, up to --max-connections. Everything
/// runs under one lock (answers may arrive on several I/O threads).
class open_loop_sender final : public channel_owner {
public:
  open_loop_sender(shared_state& s, std::vector<auction_state>& auctions,
                   const std::vector<auction_script>& scripts,
                   std::vector<schedule_entry> schedule, std::size_t max_connections)
      : s_(s), auctions_(auctions), dispatch_(scripts, std::move(schedule)),
        pool_(s.opts.connections, max_connections), timer_(s.io.context()) {}

  void start() {
    boost::asio::post(s_.io.context(), [this] {
      std::lock_guard<std::mutex> lock(mtx_);
      pump();
    });
  }

  void request_done(channel& c) override {
    // Called with mtx_ held (channel guard).
    const double now = offset_now();
    for (const auto& it : c.batch())
      dispatch_.answered(static_cast<std::uint32_t>(it.a - auctions_.data()), it.idx,
                         now);
    c.flush_log();
    pool_.release(c.index());
    pump();
  }

  /// For the progress line: events due and not sent yet, and how late the
  /// oldest of them is (ms).
  std::pair<std::size_t, double> backlog() {
    std::lock_guard<std::mutex> lock(mtx_);
    const double now = offset_now();
    const double oldest = dispatch_.oldest_backlog_due(now);
    return {dispatch_.backlog(now), std::isfinite(oldest) ? now - oldest : 0.0};
  }

  /// Closes every connection (before the I/O threads stop).
  void close_all() {
    std::lock_guard<std::mutex> lock(mtx_);
    for (auto& c : channels_)
      c->close();
  }

  /// After the I/O threads stopped: nothing else touches the sender.
  std::vector<std::unique_ptr<channel>>& channels() { return channels_; }
  const connection_pool& pool() const { return pool_; }
  const dispatcher& schedule() const { return dispatch_; }
  std::vector<double>& behind() { return behind_; }
  /// Events that were due while every connection, at the cap, was busy
  /// (they waited for one).
  std::size_t pool_waits() const { return pool_waits_; }

private:
  double offset_now() const { return now_mono_ms() - s_.mono_start; }

  /// Sends whatever is ready on idle connections, then sleeps until the
  /// next event is due (an answer pumps again: it frees a connection and
  /// may free held events).
  void pump() {
    if (finished_)
      return;
    const double now = offset_now();
    // 50 µs early is on time: cheaper than another timer round trip.
    while (dispatch_.poll(now + 0.05)) {
      auto i = pool_.acquire();
      if (!i) {
        starved_at_ = now; // what is ready now waits for a connection
        break;
      }
      if (*i == channels_.size())
        channels_.push_back(std::make_unique<channel>(s_, *i, *this, &mtx_));
      channel& c = *channels_[*i];
      taken_.clear();
      dispatch_.take(std::max<std::size_t>(1, s_.opts.batch), taken_);
      auto& batch = c.batch();
      batch.clear();
      for (const auto& e : taken_) {
        batch.push_back(
            {&auctions_[e.auction], e.event, s_.to_wall(s_.mono_start + e.due)});
        behind_.push_back(std::max(0.0, now - e.due));
        pool_waits_ += e.due <= starved_at_;
      }
      c.start();
    }
    if (dispatch_.finished()) {
      finished_ = true;
      timer_.cancel();
      s_.workers_left.fetch_sub(1);
      return;
    }
    const double next = dispatch_.next_due();
    if (std::isfinite(next) && next < armed_for_) {
      armed_for_ = next;
      timer_.expires_after(std::chrono::microseconds(
          static_cast<std::int64_t>(std::max(0.0, next - now) * 1000)));
      timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec)
          return; // re-armed earlier, or cancelled at the end
        std::lock_guard<std::mutex> lock(mtx_);
        armed_for_ = std::numeric_limits<double>::infinity();
        pump();
      });
    }
  }

  shared_state& s_;
  std::vector<auction_state>& auctions_;
  std::mutex mtx_;
  dispatcher dispatch_;
  connection_pool pool_;
  std::vector<std::unique_ptr<channel>> channels_;
  boost::asio::steady_timer timer_;
  double armed_for_ = std::numeric_limits<double>::infinity();
  std::vector<schedule_entry> taken_;
  std::vector<double> behind_; ///< first send − due, per event (ms)
  double starved_at_ = -std::numeric_limits<double>::infinity();
  std::size_t pool_waits_ = 0;
  bool finished_ = false;
};

/// Polls receivers' `GET /_sim/stats` for the progress line.
class stats_poller {
public:
  stats_poller(adapters::io_runtime& io, const std::vector<std::string>& urls) {
    for (const auto& u : urls) {
      auto parsed = adapters::parse_url(u);
      if (!parsed) {
        std::cerr << "ignoring bad --receiver-stats URL " << u << "\n";
        continue;
      }
      adapters::http_client_options o;
      o.connect_timeout = std::chrono::milliseconds(500);
      o.request_timeout = std::chrono::milliseconds(800);
      targets_.push_back(parsed->target);
      conns_.push_back(adapters::http_connection::make(io, *parsed, o));
    }
  }
  bool empty() const { return conns_.empty(); }
  /// Arrivals per receiver (-1 when it did not answer).
  std::vector<std::int64_t> poll() {
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      auto r = conns_[i]->request("GET", targets_[i]);
      std::int64_t n = -1;
      if (r.ok()) {
        auto j = json::parse(r.body, nullptr, false);
        for (const char* key : {"arrivals", "delivered", "received"})
          if (j.is_object() && j.contains(key) && j[key].is_number_integer()) {
            n = j[key].get<std::int64_t>();
            break;
          }
      }
      out.push_back(n);
    }
    return out;
  }
  void close() {
    for (auto& c : conns_)
      c->close();
  }

private:
  std::vector<std::string> targets_;
  std::vector<std::shared_ptr<adapters::http_connection>> conns_;
};

const char* mode_name(pacing m) {
  switch (m) {
  case pacing::closed_loop:
    return "closed_loop";
  case pacing::constant_rate:
    return "constant_rate";
  case pacing::time_profile:
    return "time_profile";
  }
  return "?";
}

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

void write_summary(const send_options& opts, const shared_state& s, std::size_t unique,
                   std::size_t total, double elapsed_ms, const percentiles& lat,
                   const percentiles& shed, const percentiles& admitted,
                   const open_loop_figures& ol, bool interrupted, std::ostream& os) {
  const auto& c = s.stats;
  const double secs = elapsed_ms / 1000;
  const double throughput = secs > 0 ? static_cast<double>(c.acked()) / secs : 0;
  std::string t;
  auto fmt = [&](double v, int d) {
    t.clear();
    append_fixed(v, d, t);
    return t;
  };
  std::string pace = "closed loop";
  if (s.mode == pacing::constant_rate)
    pace = "open loop at " + fmt(opts.rate, 0) + " events/s";
  else if (s.mode == pacing::time_profile)
    pace = "open loop on the time profile, time scale " + fmt(opts.time_scale, 2);
  os << opts.label << " summary" << (interrupted ? " (INTERRUPTED)" : "") << "\n"
     << "  target        " << opts.target << " (" << opts.connections
     << (s.open_loop() ? " connections, up to " + std::to_string(ol.max_connections)
                       : std::string(" connections"))
     << ", batch " << opts.batch << ", " << pace << ")\n"
     << "  workload      " << total << " events (" << unique << " distinct, "
     << (total - unique) << " resends)"
     << (opts.workload_text.empty() ? "" : ", " + opts.workload_text) << "\n"
     << "  sent          " << c.sent.load() << " events in " << c.requests.load()
     << " requests (" << c.retries.load() << " retries, " << c.errors.load()
     << " errors)\n"
     << "  acked         " << c.acked() << " (accepted " << c.accepted.load()
     << ", duplicate " << c.duplicate.load() << ")\n"
     << "  rejected      " << c.rejected.load() << "\n"
     << "  failed        " << c.failed.load() << "\n";
  if (c.dedup_mismatch.load() || c.id_mismatch.load())
    os << "  mismatches    " << c.dedup_mismatch.load()
       << " resends not answered as duplicate "
       << "of the original, " << c.id_mismatch.load() << " unexpected event_ids\n";
  os << "  elapsed       " << fmt(secs, 2) << " s\n"
     << "  throughput    " << fmt(throughput, 0) << " events/s acked\n"
     << "  ack latency   p50=" << fmt(lat.p50, 2) << " ms p95=" << fmt(lat.p95, 2)
     << " ms p99=" << fmt(lat.p99, 2) << " ms p99.9=" << fmt(lat.p999, 2)
     << " ms max=" << fmt(lat.max, 2) << " ms\n";
  // Per attempt: a shed (503) answer should come at once, an admitted one
  // near the unloaded latency (ADR 0014).
  os << "  attempts      shed 503 n=" << shed.count << " p50=" << fmt(shed.p50, 2)
     << " ms p99=" << fmt(shed.p99, 2) << " ms max=" << fmt(shed.max, 2)
     << " ms; admitted 2xx n=" << admitted.count << " p50=" << fmt(admitted.p50, 2)
     << " ms p99=" << fmt(admitted.p99, 2) << " ms max=" << fmt(admitted.max, 2)
     << " ms; no answer " << c.no_answer.load() << "\n";
  if (s.open_loop()) {
    os << "  behind        at most " << fmt(ol.behind.max, 1)
       << " ms behind schedule at a first send (p50=" << fmt(ol.behind.p50, 2)
       << " ms p99=" << fmt(ol.behind.p99, 2) << " ms)\n"
       << "  connections   " << ol.connections << " (" << ol.grown << " opened beyond "
       << opts.connections << ", cap " << ol.max_connections << "), at most "
       << ol.peak_busy << " busy at once; " << ol.pool_waits
       << " events waited for one (all busy at the cap)\n"
       << "  held          " << ol.held
       << " events waited past their schedule for an earlier answer (longest "
       << fmt(ol.max_held_ms, 1) << " ms)\n";
  }
  os << std::flush;
}

json percentiles_object(const percentiles& p) {
  return json{{"p50", p.p50},   {"p95", p.p95}, {"p99", p.p99},
              {"p999", p.p999}, {"max", p.max}, {"count", p.count}};
}

} // namespace

int send_workload(const std::vector<auction_script>& scripts, const send_options& opts) {
  auto origin = adapters::parse_url(opts.target);
  if (!origin) {
    std::cerr << opts.label << ": bad --target: " << origin.err().message << "\n";
    return 2;
  }
  if (opts.connections == 0 || opts.batch == 0 || opts.batch > 1000) {
    std::cerr << opts.label
              << ": --connections must be >= 1 and --batch within 1..1000\n";
    return 2;
  }
  if (opts.max_connections != 0 && opts.max_connections < opts.connections) {
    std::cerr << opts.label << ": --max-connections must be >= --connections\n";
    return 2;
  }
  if (opts.rate > 0 && opts.time_scale > 0) {
    std::cerr << opts.label << ": choose one of --rate and --time-scale\n";
    return 2;
  }
  std::FILE* acks = std::fopen(opts.acks.c_str(), "wb");
  if (!acks) {
    std::cerr << opts.label << ": cannot open " << opts.acks << "\n";
    return 2;
  }

  std::size_t total = 0, unique = 0;
  std::vector<auction_state> auctions(scripts.size());
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    auctions[i].script = &scripts[i];
    auctions[i].seq.resize(scripts[i].events.size());
    auctions[i].status.resize(scripts[i].events.size());
    total += scripts[i].events.size();
    for (const auto& ev : scripts[i].events)
      unique += ev.resend_of < 0;
  }

  // The schedule: every event's due time (ms after the start), in send-time
  // order across all auctions.
  pacing mode = opts.rate > 0         ? pacing::constant_rate
                : opts.time_scale > 0 ? pacing::time_profile
                                      : pacing::closed_loop;
  std::vector<schedule_entry> order;
  order.reserve(total);
  std::int64_t t0 = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < scripts.size(); ++i)
    for (std::size_t e = 0; e < scripts[i].events.size(); ++e) {
      order.push_back({0, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(e)});
      t0 = std::min(t0, scripts[i].events[e].t_ms);
    }
  auto t_of = [&](const schedule_entry& r) {
    return scripts[r.auction].events[r.event].t_ms;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](const schedule_entry& x, const schedule_entry& y) {
                     return t_of(x) < t_of(y);
                   });
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (mode == pacing::constant_rate)
      order[k].due = static_cast<double>(k) * 1000.0 / opts.rate;
    else if (mode == pacing::time_profile)
      order[k].due = static_cast<double>(t_of(order[k]) - t0) / opts.time_scale;
  }
  const double schedule_ms = order.empty() ? 0.0 : order.back().due;
  const std::size_t max_connections =
      opts.max_connections ? opts.max_connections : 4 * opts.connections;

  block_termination_signals();
  bool interrupted = false;
  double elapsed_ms = 0;
  std::vector<double> latencies, shed_lat, admitted_lat;
  int code = 0;
  {
    adapters::io_runtime io(std::max(1u, opts.threads));
    shared_state s(opts, io, *origin);
    s.mode = mode;
    s.target =
        origin->target.empty() || origin->target == "/" ? "/v1/events" : origin->target;
    s.headers = {{"Authorization", "Bearer " + opts.token},
                 {"Content-Type", "application/json"}};

    // Closed loop: auction i belongs to worker i % n, whose queue stays in
    // send-time order (stable, so script order within an auction). Open
    // loop: one shared schedule and a pool of connections.
    std::vector<std::unique_ptr<closed_loop_worker>> workers;
    std::unique_ptr<open_loop_sender> sender;
    if (s.open_loop()) {
      sender = std::make_unique<open_loop_sender>(s, auctions, scripts, std::move(order),
                                                  max_connections);
      s.workers_left = 1;
    } else {
      const auto n =
          std::min(opts.connections, std::max<std::size_t>(1, auctions.size()));
      for (std::size_t w = 0; w < n; ++w)
        workers.push_back(std::make_unique<closed_loop_worker>(s, w));
      for (const auto& r : order)
        workers[r.auction % n]->queue().emplace_back(&auctions[r.auction], r.event);
      s.workers_left = workers.size();
    }
    stats_poller poller(io, opts.receiver_stats);

    s.mono_start = now_mono_ms();
    s.wall_start = now_unix_ms();
    if (sender)
      sender->start();
    for (auto& w : workers)
      w->start();

    std::string out;
    double last_tick = s.mono_start;
    std::int64_t last_acked = 0;
    while (s.workers_left.load() > 0) {
      if (wait_termination_signal(std::chrono::milliseconds(100))) {
        interrupted = true;
        break;
      }
      {
        std::lock_guard<std::mutex> guard(s.log_mtx);
        out.swap(s.log_buf);
      }
      if (!out.empty()) {
        std::fwrite(out.data(), 1, out.size(), acks);
        std::fflush(acks);
        out.clear();
      }
      const double now = now_mono_ms();
      if (now - last_tick >= 1000 && !opts.quiet) {
        // t, acked rate over the last second, sent, acked, delivered (per
        // receiver), undelivered (acked - delivered) and how far the sender
        // is behind its schedule (open loop: events due but not yet sent).
        const auto acked = s.stats.acked();
        const auto sent = s.stats.sent.load();
        const double rate =
            static_cast<double>(acked - last_acked) * 1000.0 / (now - last_tick);
        std::string line = "t=";
        append_int(static_cast<std::int64_t>(std::llround((now - s.mono_start) / 1000)),
                   line);
        line += "s rate=";
        append_fixed(rate, 0, line);
        line += "/s sent=";
        append_int(sent, line);
        line += " acked=";
        append_int(acked, line);
        if (!poller.empty()) {
          auto got = poller.poll();
          line += " delivered=";
          for (std::size_t i = 0; i < got.size(); ++i) {
            if (i)
              line += '/';
            if (got[i] < 0)
              line += '?';
            else
              append_int(got[i], line);
          }
          if (!got.empty() && got[0] >= 0) {
            line += " undelivered=";
            append_int(std::max<std::int64_t>(0, acked - got[0]), line);
          }
        }
        if (sender) {
          auto [backlog, behind] = sender->backlog();
          line += " backlog=";
          append_int(static_cast<std::int64_t>(backlog), line);
          line += " behind=";
          append_fixed(std::max(0.0, behind), 0, line);
          line += "ms";
        }
        line += " retries=";
        append_int(s.stats.retries.load(), line);
        line += " failed=";
        append_int(s.stats.failed.load() + s.stats.rejected.load(), line);
        line += '\n';
        std::fputs(line.c_str(), stderr);
        last_tick = now;
        last_acked = acked;
      }
    }
    elapsed_ms = now_mono_ms() - s.mono_start;
    // Close the connections on their io threads' terms, then join: nothing
    // touches the workers or the sender after io.stop().
    for (auto& w : workers)
      w->chan().close();
    if (sender)
      sender->close_all();
    poller.close();
    io.stop();
    std::vector<channel*> channels;
    for (auto& w : workers)
      channels.push_back(&w->chan());
    open_loop_figures ol;
    if (sender) {
      for (auto& c : sender->channels())
        channels.push_back(c.get());
      ol.behind = compute_percentiles(sender->behind());
      ol.connections = sender->pool().size();
      ol.max_connections = sender->pool().max();
      ol.grown = sender->pool().grown();
      ol.peak_busy = sender->pool().peak_busy();
      ol.pool_waits = sender->pool_waits();
      ol.held = sender->schedule().held();
      ol.max_held_ms = sender->schedule().max_held_ms();
    }
    for (auto* c : channels) {
      c->flush_log();
      latencies.insert(latencies.end(), c->latencies().begin(), c->latencies().end());
      shed_lat.insert(shed_lat.end(), c->shed_latencies().begin(),
                      c->shed_latencies().end());
      admitted_lat.insert(admitted_lat.end(), c->admitted_latencies().begin(),
                          c->admitted_latencies().end());
    }
    std::fwrite(s.log_buf.data(), 1, s.log_buf.size(), acks);
    auto lat = compute_percentiles(latencies);
    auto shed = compute_percentiles(shed_lat);
    auto admitted = compute_percentiles(admitted_lat);
    write_summary(opts, s, unique, total, elapsed_ms, lat, shed, admitted, ol,
                  interrupted, std::cout);

    if (!opts.report.empty()) {
      const auto& c = s.stats;
      json j{{"target", opts.target},
             {"workload", opts.workload_text},
             {"auctions", scripts.size()},
             {"events", total},
             {"distinct_events", unique},
             {"connections", opts.connections},
             {"batch", opts.batch},
             {"mode", mode_name(mode)},
             {"rate", opts.rate},
             {"time_scale", opts.time_scale},
             {"schedule_s", schedule_ms / 1000},
             {"seed", opts.seed},
             {"sent", c.sent.load()},
             {"requests", c.requests.load()},
             {"acked", c.acked()},
             {"accepted", c.accepted.load()},
             {"duplicate", c.duplicate.load()},
             {"rejected", c.rejected.load()},
             {"failed", c.failed.load()},
             {"retries", c.retries.load()},
             {"errors", c.errors.load()},
             {"dedup_mismatch", c.dedup_mismatch.load()},
             {"interrupted", interrupted},
             {"start_unix_ms", s.wall_start},
             {"elapsed_s", elapsed_ms / 1000},
             {"max_behind_ms", ol.behind.max},
             {"throughput_per_s",
              elapsed_ms > 0 ? static_cast<double>(c.acked()) * 1000 / elapsed_ms : 0.0},
             {"latency_ack_ms",
              {{"p50", lat.p50},
               {"p95", lat.p95},
               {"p99", lat.p99},
               {"p999", lat.p999},
               {"max", lat.max}}},
             {"attempt_latency_ms", json{{"shed_503", percentiles_object(shed)},
                                         {"admitted_2xx", percentiles_object(admitted)}}},
             {"no_answer", c.no_answer.load()}};
      if (s.open_loop()) {
        j["behind_ms"] = percentiles_object(ol.behind);
        j["max_connections"] = ol.max_connections;
        j["connections_opened"] = ol.connections;
        j["connections_added"] = ol.grown;
        j["peak_in_flight"] = ol.peak_busy;
        j["pool_waits"] = ol.pool_waits;
        j["held"] = ol.held;
        j["max_held_ms"] = ol.max_held_ms;
      }
      std::ofstream rep(opts.report, std::ios::binary | std::ios::trunc);
      rep << j.dump(2) << '\n';
    }
    const auto& c = s.stats;
    if (interrupted || c.failed.load() > 0 || c.rejected.load() > 0 ||
        c.dedup_mismatch.load() > 0)
      code = 1;
    workers.clear();
    sender.reset();
  }
  std::fclose(acks);
  return code;
}

int run_burst(const burst_args& args) {
  auto retry_for = parse_duration(args.retry_for);
  auto close_window = parse_duration(args.close_window);
  auto timeout = parse_duration(args.request_timeout);
  auto bid_window = parse_duration(args.bid_window);
  auto snipe_window = parse_duration(args.snipe_window);
  auto snipe_extend = parse_duration(args.snipe_extend);
  auto close_delay = parse_duration(args.close_delay);
  if (!retry_for || !close_window || !timeout || !bid_window || !snipe_window ||
      !snipe_extend || !close_delay) {
    std::cerr << "sim burst: bad duration (use e.g. 250ms, 60s, 2m)\n";
    return 2;
  }
  std::int64_t start_ms;
  if (!args.start_time.empty()) {
    auto t = parse_iso8601(args.start_time);
    if (!t) {
      std::cerr << "sim burst: bad --start-time (want 2026-06-09T14:00:00Z)\n";
      return 2;
    }
    start_ms = *t;
  } else {
    start_ms = static_cast<std::int64_t>(now_unix_ms()) / 1000 * 1000;
  }

  workload_options w;
  w.auctions = args.auctions;
  w.events = args.events;
  w.seed = args.seed;
  w.duplicates = args.duplicates;
  w.implicit_open = args.implicit_open;
  w.close_window_ms = close_window->count();
  w.first_auction_id = args.first_auction_id;
  w.start_ms = start_ms;
  w.bid_window_ms = bid_window->count();
  w.proxy = args.proxy;
  w.snipe_window_ms = snipe_window->count();
  w.snipe_extend_ms = snipe_extend->count();
  w.close_delay_ms = close_delay->count();
  w.close_fraction = args.close_fraction;
  w.bidders = args.bidders;
  const auto scripts = generate_workload(w);

  std::size_t extensions = 0, proxy_bids = 0, closes = 0;
  for (const auto& s : scripts) {
    extensions += s.extensions;
    proxy_bids += s.proxy_bids;
    closes += s.closed;
  }
  std::string text = std::to_string(args.auctions) + " auctions (" +
                     std::to_string(closes) + " closing), " + std::to_string(proxy_bids) +
                     " proxy bids, " + std::to_string(extensions) +
                     " anti-sniping extensions, seed " + std::to_string(args.seed);
  if (!args.record.empty()) {
    if (!write_bid_log(scripts, args.record)) {
      std::cerr << "sim burst: cannot write " << args.record << "\n";
      return 2;
    }
    if (!args.quiet)
      std::cerr << "sim burst: bid log written to " << args.record << "\n";
  }
  if (args.dry_run) {
    std::cout << "sim burst (dry run): " << text << "\n";
    return 0;
  }
  if (args.token.empty()) {
    std::cerr << "sim burst: --token is required\n";
    return 2;
  }

  send_options o;
  o.target = args.target;
  o.token = args.token;
  o.connections = args.connections;
  o.max_connections = args.max_connections;
  o.batch = args.batch;
  o.retry_for_ms = retry_for->count();
  o.request_timeout_ms = timeout->count();
  o.rate = args.rate;
  o.time_scale = args.time_scale;
  o.threads = args.threads;
  o.quiet = args.quiet;
  o.acks = args.acks;
  o.report = args.report;
  o.receiver_stats = args.receiver_stats;
  o.seed = args.seed;
  o.workload_text = text;
  return send_workload(scripts, o);
}

} // namespace gavel::sim
