#pragma once

#include "actors/health.hpp"
#include "adapters/alert.hpp"

#include <deque>
#include <memory>

namespace gavel::actors {

/// The ALERTS actor interface.
using alerts_actor = caf::typed_actor<
    /// Evaluate now (periodic, sent to itself every alerts.interval).
    caf::reacts_to<atom::tick>,
    /// A health snapshot to evaluate (the reply of a gather it started).
    caf::reacts_to<atom::health, pipeline_snapshot>>;

struct alerts_state {
  std::shared_ptr<const health_sources> sources;
  std::unique_ptr<adapters::alert_engine> engine;
  std::vector<std::shared_ptr<adapters::alert_sender>> senders;
  /// Notices a sender failed to deliver, retried at the next ticks (bounded).
  std::vector<std::deque<std::pair<adapters::alert_notice, int>>> retry;
  adapters::alerts_config cfg;
  bool gathering = false;
  static inline const char* name = "gavel.alerts";
};

/// Builds the configured senders (email, Teams); empty when none is set.
std::vector<std::shared_ptr<adapters::alert_sender>>
make_alert_senders(const adapters::alerts_config& cfg);

/// The ALERTS actor (spawn detached: sending blocks): every `cfg.interval`
/// gathers pipeline health, runs the rules (adapters::alert_engine: one alert
/// and one recovery notice per incident, rate-limited) and sends the notices
/// to every sender. Alert text carries no secret and no bidder data.
alerts_actor::behavior_type
alerts(alerts_actor::stateful_pointer<alerts_state> self,
       std::shared_ptr<const health_sources> sources, adapters::alerts_config cfg,
       std::vector<std::shared_ptr<adapters::alert_sender>> senders);

/// What the rules see of a snapshot (the database counts as unreachable when
/// the store says so or the outbox facts query failed).
adapters::health_input to_health_input(const pipeline_snapshot& s);

} // namespace gavel::actors
