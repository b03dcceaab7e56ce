// What the sender tells: the receivers' arrival counts for the progress line,
// the printed summary and the JSON report of a run.

#include "sim/burst.hpp"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

namespace gavel::sim::sending {

namespace {

using nlohmann::json;

json percentiles_object(const percentiles& p) {
  return json{{"p50", p.p50},   {"p95", p.p95}, {"p99", p.p99},
              {"p999", p.p999}, {"max", p.max}, {"count", p.count}};
}

} // namespace

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

stats_poller::stats_poller(adapters::io_runtime& io, const std::vector<std::string>& urls,
                           const std::string& ca_file) {
  for (const auto& u : urls) {
    auto parsed = adapters::parse_url(u);
    if (!parsed) {
      std::cerr << "ignoring bad --receiver-stats URL " << u << "\n";
      continue;
    }
    adapters::http_client_options o;
    o.connect_timeout = std::chrono::milliseconds(500);
    o.request_timeout = std::chrono::milliseconds(800);
    o.ca_file = ca_file;
    targets_.push_back(parsed->target);
    conns_.push_back(adapters::http_connection::make(io, *parsed, o));
  }
}

std::vector<std::int64_t> stats_poller::poll() {
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

void stats_poller::close() {
  for (auto& c : conns_)
    c->close();
}

void write_summary(const send_options& opts, const shared_state& s, const run_figures& f,
                   std::ostream& os) {
  const auto& c = s.stats;
  const auto& lat = f.lat;
  const auto& shed = f.shed;
  const auto& admitted = f.admitted;
  const auto& ol = f.ol;
  const double elapsed_ms = f.elapsed_ms;
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
  os << opts.label << " summary" << (f.interrupted ? " (INTERRUPTED)" : "") << "\n"
     << "  target        " << opts.target << " (" << opts.connections
     << (s.open_loop() ? " connections, up to " + std::to_string(ol.max_connections)
                       : std::string(" connections"))
     << ", batch " << opts.batch << ", " << pace << ")\n"
     << "  workload      " << f.total << " events (" << f.unique << " distinct, "
     << (f.total - f.unique) << " resends)"
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

void write_report(const send_options& opts, const shared_state& s, const run_figures& f) {
  const auto& c = s.stats;
  const auto& lat = f.lat;
  const auto& ol = f.ol;
  const double elapsed_ms = f.elapsed_ms;
  json j{{"target", opts.target},
         {"workload", opts.workload_text},
         {"auctions", f.auctions},
         {"events", f.total},
         {"distinct_events", f.unique},
         {"connections", opts.connections},
         {"batch", opts.batch},
         {"mode", mode_name(s.mode)},
         {"rate", opts.rate},
         {"time_scale", opts.time_scale},
         {"schedule_s", f.schedule_ms / 1000},
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
         {"interrupted", f.interrupted},
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
         {"attempt_latency_ms", json{{"shed_503", percentiles_object(f.shed)},
                                     {"admitted_2xx", percentiles_object(f.admitted)}}},
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

} // namespace gavel::sim::sending
