#include "actors/alerts.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace gavel::actors {

namespace {

struct alert_metrics {
  adapters::metrics::counter& sent_alert;
  adapters::metrics::counter& sent_recovery;
  adapters::metrics::counter& failed;
  adapters::metrics::gauge& open;
  adapters::metrics::gauge& suppressed;

  static alert_metrics& get() {
    auto& r = adapters::metrics::global();
    static alert_metrics m{
        r.counter("gavel_alerts_sent_total", "Alert notices sent (all channels).",
                  {{"kind", "alert"}}),
        r.counter("gavel_alerts_sent_total", "Alert notices sent (all channels).",
                  {{"kind", "recovery"}}),
        r.counter("gavel_alerts_send_failures_total",
                  "Alert notices a channel failed to take (retried)."),
        r.gauge("gavel_alerts_open_incidents", "Incidents currently open."),
        r.gauge("gavel_alerts_suppressed", "Notices held back by the rate limits.")};
    return m;
  }
};

void deliver(alerts_state& st, std::size_t i, const adapters::alert_notice& n,
             int attempt) {
  auto& sender = *st.senders[i];
  auto ok = sender.send(n);
  if (ok) {
    GAVEL_LOG_INFO("alerts: {} sent via {}", n.subject, sender.name());
    return;
  }
  alert_metrics::get().failed.inc();
  GAVEL_LOG_WARN("alerts: {} via {} failed (attempt {}): {}", n.subject, sender.name(),
                 attempt, ok.err().message);
  if (attempt < 5 && st.retry[i].size() < 50)
    st.retry[i].emplace_back(n, attempt + 1);
}

} // namespace

std::vector<std::shared_ptr<adapters::alert_sender>>
make_alert_senders(const adapters::alerts_config& cfg) {
  std::vector<std::shared_ptr<adapters::alert_sender>> out;
  if (auto s = adapters::make_email_sender(cfg))
    out.push_back(std::move(s));
  if (auto s = adapters::make_teams_sender(cfg))
    out.push_back(std::move(s));
  return out;
}

adapters::health_input to_health_input(const pipeline_snapshot& s) {
  adapters::health_input in;
  in.now = s.now;
  in.database_up = s.database_up && s.facts_ok;
  if (s.core_answered) {
    in.core_state = s.core.state;
    in.core_error = s.core.last_error;
  }
  in.database_over_limit = s.database_server.over_limit;
  in.database_error = s.database_server.last_error;
  in.storage_refusing = s.storage.failing;
  in.storage_error = s.storage.reason;
  for (const auto& d : s.destinations) {
    adapters::health_input::destination x;
    x.name = d.status.name;
    x.state = d.status.state;
    x.lag_seconds = d.lag_seconds;
    x.dead_letters = d.status.dead_letters;
    x.last_error = d.status.last_error;
    in.destinations.push_back(std::move(x));
  }
  in.sources = s.sources;
  return in;
}

alerts_actor::behavior_type
alerts(alerts_actor::stateful_pointer<alerts_state> self,
       std::shared_ptr<const health_sources> sources, adapters::alerts_config cfg,
       std::vector<std::shared_ptr<adapters::alert_sender>> senders) {
  auto& st = self->state;
  st.sources = std::move(sources);
  st.engine = std::make_unique<adapters::alert_engine>(cfg);
  st.cfg = std::move(cfg);
  st.senders = std::move(senders);
  st.retry.resize(st.senders.size());
  self->delayed_send(self, st.cfg.interval, atom::tick_v);
  return {
      [self](atom::tick) {
        auto& st = self->state;
        self->delayed_send(self, st.cfg.interval, atom::tick_v);
        // Notices that failed earlier go first, in order.
        for (std::size_t i = 0; i < st.senders.size(); ++i) {
          auto pending = std::move(st.retry[i]);
          st.retry[i].clear();
          for (auto& [n, attempt] : pending)
            deliver(st, i, n, attempt);
        }
        if (st.gathering)
          return; // the previous gather has not answered yet
        st.gathering = true;
        auto me = caf::actor_cast<alerts_actor>(self);
        gather_health(
            self->system(), st.sources,
            [me](pipeline_snapshot& snap) {
              caf::anon_send(me, atom::health_v, std::move(snap));
            },
            std::min<std::chrono::milliseconds>(st.cfg.interval * 2,
                                                std::chrono::seconds{5}));
      },
      [self](atom::health, pipeline_snapshot& snap) {
        auto& st = self->state;
        st.gathering = false;
        auto notices = st.engine->evaluate(to_health_input(snap));
        auto& m = alert_metrics::get();
        for (const auto& n : notices) {
          (n.recovery ? m.sent_recovery : m.sent_alert).inc();
          if (st.senders.empty())
            GAVEL_LOG_WARN("alerts: {} (no channel configured)", n.subject);
          for (std::size_t i = 0; i < st.senders.size(); ++i)
            deliver(st, i, n, 1);
        }
        m.open.set(static_cast<double>(st.engine->open_incidents().size()));
        m.suppressed.set(static_cast<double>(st.engine->suppressed()));
      },
  };
}

} // namespace gavel::actors
