// Health facts about the outbox for /v1/pipeline, /metrics and alerts.
#include "adapters/postgres/arrays.hpp"
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

using postgres::int_array;

expected<protocols::outbox_facts>
pg_store::facts(const std::vector<std::int64_t>& positions,
                const std::vector<std::int64_t>& auctions) {
  return guarded("outbox facts", [&]() -> expected<protocols::outbox_facts> {
    pqxx::read_transaction tx{*conn_};
    protocols::outbox_facts out;
    out.head_position =
        tx.exec("select coalesce(max(position), 0) from outbox")[0][0].as<std::int64_t>();
    for (auto p : positions) {
      auto r = tx.exec_params("select (extract(epoch from created_at) * 1000)::bigint "
                              "from outbox where position > $1 order by position limit 1",
                              p);
      out.first_after_ms.push_back(r.empty() ? 0 : r[0][0].as<std::int64_t>());
    }
    if (!auctions.empty()) {
      // One statement: the auction row and its outbox rows commit together,
      // so a statement snapshot sees them consistent.
      auto r = tx.exec_params(R"sql(
select a.auction_id, a.last_sequence, count(distinct o.bid_sequence),
       coalesce(max(o.bid_sequence), 0)
from auctions a
left join outbox o on o.auction_id = a.auction_id
                  and o.event_type in ('auction.opened', 'bid.placed')
where a.auction_id = any($1::bigint[])
group by a.auction_id, a.last_sequence
having count(distinct o.bid_sequence) <> a.last_sequence
    or coalesce(max(o.bid_sequence), 0) <> a.last_sequence)sql",
                              int_array(auctions, [](auto x) { return x; }));
      for (const auto& row : r)
        out.gaps.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                            row[2].as<std::int64_t>()});
    }
    return out;
  });
}

} // namespace gavel::adapters
