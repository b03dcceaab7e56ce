// The /v1/pipeline body (docs/operations.md): the health model of actors/health.hpp
// as people and alerting read it.
#include "actors/api/operations.hpp"
#include "actors/api/responses.hpp"
#include "protocols/time.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace gavel::actors::api {

namespace {

using ojson = nlohmann::ordered_json;

/// An ISO-8601 time, or null for "never" (0).
ojson time_or_null(protocols::unix_ms t) {
  if (t <= 0)
    return nullptr;
  return protocols::format_iso8601_ms(t);
}

/// Seconds and milliseconds to three decimals: finer is noise.
double rounded(double v) {
  return std::round(v * 1000) / 1000;
}

ojson destination_json(const destination_health& h, std::int64_t head) {
  const auto& d = h.status;
  ojson j;
  j["name"] = d.name;
  j["kind"] = d.kind;
  j["state"] = protocols::to_string(d.state);
  j["circuit"] = protocols::to_string(d.circuit);
  j["delivered_through"] = d.delivered_through;
  j["head_position"] = head;
  j["lag_events"] = h.lag_events;
  j["lag_seconds"] = rounded(h.lag_seconds);
  j["oldest_undelivered_at"] = time_or_null(h.oldest_undelivered_ms);
  j["oldest_undelivered_age_seconds"] = rounded(h.lag_seconds);
  j["retries_5m"] = d.retries_5m;
  j["dead_letters_5m"] = d.dead_letters_5m;
  j["dead_letters"] = d.dead_letters;
  j["dead_letters_total"] = d.dead_letters;
  j["parked"] = d.parked;
  j["parked_auctions"] = d.parked_auctions;
  j["delivered"] = d.delivered;
  j["requests"] = d.requests;
  j["retries"] = d.retries;
  j["failures_transient"] = d.failures_transient;
  j["failures_permanent"] = d.failures_permanent;
  j["circuit_opens"] = d.circuit_opens;
  j["restarts"] = d.restarts;
  j["loaded_through"] = d.loaded_through;
  j["in_memory"] = d.in_memory;
  j["latency_ms"] = ojson{{"p50", rounded(d.latency_p50_ms)},
                          {"p99", rounded(d.latency_p99_ms)},
                          {"max", rounded(d.latency_max_ms)}};
  j["last_error"] = d.last_error;
  j["last_error_at"] = time_or_null(d.last_error_ms);
  return j;
}

} // namespace

std::string pipeline_json(const pipeline_snapshot& s) {
  ojson out;
  out["at"] = time_or_null(s.now);
  out["database"] = s.database_up ? "ok" : "unreachable";
  // The server behind it: the embedded cluster and its supervisor ("database"
  // above stays a string: what the store last saw, which consumers read).
  const auto& db = s.database_server;
  out["database_server"] = ojson{{"embedded", db.embedded},
                                 {"state", db.state},
                                 {"pid", db.pid},
                                 {"restarts", db.restarts},
                                 {"deaths", db.deaths},
                                 {"over_limit", db.over_limit},
                                 {"last_error", db.last_error},
                                 {"last_error_at", time_or_null(db.last_error_ms)}};
  // The database's storage: whether commits are refused for want of space
  // (or a read-only file system), which outlasts any restart of the server.
  out["storage"] =
      ojson{{"state", s.storage.failing ? "refusing_writes" : "ok"},
            {"since", time_or_null(s.storage.failing ? s.storage.since_ms : 0)},
            {"refused_commits", s.storage.failures},
            {"last_error", s.storage.reason}};
  // The core: the store and the registry, restarted as one unit.
  out["core"] = ojson{{"state", s.core_answered ? protocols::to_string(s.core.state)
                                                : std::string_view{"unknown"}},
                      {"epoch", s.core.epoch},
                      {"store_restarts", s.core.store_restarts},
                      {"registry_restarts", s.core.registry_restarts},
                      {"last_error", s.core.last_error},
                      {"last_error_at", time_or_null(s.core.last_error_ms)}};
  out["head_position"] = s.head_position;
  out["active_auctions"] = s.auctions.active;
  ojson destinations = ojson::array();
  for (const auto& h : s.destinations)
    destinations.push_back(destination_json(h, s.head_position));
  out["destinations"] = std::move(destinations);
  ojson sources = ojson::array();
  for (const auto& h : s.sources)
    sources.push_back(ojson{{"name", h.name},
                            {"kind", to_string(h.kind)},
                            {"state", h.enabled ? "enabled" : "disabled"},
                            {"taken", h.taken},
                            {"rejected", h.rejected}});
  out["sources"] = std::move(sources);
  ojson final_window = ojson::array();
  for (const auto& a : s.auctions.final_window)
    final_window.push_back(
        ojson{{"auction_id", a.auction_id},
              {"end_date", time_or_null(a.end_date.value_or(0))},
              {"last_sequence", a.last_sequence},
              {"heartbeats", a.heartbeat_count},
              {"last_heartbeat_at", time_or_null(a.last_heartbeat_ms)}});
  out["auctions"] = ojson{{"active", s.auctions.active},
                          {"closed_held", s.auctions.closed},
                          {"in_final_window", s.auctions.final_window.size()},
                          {"final_window", std::move(final_window)}};
  if (!s.facts_ok) {
    out["sequence_gaps"] = nullptr; // unknown without the database
  } else {
    ojson gaps = ojson::array();
    for (const auto& g : s.gaps)
      gaps.push_back(ojson{{"auction_id", g.auction_id},
                           {"last_sequence", g.last_sequence},
                           {"stored", g.counted}});
    out["sequence_gaps"] = std::move(gaps);
  }
  return dump_json(out);
}

} // namespace gavel::actors::api
