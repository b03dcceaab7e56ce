// `sim burst`: sends an auction-close workload to Gavel's ingest API and logs
// every definitive answer.

#include "adapters/http.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/workload.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
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
  std::size_t next = 0;                         ///< next event of the script to send
  std::size_t inflight = 0;                     ///< events in the request in flight
  std::vector<std::optional<std::int64_t>> seq; ///< acked bid_sequence per event
  std::vector<std::uint8_t> status; ///< 0 none, 1 accepted, 2 duplicate, 3 other
};

struct shared_state {
  shared_state(const burst_args& a, adapters::io_runtime& i, adapters::url o)
      : args(a), io(i), origin(std::move(o)) {}
  const burst_args& args;
  adapters::io_runtime& io;
  adapters::url origin;
  adapters::header_list headers;
  std::string target;
  double retry_for_ms = 120'000;
  double mono_start = 0;                   ///< steady ms at start
  double wall_start = 0;                   ///< unix ms at start
  std::atomic<std::uint64_t> next_slot{0}; ///< open loop: global schedule position
  std::atomic<std::size_t> workers_left{0};
  counters stats;
  std::mutex log_mtx;
  std::string log_buf;
  std::atomic<int> error_reports{0};

  double to_wall(double mono) const { return wall_start + (mono - mono_start); }
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

class worker {
public:
  worker(shared_state& s, std::size_t index)
      : s_(s), timer_(s.io.context()), rng_(mix64(s.args.seed ^ (0xabcdefULL + index))) {
    adapters::http_client_options opts;
    opts.request_timeout = parse_duration(s.args.request_timeout)
                               .value_or(std::chrono::milliseconds(10'000));
    conn_ = adapters::http_connection::make(s.io, s.origin, opts);
  }

  void add(auction_state* a) { active_.push_back(a); }

  void start() {
    boost::asio::post(s_.io.context(), [this] { next(); });
  }

  void close() { conn_->close(); }

  std::vector<double>& latencies() { return latencies_; }

private:
  struct item {
    auction_state* a;
    std::uint32_t idx;
    double t_sent; ///< unix ms: first send, or intended time in open loop
  };

  /// Picks the next request round-robin over this worker's auctions.
  bool pick() {
    batch_.clear();
    const std::size_t limit = std::max<std::size_t>(1, s_.args.batch);
    std::size_t idle = 0;
    while (batch_.size() < limit && !active_.empty() && idle < active_.size()) {
      if (rr_ >= active_.size())
        rr_ = 0;
      auto* a = active_[rr_];
      const auto& ev = a->script->events[a->next];
      // An auction's close goes only after all its earlier events were answered.
      if (ev.kind == event_kind::closed && a->inflight > 0) {
        ++rr_;
        ++idle;
        continue;
      }
      batch_.push_back({a, static_cast<std::uint32_t>(a->next), 0});
      ++a->inflight;
      idle = 0;
      if (++a->next == a->script->events.size()) {
        active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(rr_));
      } else {
        ++rr_;
      }
    }
    return !batch_.empty();
  }

  void next() {
    if (!pick()) {
      s_.workers_left.fetch_sub(1);
      return;
    }
    body_.clear();
    if (s_.args.batch > 1) {
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
    if (s_.args.rate > 0) {
      // Open loop: the events take the next slots of the global schedule; the
      // request goes when the last of them is due, and latency counts from
      // each event's own intended time.
      const auto n = batch_.size();
      const auto slot = s_.next_slot.fetch_add(n);
      const double per_event = 1000.0 / s_.args.rate;
      for (std::size_t i = 0; i < n; ++i)
        batch_[i].t_sent =
            s_.to_wall(s_.mono_start + static_cast<double>(slot + i) * per_event);
      const double due = s_.mono_start + static_cast<double>(slot + n - 1) * per_event;
      const double wait = due - now_mono_ms();
      if (wait > 0.05) {
        timer_.expires_after(
            std::chrono::microseconds(static_cast<std::int64_t>(wait * 1000)));
        timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec)
            send();
        });
        return;
      }
    }
    send();
  }

  void send() {
    if (attempts_++ == 0) {
      s_.stats.sent.fetch_add(static_cast<std::int64_t>(batch_.size()),
                              std::memory_order_relaxed);
      if (s_.args.rate <= 0) {
        const double now = now_unix_ms();
        for (auto& it : batch_)
          it.t_sent = now;
      }
    } else {
      s_.stats.retries.fetch_add(1, std::memory_order_relaxed);
    }
    s_.stats.requests.fetch_add(1, std::memory_order_relaxed);
    const std::string& body =
        s_.args.batch > 1 ? body_ : batch_[0].a->script->events[batch_[0].idx].body;
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
      const double remaining = s_.retry_for_ms - (now - first_failure_);
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
      if (s_.args.batch > 1) {
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
          std::cerr << "sim burst: " << ev.event_id << " answered with event_id " << got
                    << "\n";
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
          std::cerr << "sim burst: " << ev.event_id << " rejected: " << err->dump()
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
            std::cerr << "sim burst: resend of " << ev.event_id << " answered " << status
                      << " seq " << (seq ? std::to_string(*seq) : "null") << "\n";
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
    std::cerr << "sim burst: " << what << " (http " << r.status
              << (r.error.empty() ? "" : ", " + r.error) << ")"
              << (body.empty() ? "" : ": " + body) << "\n";
  }

  shared_state& s_;
  std::shared_ptr<adapters::http_connection> conn_;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  std::vector<auction_state*> active_;
  std::size_t rr_ = 0;
  std::vector<item> batch_;
  std::string body_;
  std::string log_;
  int attempts_ = 0;
  double first_failure_ = -1;
  double backoff_ = backoff_initial_ms;
  std::vector<double> latencies_;
};

void write_summary(const burst_args& args, const shared_state& s, std::size_t unique,
                   std::size_t total, double elapsed_ms, percentiles lat,
                   bool interrupted, std::ostream& os) {
  const auto& c = s.stats;
  const double secs = elapsed_ms / 1000;
  const double throughput = secs > 0 ? static_cast<double>(c.acked()) / secs : 0;
  std::string t;
  auto fmt = [&](double v, int d) {
    t.clear();
    append_fixed(v, d, t);
    return t;
  };
  os << "sim burst summary" << (interrupted ? " (INTERRUPTED)" : "") << "\n"
     << "  target        " << args.target << " (" << args.connections
     << " connections, batch " << args.batch << ", "
     << (args.rate > 0 ? "open loop at " + fmt(args.rate, 0) + " events/s"
                       : "closed loop")
     << ")\n"
     << "  workload      " << args.auctions << " auctions, " << total << " events ("
     << unique << " distinct, " << (total - unique) << " resends), seed " << args.seed
     << "\n"
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
     << " ms p99=" << fmt(lat.p99, 2) << " ms max=" << fmt(lat.max, 2) << " ms\n"
     << std::flush;
}

} // namespace

