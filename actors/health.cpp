#include "actors/health.hpp"

#include "adapters/metrics.hpp"
#include "protocols/time.hpp"

#include <map>
#include <mutex>

namespace gavel::actors {

namespace {

struct gathering {
  std::shared_ptr<const health_sources> src;
  pipeline_snapshot snap;
  std::size_t remaining = 0;
  std::function<void(pipeline_snapshot&)> done;
};

void finish(std::shared_ptr<gathering> g, const protocols::outbox_facts* facts) {
  auto& s = g->snap;
  if (facts) {
    s.facts_ok = true;
    s.head_position = facts->head_position;
    s.gaps = facts->gaps;
  } else {
    // Without the database: the best of the store's gauge and what the
    // destinations have seen.
    s.head_position = static_cast<std::int64_t>(
        adapters::metrics::global()
            .gauge("gavel_outbox_head_position", "Highest committed outbox position.")
            .value());
    for (const auto& d : s.destinations)
      s.head_position = std::max(s.head_position, d.status.head_position);
  }
  for (std::size_t i = 0; i < s.destinations.size(); ++i) {
    auto& d = s.destinations[i];
    d.lag_events =
        std::max<std::int64_t>(0, s.head_position - d.status.delivered_through);
    protocols::unix_ms oldest = 0;
    if (d.lag_events > 0) {
      oldest = facts && i < facts->first_after_ms.size() ? facts->first_after_ms[i] : 0;
      if (oldest == 0)
        oldest = d.status.oldest_undelivered_ms;
    }
    d.oldest_undelivered_ms = oldest;
    d.lag_seconds = oldest > 0 ? std::max<double>(0, (s.now - oldest) / 1000.0) : 0;
  }
  g->done(s);
}

} // namespace

storage_condition::view storage_state(const storage_condition* store,
                                      const adapters::database_status& server,
                                      protocols::unix_ms now) {
  auto v = store ? store->get(now) : storage_condition::view{};
  if (v.failing || !server.embedded || server.state == "running" ||
      !adapters::storage_refused({}, server.last_error))
    return v;
  // The line that says so, not the whole log tail.
  std::string_view text = server.last_error;
  std::string_view line = text;
  for (std::size_t at = 0; at < text.size();) {
    auto end = std::min(text.find('\n', at), text.size());
    if (adapters::storage_refused({}, text.substr(at, end - at))) {
      line = text.substr(at, end - at);
      break;
    }
    at = end + 1;
  }
  v.failing = true;
  v.since_ms = server.last_error_ms;
  v.reason = "embedded PostgreSQL cannot start: " + std::string{line};
  return v;
}

void gather_health(caf::actor_system& sys, std::shared_ptr<const health_sources> src,
                   std::function<void(pipeline_snapshot&)> done,
                   std::chrono::milliseconds timeout) {
  auto g = std::make_shared<gathering>();
  g->src = src;
  g->done = std::move(done);
  g->snap.now = src->clock();
  g->snap.database_up = src->db_healthy && src->db_healthy->load();
  if (src->database)
    g->snap.database_server = src->database();
  g->snap.storage =
      storage_state(src->storage.get(), g->snap.database_server, g->snap.now);
  if (src->board)
    g->snap.auctions = src->board->summarize(g->snap.now, src->final_window_ms);
  if (src->sources)
    for (const auto& e : src->sources->all()) {
      source_health h;
      h.name = e->name;
      h.kind = e->kind;
      h.enabled = e->enabled.load();
      h.taken = e->accepted.load() + e->duplicate.load();
      h.rejected = e->rejected.load();
      h.bounds = e->propagation->bounds();
      for (std::size_t i = 0; i <= h.bounds.size(); ++i)
        h.buckets.push_back(e->propagation->bucket(i));
      if (auto rows = e->inbox_rows.load(); rows > 0)
        h.oldest_seconds = static_cast<double>(e->inbox_oldest_ms.load()) / 1000;
      g->snap.sources.push_back(std::move(h));
    }
  g->snap.destinations.resize(src->destinations.size());
  for (std::size_t i = 0; i < src->destinations.size(); ++i) {
    auto& d = g->snap.destinations[i].status;
    d.name = i < src->names.size() ? src->names[i] : std::string{};
    d.kind = i < src->kinds.size() ? src->kinds[i] : std::string{};
    d.state = protocols::destination_state::unknown;
  }
  sys.spawn([g, timeout](caf::event_based_actor* self) {
    auto& src = *g->src;
    auto ask_facts = [self, g, timeout] {
      std::vector<std::int64_t> positions;
      for (auto& d : g->snap.destinations)
        positions.push_back(d.status.delivered_through);
      std::vector<std::int64_t> auctions;
      for (auto& a : g->snap.auctions.final_window)
        auctions.push_back(a.auction_id);
      if (!g->src->maintenance) {
        finish(g, nullptr);
        self->quit();
        return;
      }
      self->request(g->src->maintenance, timeout, atom::health_v, std::move(positions),
                    std::move(auctions))
          .then(
              [self, g](protocols::outbox_facts& f) {
                finish(g, &f);
                self->quit();
              },
              [self, g](caf::error&) {
                finish(g, nullptr);
                self->quit();
              });
    };
    g->remaining = src.destinations.size() + (src.core ? 1 : 0);
    if (g->remaining == 0) {
      ask_facts();
      return;
    }
    if (src.core)
      self->request(src.core, timeout, atom::status_v)
          .then(
              [g, ask_facts](core_status& s) {
                g->snap.core = std::move(s);
                g->snap.core_answered = true;
                if (--g->remaining == 0)
                  ask_facts();
              },
              [g, ask_facts](caf::error&) {
                if (--g->remaining == 0)
                  ask_facts();
              });
    for (std::size_t i = 0; i < src.destinations.size(); ++i)
      self->request(src.destinations[i], timeout, atom::status_v)
          .then(
              [g, i, ask_facts](destination_status& s) {
                auto& d = g->snap.destinations[i];
                if (s.name.empty())
                  s.name = d.status.name;
                d.status = std::move(s);
                d.answered = true;
                if (--g->remaining == 0)
                  ask_facts();
              },
              [g, ask_facts](caf::error&) {
                if (--g->remaining == 0)
                  ask_facts();
              });
  });
}

namespace {

/// A counter whose value is kept by someone else (the destinations count
/// since the process started, across actor restarts) and copied here at
/// scrape time.
void set_counter(const std::string& name, const std::string& help,
                 const adapters::metrics::labels& labels, double v) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<std::atomic<double>>> values;
  std::string key = name;
  for (const auto& [k, x] : labels) {
    key += '\0';
    key += k;
    key += '=';
    key += x;
  }
  std::shared_ptr<std::atomic<double>> slot;
  {
    std::lock_guard guard{mutex};
    auto& p = values[key];
    if (!p) {
      p = std::make_shared<std::atomic<double>>(0);
      adapters::metrics::global().counter_callback(name, help, labels,
                                                   [p] { return p->load(); });
    }
    slot = p;
  }
  slot->store(v);
}

} // namespace

