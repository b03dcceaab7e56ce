#include "actors/sources.hpp"

#include "adapters/log.hpp"

#include <algorithm>

namespace gavel::actors {

namespace {

adapters::metrics::counter& events_counter(std::string_view source,
                                           std::string_view outcome) {
  return adapters::metrics::global().counter(
      "gavel_source_events_total",
      "Events a source handed over and Gavel took, by outcome (accepted, duplicate).",
      {{"source", std::string{source}}, {"outcome", std::string{outcome}}});
}

} // namespace

adapters::metrics::counter& source_rejected_counter(std::string_view source,
                                                    std::string_view reason) {
  return adapters::metrics::global().counter(
      "gavel_source_rejected_total",
      "Events a source handed over that Gavel turned away for good, by reason (the "
      "error code: schema, closed, event_id_conflict, malformed, ...).",
      {{"source", std::string{source}}, {"reason", std::string{reason}}});
}

source_registry::source_registry(const std::vector<adapters::source_config>& sources) {
  auto& m = adapters::metrics::global();
  for (const auto& sc : adapters::effective_sources(sources)) {
    auto e = std::make_unique<entry>();
    e->name = sc.name;
    e->kind =
        protocols::parse_source_kind(sc.kind).value_or(protocols::source_kind::http);
    e->file_default = sc.enabled;
    e->enabled = sc.enabled;
    e->propagation = &m.histogram(
        "gavel_source_propagation_seconds",
        "From an event's arrival (http) or its commit in the platform's inbox to its "
        "outbox commit.",
        adapters::metrics::latency_buckets(), {{"source", sc.name}});
    e->enabled_gauge = &m.gauge("gavel_source_enabled",
                                "1 while a source takes events, 0 while its flag is off.",
                                {{"source", sc.name}});
    e->enabled_gauge->set(sc.enabled ? 1 : 0);
    // The series exist from the start, at zero.
    events_counter(sc.name, "accepted");
    events_counter(sc.name, "duplicate");
    if (e->kind == protocols::source_kind::http)
      http_names_.push_back(sc.name);
    else {
      const auto* raw = e.get();
      m.gauge_callback("gavel_source_inbox_rows", "Rows waiting in an inbox source.",
                       {{"source", sc.name}},
                       [raw] { return static_cast<double>(raw->inbox_rows.load()); });
      m.gauge_callback("gavel_source_inbox_oldest_age_seconds",
                       "Age of the oldest row waiting in an inbox source (0: empty).",
                       {{"source", sc.name}}, [raw] {
                         auto ms = raw->inbox_oldest_ms.load();
                         return ms < 0 ? 0.0 : static_cast<double>(ms) / 1000;
                       });
    }
    entries_.push_back(std::move(e));
  }
}

source_registry::entry* source_registry::find(std::string_view name) noexcept {
  for (auto& e : entries_)
    if (e->name == name)
      return e.get();
  return nullptr;
}

void source_registry::apply(const std::vector<protocols::source_flag>& flags) {
  for (auto& e : entries_) {
    auto it =
        std::find_if(flags.begin(), flags.end(),
                     [&](const protocols::source_flag& f) { return f.name == e->name; });
    bool on = it == flags.end() ? e->file_default : it->enabled;
    e->enabled = on;
    e->enabled_gauge->set(on ? 1 : 0);
  }
  flags_known_ = true;
}

void source_registry::count(entry& e, protocols::ingest_error outcome, bool duplicate,
                            std::string_view reason,
                            std::chrono::duration<double> propagation,
                            std::int64_t now_ms) {
  if (outcome == protocols::ingest_error::none) {
    (duplicate ? e.duplicate : e.accepted).fetch_add(1);
    events_counter(e.name, duplicate ? "duplicate" : "accepted").inc();
    e.last_event_ms = now_ms;
    if (!duplicate)
      e.propagation->observe(propagation.count());
    return;
  }
  if (protocols::retryable(outcome))
    return; // not taken, but not refused for good: the producer sends it again
  e.rejected.fetch_add(1);
  source_rejected_counter(e.name, reason).inc();
}

sources_actor::behavior_type sources(sources_actor::stateful_pointer<sources_state> self,
                                     adapters::pg_store::options db,
                                     std::shared_ptr<source_registry> registry,
                                     std::chrono::milliseconds refresh) {
  db.application_name = "gavel-sources";
  auto& st = self->state;
  st.db = std::make_unique<adapters::pg_store>(std::move(db));
  st.registry = std::move(registry);
  st.refresh = refresh;
  self->send(self, atom::refresh_v);
  return {
      [self](atom::set_flag, const std::string& name, bool enabled,
             const std::string& by) -> caf::result<protocols::source_flag> {
        auto& st = self->state;
        if (!st.registry->find(name))
          return make_error(errc::internal, "no source named " + name);
        auto stored = st.db->set_source_flag(name, enabled, by);
        if (!stored)
          return make_error(stored.err());
        // Everything persisted, not only this row: a flag set elsewhere in
        // the meantime is applied with it.
        if (auto all = st.db->source_flags())
          st.registry->apply(*all);
        else if (auto* e = st.registry->find(name)) {
          e->enabled = enabled;
          e->enabled_gauge->set(enabled ? 1 : 0);
        }
        GAVEL_LOG_INFO("source {} {} by token {}", name, enabled ? "enabled" : "disabled",
                       by);
        return std::move(*stored);
      },
      [self](atom::refresh) {
        auto& st = self->state;
        auto flags = st.db->source_flags();
        if (flags) {
          st.registry->apply(*flags);
          st.reported_failure = false;
        } else if (!st.reported_failure) {
          st.reported_failure = true;
          GAVEL_LOG_WARN("sources: cannot read the source flags (kept as they were): {}",
                         flags.err().message);
        }
        self->delayed_send(self, st.refresh, atom::refresh_v);
      },
  };
}

} // namespace gavel::actors
