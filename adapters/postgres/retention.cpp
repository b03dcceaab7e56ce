// Retention (docs/adr/0005-outbox-retention.md): daily outbox partitions
// made ahead of time, and dropped once nothing needs them.
#include "adapters/postgres/arrays.hpp"
#include "adapters/postgres/guarded.hpp"

#include <limits>
#include <pqxx/pqxx>

namespace gavel::adapters {

using postgres::text_array;

expected<int> pg_store::ensure_partitions(protocols::unix_ms now, int days_ahead) {
  return guarded("ensure partitions", [&]() -> expected<int> {
    pqxx::work tx{*conn_};
    // Creating a partition locks the parent briefly; never queue behind a
    // long reader: fail and try again at the next run.
    tx.exec("set local lock_timeout = '2s'");
    auto r = tx.exec_params(R"sql(
select count(*) filter (where gavel_outbox_partition(d::date))
from generate_series((to_timestamp($1::bigint / 1000.0) at time zone 'UTC')::date,
                     (to_timestamp($1::bigint / 1000.0) at time zone 'UTC')::date + $2::int,
                     interval '1 day') as d)sql",
                            now, days_ahead);
    tx.commit();
    return r[0][0].as<int>();
  });
}

expected<std::vector<protocols::outbox_partition>>
pg_store::prune(protocols::unix_ms now, std::chrono::milliseconds max_age,
                const std::vector<std::string>& destinations, bool execute) {
  return guarded("prune", [&]() -> expected<std::vector<protocols::outbox_partition>> {
    const protocols::unix_ms cutoff = now - max_age.count();
    std::vector<protocols::outbox_partition> out;
    std::int64_t min_delivered = std::numeric_limits<std::int64_t>::max();
    {
      pqxx::read_transaction tx{*conn_};
      if (!destinations.empty()) {
        auto a_names =
            text_array(destinations, [](auto& d) -> const std::string& { return d; });
        // A destination without a stored position has delivered nothing.
        min_delivered = tx.exec_params(R"sql(
select min(coalesce(p.delivered_through, 0))
from unnest($1::text[]) as d(name)
left join destination_positions p on p.destination = d.name)sql",
                                       a_names)[0][0]
                            .as<std::int64_t>();
      }
      auto parts = tx.exec(R"sql(
select c.relname, c.relpartbound is not null and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
       coalesce((extract(epoch from substring(pg_get_expr(c.relpartbound, c.oid)
                 from 'FROM \(''([^'']*)''\)')::timestamptz) * 1000)::bigint, 0),
       coalesce((extract(epoch from substring(pg_get_expr(c.relpartbound, c.oid)
                 from 'TO \(''([^'']*)''\)')::timestamptz) * 1000)::bigint, 0),
       c.reltuples::bigint
from pg_inherits i join pg_class c on c.oid = i.inhrelid
where i.inhparent = 'outbox'::regclass
order by 3, 1)sql");
      for (const auto& row : parts) {
        protocols::outbox_partition p;
        p.name = row[0].c_str();
        p.is_default = row[1].as<bool>();
        p.from_ms = row[2].as<std::int64_t>();
        p.to_ms = row[3].as<std::int64_t>();
        p.rows = row[4].as<std::int64_t>();
        auto table = tx.quote_name(p.name);
        p.max_position = tx.exec("select coalesce(max(position), 0) from " + table)[0][0]
                             .as<std::int64_t>();
        // The planner's estimate (-1 when never analysed) is exact enough
        // only for large tables.
        if (p.rows < 10000)
          p.rows = tx.exec("select count(*) from " + table)[0][0].as<std::int64_t>();
        if (p.is_default) {
          auto n = tx.exec_params("select count(*) from " + table + R"sql( o
where o.created_at < to_timestamp($1::bigint / 1000.0) and o.position <= $2
  and not exists (select 1 from auctions a
                  where a.auction_id = o.auction_id and not a.closed))sql",
                                  cutoff, min_delivered)[0][0]
                       .as<std::int64_t>();
          p.drop = n > 0;
          p.reason = n > 0 ? "delete " + std::to_string(n) + " old delivered row(s)"
                           : "nothing old and delivered";
          out.push_back(std::move(p));
          continue;
        }
        bool open_auction =
            tx.exec("select exists (select 1 from auctions a where not a.closed and "
                    "exists (select 1 from " +
                    table + " o where o.auction_id = a.auction_id))")[0][0]
                .as<bool>();
        if (p.to_ms > cutoff)
          p.reason = "newer than max_age";
        else if (p.max_position > min_delivered)
          p.reason = "not delivered everywhere yet (position " +
                     std::to_string(p.max_position) + " > delivered through " +
                     std::to_string(min_delivered) + ")";
        else if (open_auction)
          p.reason = "holds rows of an auction still open";
        else {
          p.drop = true;
          p.reason = "drop";
        }
        out.push_back(std::move(p));
      }
    }
    if (!execute)
      return out;
    for (auto& p : out) {
      if (!p.drop)
        continue;
      try {
        pqxx::work tx{*conn_};
        tx.exec("set local lock_timeout = '2s'");
        if (p.is_default) {
          // Rare (maintenance was late): row deletes, bounded per run.
          // The rows' event keys go with them (migration 0009).
          auto r = tx.exec_params(R"sql(
with gone as (
  delete from outbox_default where ctid in (
    select o.ctid from outbox_default o
    where o.created_at < to_timestamp($1::bigint / 1000.0) and o.position <= $2
      and not exists (select 1 from auctions a
                      where a.auction_id = o.auction_id and not a.closed)
    limit 10000)
  returning event_id),
keys as (delete from event_keys k using gone where k.event_id = gone.event_id)
select count(*) from gone)sql",
                                  cutoff, min_delivered);
          p.reason = "deleted " + r[0][0].as<std::string>() + " row(s)";
        } else {
          tx.exec("delete from event_keys k using " + tx.quote_name(p.name) +
                  " o where k.event_id = o.event_id");
          tx.exec("drop table " + tx.quote_name(p.name));
          p.reason = "dropped";
        }
        tx.commit();
      } catch (const pqxx::sql_error& e) {
        // 55P03 lock_not_available: the table is busy; next run.
        if (e.sqlstate() != "55P03")
          throw;
        p.drop = false;
        p.reason = "busy (lock timeout); retried at the next run";
      }
    }
    return out;
  });
}

} // namespace gavel::adapters