void export_health_metrics(const pipeline_snapshot& s) {
  auto& r = adapters::metrics::global();
  for (const auto& h : s.destinations) {
    adapters::metrics::labels l{{"destination", h.status.name}};
    r.gauge("gavel_destination_lag_events",
            "Committed events not yet delivered (head - delivered-through).", l)
        .set(static_cast<double>(h.lag_events));
    r.gauge("gavel_destination_lag_seconds",
            "Age of the oldest undelivered event (0: none).", l)
        .set(h.lag_seconds);
    r.gauge("gavel_destination_delivered_through", "Delivered-through outbox position.",
            l)
        .set(static_cast<double>(h.status.delivered_through));
    r.gauge("gavel_destination_up",
            "1 when the destination's state is ok or catching-up, else 0.", l)
        .set(h.status.state == protocols::destination_state::ok ||
                     h.status.state == protocols::destination_state::catching_up
                 ? 1
                 : 0);
    if (!h.answered)
      continue; // keep the last values rather than report zeros
    const auto& d = h.status;
    const auto& name = d.name;
    r.gauge("gavel_destination_circuit_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.", l)
        .set(d.circuit == protocols::circuit_breaker::state::open        ? 2
             : d.circuit == protocols::circuit_breaker::state::half_open ? 1
                                                                         : 0);
    r.gauge("gavel_destination_in_memory", "Records held in memory, not yet delivered.",
            l)
        .set(static_cast<double>(d.in_memory));
    r.gauge("gavel_destination_parked_auctions",
            "Auctions held back behind a dead letter.", l)
        .set(static_cast<double>(d.parked_auctions));
    const char* deliveries_help =
        "Records by final outcome: delivered, dead_letter (given up), parked (held "
        "behind a dead letter of their auction).";
    set_counter("gavel_destination_deliveries_total", deliveries_help,
                {{"destination", name}, {"outcome", "delivered"}},
                static_cast<double>(d.delivered));
    set_counter("gavel_destination_deliveries_total", deliveries_help,
                {{"destination", name}, {"outcome", "dead_letter"}},
                static_cast<double>(d.dead_letters));
    set_counter("gavel_destination_deliveries_total", deliveries_help,
                {{"destination", name}, {"outcome", "parked"}},
                static_cast<double>(d.parked));
    set_counter("gavel_destination_requests_total", "Delivery requests sent.", l,
                static_cast<double>(d.requests));
    const char* failures_help = "Failed deliveries, by class (transient: retried; "
                                "permanent: dead-lettered).";
    set_counter("gavel_destination_failures_total", failures_help,
                {{"destination", name}, {"class", "transient"}},
                static_cast<double>(d.failures_transient));
    set_counter("gavel_destination_failures_total", failures_help,
                {{"destination", name}, {"class", "permanent"}},
                static_cast<double>(d.failures_permanent));
    set_counter("gavel_destination_retries_total",
                "Records scheduled again after a failure.", l,
                static_cast<double>(d.retries));
    set_counter("gavel_destination_dead_letters_total", "Records dead-lettered.", l,
                static_cast<double>(d.dead_letters));
    set_counter("gavel_destination_circuit_opens_total", "Times the circuit opened.", l,
                static_cast<double>(d.circuit_opens));
    set_counter("gavel_actor_restarts_total", "Supervisor restarts of an actor.",
                {{"actor", "destination:" + name}}, static_cast<double>(d.restarts));
  }
  if (s.core_answered) {
    r.gauge("gavel_core_up", "1 when the store and the registry run (core state ok).")
        .set(s.core.state == protocols::core_state::ok ? 1 : 0);
    set_counter("gavel_actor_restarts_total", "Supervisor restarts of an actor.",
                {{"actor", "store"}}, static_cast<double>(s.core.store_restarts));
    set_counter("gavel_actor_restarts_total", "Supervisor restarts of an actor.",
                {{"actor", "registry"}}, static_cast<double>(s.core.registry_restarts));
  }
  set_counter("gavel_database_restarts_total",
              "Restarts of the embedded PostgreSQL cluster by its supervisor (0 with "
              "an external database).",
              {}, static_cast<double>(s.database_server.restarts));
  r.gauge("gavel_storage_writable",
          "0 while the database refuses the store's commits for want of storage "
          "(disk full, read-only); 1 otherwise.")
      .set(s.storage.failing ? 0 : 1);
  set_counter("gavel_storage_refused_commits_total",
              "Outbox transactions refused for want of storage (disk full, read-only).",
              {}, static_cast<double>(s.storage.failures));
  if (s.database_server.embedded)
    r.gauge("gavel_database_server_up",
            "1 while the embedded PostgreSQL cluster runs (its supervisor's view).")
        .set(s.database_server.state == "running" ? 1 : 0);
  r.gauge("gavel_auctions_active", "Open auctions held by auction actors.")
      .set(static_cast<double>(s.auctions.active));
  r.gauge("gavel_auctions_final_window", "Open auctions inside their final window.")
      .set(static_cast<double>(s.auctions.final_window.size()));
  if (s.facts_ok)
    r.gauge("gavel_sequence_gaps",
            "Auctions in their final window whose stored sequence has a gap.")
        .set(static_cast<double>(s.gaps.size()));
}

} // namespace gavel::actors
