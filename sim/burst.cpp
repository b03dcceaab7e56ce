// `sim burst`: sends an auction-close workload to Gavel's ingest API and logs
// every definitive answer. The sender (send_workload) is shared with
// `sim replay`.

#include "adapters/http.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
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

/// One keep-alive connection with one request in flight, working through its
/// auctions' events in send-time order (so each auction's events go in
/// script order, and its close only after its earlier events were answered).
class worker {
public:
  /// One event of this worker's schedule.
  struct queued {
    double due; ///< ms after the start (open loop); 0 in closed loop
    auction_state* a;
    std::uint32_t idx;
  };

  worker(shared_state& s, std::size_t index)
      : s_(s), timer_(s.io.context()), rng_(mix64(s.opts.seed ^ (0xabcdefULL + index))) {
    adapters::http_client_options opts;
    opts.request_timeout = std::chrono::milliseconds(s.opts.request_timeout_ms);
    conn_ = adapters::http_connection::make(s.io, s.origin, opts);
  }

  std::vector<queued>& queue() { return queue_; }

  void start() {
    boost::asio::post(s_.io.context(), [this] { next(); });
  }

  void close() { conn_->close(); }

  std::vector<double>& latencies() { return latencies_; }
  /// Largest delay of a first send behind its schedule (open loop), ms.
  double max_behind() const { return max_behind_; }

private:
  struct item {
    auction_state* a;
    std::uint32_t idx;
    double t_sent;      ///< unix ms: first send, or intended time in open loop
    double t_first = 0; ///< unix ms: when it actually went out first
  };

  /// Takes the next request's events: in open loop those already due (at
  /// least the first), up to --batch; never an auction's close together
  /// with its own earlier events.
  void pick(double now_off) {
    batch_.clear();
    const std::size_t limit = std::max<std::size_t>(1, s_.opts.batch);
    while (batch_.size() < limit && head_ < queue_.size()) {
      const auto& q = queue_[head_];
      if (!batch_.empty() && s_.open_loop() && q.due > now_off)
        break;
      const auto& ev = q.a->script->events[q.idx];
      if (ev.kind == event_kind::closed && q.a->inflight > 0)
        break;
      batch_.push_back(
          {q.a, q.idx, s_.open_loop() ? s_.to_wall(s_.mono_start + q.due) : 0});
      ++q.a->inflight;
      ++head_;
    }
  }

