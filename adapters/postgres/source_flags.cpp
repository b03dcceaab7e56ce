// The persisted source flags (migrations/0007_source_flags.sql).
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

namespace {

protocols::source_flag to_flag(const pqxx::row& row) {
  protocols::source_flag f;
  f.name = row[0].c_str();
  f.enabled = row[1].as<bool>();
  f.changed_ms = row[2].as<std::int64_t>();
  f.changed_by = row[3].c_str();
  return f;
}

constexpr const char* columns =
    "name, enabled, (extract(epoch from changed_at) * 1000)::bigint, changed_by";

} // namespace

expected<std::vector<protocols::source_flag>> pg_store::source_flags() {
  using flags = std::vector<protocols::source_flag>;
  return guarded("read source flags", [&]() -> expected<flags> {
    pqxx::read_transaction tx{*conn_};
    auto r =
        tx.exec(std::string{"select "} + columns + " from source_flags order by name");
    flags out;
    out.reserve(r.size());
    for (const auto& row : r)
      out.push_back(to_flag(row));
    return out;
  });
}

expected<protocols::source_flag>
pg_store::set_source_flag(const std::string& name, bool enabled, const std::string& by) {
  return guarded("set a source flag", [&]() -> expected<protocols::source_flag> {
    pqxx::work tx{*conn_};
    auto row = tx.exec_params1(
        std::string{"insert into source_flags (name, enabled, changed_by) "
                    "values ($1, $2, $3) on conflict (name) do update set "
                    "enabled = excluded.enabled, changed_at = now(), "
                    "changed_by = excluded.changed_by returning "} +
            columns,
        name, enabled, by);
    tx.commit();
    return to_flag(row);
  });
}

} // namespace gavel::adapters
