// The keys of storage: the database (external or embedded), the store's group
// commit and supervision, outbox retention (their code: adapters/postgres/,
// actors/store.cpp, actors/maintenance.cpp).
#include "adapters/config/key.hpp"

namespace gavel::adapters::keys {

void add_database_keys(std::vector<top_key>& k) {
  k.push_back(string_key<config>(
      "database", "url",
      "libpq URI or key=value string (secret: env:/file: accepted); empty: the "
      "embedded cluster under data_dir",
      [](auto& c) -> auto& { return c.database.url; }, unless_empty(check_database_url),
      {}, secret_or_empty));
  k.push_back(string_key<config>(
      "database", "data_dir", "home of the embedded cluster (used when url is empty)",
      [](auto& c) -> auto& { return c.database.data_dir; }, check_not_empty));
  k.push_back(duration_key<config>(
      "database", "connect_timeout", "time allowed to connect to PostgreSQL",
      [](auto& c) -> auto& { return c.database.connect_timeout; }));
  k.push_back(int_key<config>(
      "database", "restart_limit",
      "restarts of the embedded cluster tolerated within restart_period; beyond: "
      "alert, and restarts slow to one every 30 s (used when url is empty)",
      [](auto& c) -> auto& { return c.database.restart_limit; }, 0, 1000));
  k.push_back(duration_key<config>(
      "database", "restart_period",
      "window of the embedded cluster's restart intensity limit",
      [](auto& c) -> auto& { return c.database.restart_period; }));
}

void add_store_keys(std::vector<top_key>& k) {
  k.push_back(int_key<config>(
      "store", "max_batch_events", "most events written in one transaction",
      [](auto& c) -> auto& { return c.store.max_batch_events; }, 1, 1'000'000));
  k.push_back(bool_key<config>(
      "store", "synchronous_commit",
      "wait for the WAL flush before acknowledging (false risks acknowledged events "
      "on a PostgreSQL crash)",
      [](auto& c) -> auto& { return c.store.synchronous_commit; }));
  k.push_back(int_key<config>(
      "store", "restart_limit",
      "crashes of the store or the registry tolerated within restart_period; beyond: "
      "failed + alert (ingest answers 503 until an operator restart)",
      [](auto& c) -> auto& { return c.store.restart_limit; }, 0, 1000));
  k.push_back(duration_key<config>(
      "store", "restart_period", "window of the store's restart intensity limit",
      [](auto& c) -> auto& { return c.store.restart_period; }));
}

void add_retention_keys(std::vector<top_key>& k) {
  k.push_back(bool_key<config>(
      "retention", "enabled", "prune the outbox periodically in serve",
      [](auto& c) -> auto& { return c.retention.enabled; }));
  k.push_back(duration_key<config>(
      "retention", "max_age",
      "outbox rows older than this go, once every destination has them",
      [](auto& c) -> auto& { return c.retention.max_age; }));
  k.push_back(duration_key<config>(
      "retention", "interval", "how often serve prunes (and creates partitions)",
      [](auto& c) -> auto& { return c.retention.interval; }));
  k.push_back(int_key<config>(
      "retention", "partitions_ahead", "daily outbox partitions created in advance",
      [](auto& c) -> auto& { return c.retention.partitions_ahead; }, 1, 366));
}

} // namespace gavel::adapters::keys
