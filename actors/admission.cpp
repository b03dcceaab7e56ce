#include "actors/admission.hpp"

#include "adapters/metrics.hpp"

namespace gavel::actors {

namespace {

adapters::metrics::counter& shed_counter(protocols::shed_reason r) {
  return adapters::metrics::global().counter(
      "gavel_ingest_shed_total",
      "POST /v1/events requests answered 503 at admission, by reason (queue_delay: the "
      "adaptive limit, the answer would be late; max_in_flight: the hard cap).",
      {{"reason", std::string{protocols::to_string(r)}}});
}

} // namespace

protocols::admission_settings admission_gate::settings(const adapters::config& cfg) {
  protocols::admission_settings s;
  s.enabled = cfg.admission.enabled;
  s.target_delay = cfg.admission.target_delay;
  s.interval = cfg.admission.interval;
  s.initial_limit = cfg.admission.initial_limit;
  s.min_limit = cfg.admission.min_limit;
  s.max_in_flight = cfg.server.max_in_flight; // the hard bound stays where it was
  return s;
}

admission_gate::admission_gate(protocols::admission_settings s)
    : ctl_(s, protocols::admission_clock::now()) {}

protocols::shed_reason admission_gate::check() {
  protocols::shed_reason r;
  {
    std::lock_guard lock{mtx_};
    r = ctl_.check(protocols::admission_clock::now());
  }
  count(r);
  return r;
}

protocols::shed_reason admission_gate::acquire(std::size_t n) {
  protocols::shed_reason r;
  {
    std::lock_guard lock{mtx_};
    r = ctl_.acquire(protocols::admission_clock::now(), n);
    in_flight_.store(ctl_.in_flight());
  }
  count(r);
  return r;
}

protocols::shed_reason admission_gate::acquire_spare(std::size_t n) {
  // Not counted with the sheds: a backfill waiting for spare capacity is the
  // design working, not live traffic turned away.
  if (behind_ && behind_->load() > 0)
    return protocols::shed_reason::queue_delay;
  std::lock_guard lock{mtx_};
  auto r = ctl_.acquire_spare(protocols::admission_clock::now(), n);
  in_flight_.store(ctl_.in_flight());
  return r;
}

protocols::shed_reason admission_gate::check_spare() {
  if (behind_ && behind_->load() > 0)
    return protocols::shed_reason::queue_delay;
  std::lock_guard lock{mtx_};
  return ctl_.check_spare(protocols::admission_clock::now());
}

void admission_gate::release_spare(std::size_t n) {
  std::lock_guard lock{mtx_};
  ctl_.release_spare(protocols::admission_clock::now(), n);
  in_flight_.store(ctl_.in_flight());
}

void admission_gate::release(std::size_t n, protocols::admission_time admitted) {
  std::lock_guard lock{mtx_};
  ctl_.release(protocols::admission_clock::now(), n, admitted);
  in_flight_.store(ctl_.in_flight());
}

void admission_gate::count(protocols::shed_reason r) {
  // Looked up per shed, not per request: the hot path (admit) stays lock-light.
  if (r != protocols::shed_reason::none)
    shed_counter(r).inc();
}

void admission_gate::register_metrics(const std::shared_ptr<admission_gate>& self) {
  using protocols::shed_reason;
  for (auto r : {shed_reason::queue_delay, shed_reason::max_in_flight})
    shed_counter(r); // present from the start, at zero
  auto& reg = adapters::metrics::global();
  reg.gauge_callback("gavel_ingest_in_flight_events",
                     "Events accepted by the API, not yet answered.", {},
                     [self] { return static_cast<double>(self->in_flight()); });
  reg.gauge_callback(
      "gavel_admission_limit_events",
      "Current adaptive limit on events in flight (ADR 0014); requests beyond get 503.",
      {}, [self] {
        std::lock_guard lock{self->mtx_};
        return static_cast<double>(self->ctl_.limit());
      });
  reg.gauge_callback(
      "gavel_admission_backfill_pace_events_per_second",
      "Backfill's pace beside live traffic: halved while live answers slow down, grown "
      "while they are on time (docs/backfill.md).",
      {}, [self] {
        std::lock_guard lock{self->mtx_};
        return self->ctl_.spare_rate();
      });
  reg.gauge_callback(
      "gavel_admission_queue_delay_seconds",
      "Fastest ingest answer of the last interval: the standing queue delay the "
      "adaptive limit holds near admission.target_delay.",
      {}, [self] {
        std::lock_guard lock{self->mtx_};
        return std::chrono::duration<double>(self->ctl_.queue_delay()).count();
      });
}

} // namespace gavel::actors
