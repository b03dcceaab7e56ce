// send_workload (sim/workload.hpp): builds the schedule, runs the closed- or
// open-loop sender on its connections (sim/burst_channel.cpp) until every
// event has its definitive answer or a signal stops it, then writes the ack
// log's tail, the summary and the report.

#include "sim/burst.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

namespace gavel::sim {

namespace {

using namespace sending;

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
  run_figures f;
  f.auctions = scripts.size();
  f.total = total;
  f.unique = unique;
  f.schedule_ms = schedule_ms;
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
    stats_poller poller(io, opts.receiver_stats, opts.ca_file);

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
        f.interrupted = true;
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
    f.elapsed_ms = now_mono_ms() - s.mono_start;
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
    auto& ol = f.ol;
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
    f.lat = compute_percentiles(latencies);
    f.shed = compute_percentiles(shed_lat);
    f.admitted = compute_percentiles(admitted_lat);
    write_summary(opts, s, f, std::cout);
    if (!opts.report.empty())
      write_report(opts, s, f);
    const auto& c = s.stats;
    if (f.interrupted || c.failed.load() > 0 || c.rejected.load() > 0 ||
        c.dedup_mismatch.load() > 0)
      code = 1;
    workers.clear();
    sender.reset();
  }
  std::fclose(acks);
  return code;
}

} // namespace gavel::sim