  void next() {
    if (head_ >= queue_.size()) {
      s_.workers_left.fetch_sub(1);
      return;
    }
    const double now_off = now_mono_ms() - s_.mono_start;
    if (s_.open_loop()) {
      const double wait = queue_[head_].due - now_off;
      if (wait > 0.05) {
        timer_.expires_after(
            std::chrono::microseconds(static_cast<std::int64_t>(wait * 1000)));
        timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec)
            next();
        });
        return;
      }
      max_behind_ = std::max(max_behind_, -wait);
    }
    pick(now_off + 0.05);
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
    const std::string& body =
        s_.opts.batch > 1 ? body_ : batch_[0].a->script->events[batch_[0].idx].body;
    conn_->async_request("POST", s_.target, s_.headers, body,
                         [this](http_result r) { on_result(std::move(r)); });
  }

  static bool retryable(int status) {
    return status == 0 || status == 429 || status == 408 || status >= 500;
  }

  void on_result(http_result r) {
    if (retryable(r.status)) {
      s_.stats.errors.fetch_add(1, std::memory_order_relaxed);
      const double now = now_mono_ms();
      if (first_failure_ < 0)
        first_failure_ = now;
      const double remaining =
          static_cast<double>(s_.opts.retry_for_ms) - (now - first_failure_);
      if (remaining <= 0) {
        report_error("giving up after " + std::to_string(attempts_) + " attempts", r);
        finish_all("failed", r.status);
        return;
      }
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
    if (r.status >= 200 && r.status < 300) {
      auto j = json::parse(r.body, nullptr, false);
      if (s_.opts.batch > 1) {
        const json* results = nullptr;
        if (j.is_object()) {
          auto it = j.find("results");
          if (it != j.end() && it->is_array())
            results = &*it;
        }
        if (!results || results->size() != batch_.size())
          report_error("batch response without one result per item", r);
        const double now = now_unix_ms();
        for (std::size_t i = 0; i < batch_.size(); ++i) {
          if (results && i < results->size())
            finish(batch_[i], (*results)[i], r.status, now);
          else
            finish(batch_[i], json{{"status", "failed"}}, r.status, now);
        }
      } else {
        finish(batch_[0], j, r.status, now_unix_ms());
      }
    } else {
      // A definitive rejection of the whole request (4xx other than 408/429).
      report_error("rejected", r);
      finish_all("rejected", r.status);
      return;
    }
    done();
  }

  void finish_all(const char* status, int http) {
    const double now = now_unix_ms();
    json j{{"status", status}};
    for (auto& it : batch_)
      finish(it, j, http, now);
    done();
  }

  void done() {
    flush_log();
    next();
  }

  /// Records the definitive answer for one event.
  void finish(const item& it, const json& res, int http, double t_ack) {
    auto* a = it.a;
    const auto& ev = a->script->events[it.idx];
    --a->inflight;
    std::string status = "failed";
    std::optional<std::int64_t> seq;
    std::string_view event_id = ev.event_id;
    if (res.is_object()) {
      if (auto st = res.find("status"); st != res.end() && st->is_string())
        status = st->get<std::string>();
      if (auto sq = res.find("bid_sequence"); sq != res.end() && sq->is_number_integer())
        seq = sq->get<std::int64_t>();
      if (auto id = res.find("event_id"); id != res.end() && id->is_string()) {
        const auto& got = id->get_ref<const std::string&>();
        if (got != ev.event_id && s_.stats.id_mismatch.fetch_add(1) < 5)
          std::cerr << s_.opts.label << ": " << ev.event_id << " answered with event_id "
                    << got << "\n";
      }
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
      if (http >= 200 && http < 300 && res.is_object())
        if (auto err = res.find("error"); err != res.end() && s_.error_reports++ < 5)
          std::cerr << s_.opts.label << ": " << ev.event_id
                    << " rejected: " << err->dump() << "\n";
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
    append_json_string(event_id, out);
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

  void flush_log() {
    if (log_.empty())
      return;
    std::lock_guard<std::mutex> guard(s_.log_mtx);
    s_.log_buf += log_;
    log_.clear();
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
  std::shared_ptr<adapters::http_connection> conn_;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::vector<queued> queue_;
  std::size_t head_ = 0;
  std::vector<item> batch_;
  std::string body_;
  std::string log_;
  int attempts_ = 0;
  double first_failure_ = -1;
  double backoff_ = backoff_initial_ms;
  double max_behind_ = 0;
  std::vector<double> latencies_;
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

void write_summary(const send_options& opts, const shared_state& s, std::size_t unique,
                   std::size_t total, double elapsed_ms, const percentiles& lat,
                   double max_behind, bool interrupted, std::ostream& os) {
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
     << " connections, batch " << opts.batch << ", " << pace << ")\n"
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
  if (s.open_loop())
    os << "  behind        at most " << fmt(max_behind, 1)
       << " ms behind schedule at a first send\n";
  os << std::flush;
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
  struct ref {
    std::int64_t t;
    std::uint32_t a;
    std::uint32_t e;
  };
  std::vector<ref> order;
  order.reserve(total);
  std::int64_t t0 = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i = 0; i < scripts.size(); ++i)
    for (std::size_t e = 0; e < scripts[i].events.size(); ++e) {
      order.push_back({scripts[i].events[e].t_ms, static_cast<std::uint32_t>(i),
                       static_cast<std::uint32_t>(e)});
      t0 = std::min(t0, scripts[i].events[e].t_ms);
    }
  std::stable_sort(order.begin(), order.end(),
                   [](const ref& x, const ref& y) { return x.t < y.t; });
  std::vector<double> dues(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (mode == pacing::constant_rate)
      dues[k] = static_cast<double>(k) * 1000.0 / opts.rate;
    else if (mode == pacing::time_profile)
      dues[k] = static_cast<double>(order[k].t - t0) / opts.time_scale;
    else
      dues[k] = 0;
  }

  block_termination_signals();
  bool interrupted = false;
  double elapsed_ms = 0;
  std::vector<double> latencies;
  int code = 0;
  {
    adapters::io_runtime io(std::max(1u, opts.threads));
    shared_state s(opts, io, *origin);
    s.mode = mode;
    s.target =
        origin->target.empty() || origin->target == "/" ? "/v1/events" : origin->target;
    s.headers = {{"Authorization", "Bearer " + opts.token},
                 {"Content-Type", "application/json"}};

    std::vector<std::unique_ptr<worker>> workers;
    const auto n = std::min(opts.connections, std::max<std::size_t>(1, auctions.size()));
    for (std::size_t w = 0; w < n; ++w)
      workers.push_back(std::make_unique<worker>(s, w));
    // Auction i belongs to worker i % n; each worker's queue stays in
    // send-time order (stable, so script order within an auction).
    for (std::size_t k = 0; k < order.size(); ++k)
      workers[order[k].a % n]->queue().push_back(
          {dues[k], &auctions[order[k].a], order[k].e});
    stats_poller poller(io, opts.receiver_stats);

    s.workers_left = workers.size();
    s.mono_start = now_mono_ms();
    s.wall_start = now_unix_ms();
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
        if (s.open_loop()) {
          const double off = now - s.mono_start;
          auto due = static_cast<std::int64_t>(
              std::upper_bound(dues.begin(), dues.end(), off) - dues.begin());
          line += " backlog=";
          append_int(std::max<std::int64_t>(0, due - sent), line);
          line += " behind=";
          double behind = 0;
          if (due > sent && static_cast<std::size_t>(sent) < dues.size())
            behind = off - dues[static_cast<std::size_t>(sent)];
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
    for (auto& w : workers)
      w->close();
    poller.close();
    io.stop(); // joins the io threads: nothing touches the workers after this
    std::fwrite(s.log_buf.data(), 1, s.log_buf.size(), acks);
    double max_behind = 0;
    for (auto& w : workers) {
      latencies.insert(latencies.end(), w->latencies().begin(), w->latencies().end());
      max_behind = std::max(max_behind, w->max_behind());
    }
    auto lat = compute_percentiles(latencies);
    write_summary(opts, s, unique, total, elapsed_ms, lat, max_behind, interrupted,
                  std::cout);

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
             {"schedule_s", dues.empty() ? 0.0 : dues.back() / 1000},
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
             {"max_behind_ms", max_behind},
             {"throughput_per_s",
              elapsed_ms > 0 ? static_cast<double>(c.acked()) * 1000 / elapsed_ms : 0.0},
             {"latency_ack_ms",
              {{"p50", lat.p50},
               {"p95", lat.p95},
               {"p99", lat.p99},
               {"p999", lat.p999},
               {"max", lat.max}}}};
      std::ofstream rep(opts.report, std::ios::binary | std::ios::trunc);
      rep << j.dump(2) << '\n';
    }
    const auto& c = s.stats;
    if (interrupted || c.failed.load() > 0 || c.rejected.load() > 0 ||
        c.dedup_mismatch.load() > 0)
      code = 1;
    workers.clear();
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