int run_burst(const burst_args& args) {
  auto origin = adapters::parse_url(args.target);
  if (!origin) {
    std::cerr << "sim burst: bad --target: " << origin.err().message << "\n";
    return 2;
  }
  auto retry_for = parse_duration(args.retry_for);
  auto close_window = parse_duration(args.close_window);
  if (!retry_for || !close_window || !parse_duration(args.request_timeout)) {
    std::cerr << "sim burst: bad duration (use e.g. 250ms, 60s, 2m)\n";
    return 2;
  }
  if (args.connections == 0 || args.batch == 0 || args.batch > 1000) {
    std::cerr << "sim burst: --connections must be >= 1 and --batch within 1..1000\n";
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
  std::FILE* acks = std::fopen(args.acks.c_str(), "wb");
  if (!acks) {
    std::cerr << "sim burst: cannot open " << args.acks << "\n";
    return 2;
  }

  workload_options wopts;
  wopts.auctions = args.auctions;
  wopts.events = args.events;
  wopts.seed = args.seed;
  wopts.duplicates = args.duplicates;
  wopts.implicit_open = args.implicit_open;
  wopts.close_window_ms = close_window->count();
  wopts.first_auction_id = args.first_auction_id;
  wopts.start_ms = start_ms;
  const auto scripts = generate_workload(wopts);
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

  block_termination_signals();
  bool interrupted = false;
  double elapsed_ms = 0;
  std::vector<double> latencies;
  int code = 0;
  {
    adapters::io_runtime io(std::max(1u, args.threads));
    shared_state s(args, io, *origin);
    s.target =
        origin->target.empty() || origin->target == "/" ? "/v1/events" : origin->target;
    s.headers = {{"Authorization", "Bearer " + args.token},
                 {"Content-Type", "application/json"}};
    s.retry_for_ms = static_cast<double>(retry_for->count());

    std::vector<std::unique_ptr<worker>> workers;
    const auto n = std::min(args.connections, std::max<std::size_t>(1, auctions.size()));
    for (std::size_t w = 0; w < n; ++w)
      workers.push_back(std::make_unique<worker>(s, w));
    for (std::size_t i = 0; i < auctions.size(); ++i)
      if (!auctions[i].script->events.empty())
        workers[i % n]->add(&auctions[i]);

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
      if (now - last_tick >= 1000 && !args.quiet) {
        const auto acked = s.stats.acked();
        const double rate =
            static_cast<double>(acked - last_acked) * 1000.0 / (now - last_tick);
        std::string line = "t=";
        append_int(static_cast<std::int64_t>(std::llround((now - s.mono_start) / 1000)),
                   line);
        line += "s sent=";
        append_int(s.stats.sent.load(), line);
        line += " acked=";
        append_int(acked, line);
        line += " rate=";
        append_fixed(rate, 0, line);
        line += "/s retries=";
        append_int(s.stats.retries.load(), line);
        line += " errors=";
        append_int(s.stats.errors.load(), line);
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
    io.stop(); // joins the io threads: nothing touches the workers after this
    std::fwrite(s.log_buf.data(), 1, s.log_buf.size(), acks);
    for (auto& w : workers)
      latencies.insert(latencies.end(), w->latencies().begin(), w->latencies().end());
    auto lat = compute_percentiles(latencies);
    write_summary(args, s, unique, total, elapsed_ms, lat, interrupted, std::cout);

    if (!args.report.empty()) {
      const auto& c = s.stats;
      json j{{"target", args.target},
             {"auctions", args.auctions},
             {"events", total},
             {"distinct_events", unique},
             {"connections", args.connections},
             {"batch", args.batch},
             {"rate", args.rate},
             {"seed", args.seed},
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
             {"elapsed_s", elapsed_ms / 1000},
             {"throughput_per_s",
              elapsed_ms > 0 ? static_cast<double>(c.acked()) * 1000 / elapsed_ms : 0.0},
             {"latency_ack_ms",
              {{"p50", lat.p50}, {"p95", lat.p95}, {"p99", lat.p99}, {"max", lat.max}}}};
      std::ofstream rep(args.report, std::ios::binary | std::ios::trunc);
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

} // namespace gavel::sim
