// The audit log of unmasked reads (migrations/0005_audit_log.sql).
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

expected<std::int64_t> pg_store::append_audit(const protocols::audit_record& r) {
  return guarded("append audit record", [&]() -> expected<std::int64_t> {
    pqxx::work tx{*conn_};
    auto row = tx.exec_params1("insert into audit_log (token, route, query, records) "
                               "values ($1, $2, $3, $4) returning id",
                               r.token, r.route, r.query, r.records);
    tx.commit();
    return row[0].as<std::int64_t>();
  });
}

expected<std::vector<protocols::audit_record>>
pg_store::audit_records(std::int64_t before, std::size_t limit) {
  using rows = std::vector<protocols::audit_record>;
  return guarded("read audit records", [&]() -> expected<rows> {
    pqxx::read_transaction tx{*conn_};
    auto r = tx.exec_params("select id, token, (extract(epoch from at) * 1000)::bigint, "
                            "route, query, records "
                            "from audit_log where ($1::bigint = 0 or id < $1::bigint) "
                            "order by id desc limit $2::bigint",
                            before, static_cast<std::int64_t>(limit));
    rows out;
    out.reserve(r.size());
    for (const auto& row : r) {
      protocols::audit_record a;
      a.id = row[0].as<std::int64_t>();
      a.token = row[1].c_str();
      a.at_ms = row[2].as<std::int64_t>();
      a.route = row[3].c_str();
      a.query = row[4].c_str();
      a.records = row[5].as<std::int64_t>();
      out.push_back(std::move(a));
    }
    return out;
  });
}

} // namespace gavel::adapters
