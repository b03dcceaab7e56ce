// Applying the compiled-in migrations (migrations/*.sql) in order.
#include "adapters/postgres/guarded.hpp"
#include "adapters/postgres/migrations.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

int latest_schema_version() {
  return postgres::migrations().back().version;
}

expected<int> pg_store::migrate() {
  return guarded("migrate", [&]() -> expected<int> {
    pqxx::work tx{*conn_};
    // Serialise concurrent migrators (two gavel processes starting at once).
    tx.exec("select pg_advisory_xact_lock(74061001)");
    tx.exec("create table if not exists gavel_schema_migrations ("
            " version int primary key, name text not null,"
            " applied_at timestamptz not null default now())");
    auto r = tx.exec("select coalesce(max(version), 0) from gavel_schema_migrations");
    int current = r[0][0].as<int>();
    if (current > latest_schema_version())
      return protocols::error{"internal", "",
                              "database schema version " + std::to_string(current) +
                                  " is newer than this build (" +
                                  std::to_string(latest_schema_version()) + ")"};
    for (const auto& m : postgres::migrations()) {
      if (m.version <= current)
        continue;
      tx.exec(m.sql);
      tx.exec_params(
          "insert into gavel_schema_migrations (version, name) values ($1, $2)",
          m.version, std::string{m.name});
      current = m.version;
    }
    tx.commit();
    return current;
  });
}

} // namespace gavel::adapters
