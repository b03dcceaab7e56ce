#pragma once

#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/postgres/store.hpp"

#include <memory>

namespace gavel::actors {

struct maintenance_settings {
  bool retention_enabled = true;
  std::chrono::milliseconds max_age{30LL * 24 * 3'600'000};
  std::chrono::milliseconds interval{3'600'000};
  unsigned partitions_ahead = 7;
  std::vector<std::string> destinations; ///< every configured destination's name
};

maintenance_settings make_maintenance_settings(const adapters::config& cfg);

/// The maintenance actor's own timer: periodic retention.
using maintenance_impl_actor = maintenance_actor::extend<caf::reacts_to<atom::tick>>;

struct maintenance_state {
  std::unique_ptr<adapters::pg_store> db;
  maintenance_settings settings;
  static inline const char* name = "gavel.maintenance";
};

/// The MAINTENANCE actor (spawn detached): health facts for the operations
/// API and alerts, and the periodic retention (daily partitions created ahead,
/// old delivered ones dropped). Its first tick runs at once.
maintenance_impl_actor::behavior_type
maintenance(maintenance_impl_actor::stateful_pointer<maintenance_state> self,
            adapters::pg_store::options db, maintenance_settings settings);

/// One retention run on `db` (create partitions ahead, then prune or plan);
/// shared by the actor and `gavel prune`.
protocols::expected<std::vector<protocols::outbox_partition>>
run_retention(adapters::pg_store& db, const maintenance_settings& settings, bool execute);

} // namespace gavel::actors
