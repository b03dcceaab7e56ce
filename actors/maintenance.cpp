#include "actors/maintenance.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "protocols/time.hpp"

namespace gavel::actors {

maintenance_settings make_maintenance_settings(const adapters::config& cfg) {
  maintenance_settings s;
  s.retention_enabled = cfg.retention.enabled;
  s.max_age = cfg.retention.max_age;
  s.interval = cfg.retention.interval;
  s.partitions_ahead = cfg.retention.partitions_ahead;
  for (const auto& d : cfg.destinations)
    s.destinations.push_back(d.name);
  return s;
}

protocols::expected<std::vector<protocols::outbox_partition>>
run_retention(adapters::pg_store& db, const maintenance_settings& settings,
              bool execute) {
  auto now = protocols::unix_now_ms();
  if (auto made = db.ensure_partitions(now, static_cast<int>(settings.partitions_ahead));
      !made)
    GAVEL_LOG_WARN("retention: cannot create partitions: {}", made.err().message);
  else if (*made > 0)
    GAVEL_LOG_INFO("retention: created {} outbox partition(s)", *made);
  return db.prune(now, settings.max_age, settings.destinations, execute);
}

maintenance_impl_actor::behavior_type
maintenance(maintenance_impl_actor::stateful_pointer<maintenance_state> self,
            adapters::pg_store::options db, maintenance_settings settings) {
  namespace m = adapters::metrics;
  self->state.db = std::make_unique<adapters::pg_store>(std::move(db));
  self->state.settings = std::move(settings);
  self->send(self, atom::tick_v);
  return {
      [self](
          atom::health, std::vector<std::int64_t>& positions,
          std::vector<std::int64_t>& auctions) -> caf::result<protocols::outbox_facts> {
        auto f = self->state.db->facts(positions, auctions);
        if (!f)
          return make_error(f.err());
        return std::move(*f);
      },
      [self](atom::prune,
             bool execute) -> caf::result<std::vector<protocols::outbox_partition>> {
        auto r = run_retention(*self->state.db, self->state.settings, execute);
        if (!r)
          return make_error(r.err());
        return std::move(*r);
      },
      [self](atom::tick) {
        static auto& runs_ok =
            m::global().counter("gavel_retention_runs_total",
                                "Retention runs, by outcome.", {{"outcome", "ok"}});
        static auto& runs_failed =
            m::global().counter("gavel_retention_runs_total",
                                "Retention runs, by outcome.", {{"outcome", "failed"}});
        static auto& dropped = m::global().counter(
            "gavel_retention_partitions_dropped_total", "Outbox partitions dropped.");
        static auto& partitions =
            m::global().gauge("gavel_outbox_partitions", "Outbox partitions.");
        auto& st = self->state;
        self->delayed_send(self, st.settings.interval, atom::tick_v);
        auto r = run_retention(*st.db, st.settings, st.settings.retention_enabled);
        if (!r) {
          runs_failed.inc();
          GAVEL_LOG_WARN("retention: {}", r.err().message);
          return;
        }
        runs_ok.inc();
        std::size_t n = 0;
        for (const auto& p : *r)
          if (p.drop && !p.is_default) {
            ++n;
            GAVEL_LOG_INFO("retention: dropped {} ({} rows, through position {})", p.name,
                           p.rows, p.max_position);
          } else if (p.drop) {
            GAVEL_LOG_INFO("retention: {}: {}", p.name, p.reason);
          }
        dropped.inc(n);
        partitions.set(static_cast<double>(r->size() - n));
      },
  };
}

} // namespace gavel::actors
