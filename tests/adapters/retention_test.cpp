#define CAF_SUITE adapters.retention
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <caf/test/unit_test.hpp>
#include <chrono>

using namespace gavel;
using namespace gavel::adapters;
using gavel::protocols::auction_row;
using gavel::protocols::new_event;
using namespace std::chrono_literals;

namespace {

protocols::unix_ms now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct fixture {
  test::fresh_database db;
  pg_store store{{db.url()}};

  /// Commits `n` bids of `auction` (closed or not); returns their positions.
  std::vector<std::int64_t> bids(std::int64_t auction, int n, bool closed) {
    std::vector<new_event> events;
    for (int i = 1; i <= n; ++i) {
      new_event e;
      e.auction_id = auction;
      e.type = protocols::event_type::bid_placed;
      e.bid_id = auction * 1000 + i;
      e.event_id = protocols::bid_event_id(e.bid_id);
      e.bid_sequence = i;
      e.producer_ms = now_ms();
      e.envelope = std::make_shared<const std::string>("{}");
      events.push_back(e);
    }
    auction_row a;
    a.auction_id = auction;
    a.last_sequence = n;
    a.total_bid_count = n;
    a.closed = closed;
    auto r = store.commit(events, {a}, {});
    if (!r)
      CAF_FAIL("commit: " << r.err().message);
    return *r;
  }

  void deliver(const std::string& destination, std::int64_t position) {
    auto r = store.commit({}, {}, {{destination, position}});
    if (!r)
      CAF_FAIL("position: " << r.err().message);
  }

  /// Moves the rows of an auction `days` back in time (PostgreSQL moves them
  /// into that day's partition).
  void backdate(std::int64_t auction, int days) {
    db.scalar("update outbox set created_at = created_at - interval '" +
              std::to_string(days) +
              " days' where auction_id = " + std::to_string(auction));
  }

  std::int64_t rows_of(std::int64_t auction) {
    return std::stoll(db.scalar("select count(*) from outbox where auction_id = " +
                                std::to_string(auction)));
  }

  /// Event keys (migration 0009) of an auction's events.
  std::int64_t keys_of(std::int64_t auction) {
    return std::stoll(db.scalar("select count(*) from event_keys where auction_id = " +
                                std::to_string(auction)));
  }

  std::vector<protocols::outbox_partition> prune(bool execute) {
    auto r = store.prune(now_ms(), 30 * 24h, {"warehouse", "crm"}, execute);
    if (!r)
      CAF_FAIL("prune: " << r.err().message);
    return *r;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(retention_tests, fixture)

CAF_TEST(the migrated outbox is partitioned by day with a default partition) {
  CAF_CHECK_EQUAL(db.scalar("select count(*) from pg_inherits where inhparent = "
                            "'outbox'::regclass"),
                  "10"); // today, 8 days ahead, default
  auto positions = bids(1, 3, true);
  CAF_CHECK_EQUAL(positions, (std::vector<std::int64_t>{1, 2, 3}));
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox_default"), "0");
  // The safety nets hold within a partition.
  auto dup = store.query("insert into outbox (event_id, auction_id, event_type, "
                         "bid_sequence, producer_ts, envelope) values "
                         "('bid.placed-1001', 9, 'bid.placed', 1, now(), '{}')");
  CAF_CHECK(!dup);
  auto taken = store.query("insert into outbox (event_id, auction_id, event_type, "
                           "bid_sequence, producer_ts, envelope) values "
                           "('x', 1, 'bid.placed', 2, now(), '{}')");
  CAF_CHECK(!taken);
}

CAF_TEST(ensure partitions is idempotent) {
  auto first = store.ensure_partitions(now_ms() - 40LL * 86'400'000, 3);
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(*first, 4);
  auto again = store.ensure_partitions(now_ms() - 40LL * 86'400'000, 3);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(*again, 0);
}

CAF_TEST(rows older than max age go when delivered and stay when not ) {
  CAF_REQUIRE(store.ensure_partitions(now_ms() - 35LL * 86'400'000, 35));
  auto old_delivered = bids(1, 10, true);  // positions 1..10
  auto old_pending = bids(2, 10, true);    // 11..20
  auto young_delivered = bids(3, 5, true); // 21..25
  backdate(1, 33);
  backdate(2, 32);
  deliver("warehouse", old_delivered.back());
  deliver("crm", young_delivered.back());

  auto plan = prune(false);
  // Empty partitions past max_age go as well; of those with rows, exactly
  // the one holding positions 1..10 goes.
  std::size_t drops = 0;
  for (const auto& p : plan)
    if (p.drop && p.rows > 0) {
      ++drops;
      CAF_CHECK_EQUAL(p.max_position, 10);
      CAF_CHECK_EQUAL(p.rows, 10);
    }
  CAF_CHECK_EQUAL(drops, 1u);
  // A dry run changes nothing.
  CAF_CHECK_EQUAL(rows_of(1), 10);

  prune(true);
  CAF_CHECK_EQUAL(rows_of(1), 0);  // 31+ days old and delivered everywhere: gone
  CAF_CHECK_EQUAL(rows_of(2), 10); // old but warehouse still needs them: kept
  CAF_CHECK_EQUAL(rows_of(3), 5);  // delivered but young: kept
  // Event keys go with their rows and stay with the rest.
  CAF_CHECK_EQUAL(keys_of(1), 0);
  CAF_CHECK_EQUAL(keys_of(2), 10);
  CAF_CHECK_EQUAL(keys_of(3), 5);

  // Once every destination has them, they go too.
  deliver("warehouse", young_delivered.back());
  prune(true);
  CAF_CHECK_EQUAL(rows_of(2), 0);
  CAF_CHECK_EQUAL(rows_of(3), 5);
}

CAF_TEST(a destination that never stored a position holds everything) {
  CAF_REQUIRE(store.ensure_partitions(now_ms() - 35LL * 86'400'000, 35));
  auto p = bids(1, 3, true);
  backdate(1, 33);
  deliver("warehouse", p.back()); // crm has no position at all
  prune(true);
  CAF_CHECK_EQUAL(rows_of(1), 3);
}

CAF_TEST(rows of an auction still open are kept) {
  CAF_REQUIRE(store.ensure_partitions(now_ms() - 35LL * 86'400'000, 35));
  auto p = bids(1, 3, false);
  backdate(1, 33);
  deliver("warehouse", p.back());
  deliver("crm", p.back());
  bool reported = false;
  for (const auto& part : prune(true))
    reported |= part.reason == "holds rows of an auction still open";
  CAF_CHECK(reported);
  CAF_CHECK_EQUAL(rows_of(1), 3);
}

CAF_TEST(old delivered rows in the default partition are deleted) {
  // No partition for that day: the rows land in the default partition.
  auto p = bids(1, 4, true);
  backdate(1, 60);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox_default"), "4");
  deliver("warehouse", p.back());
  deliver("crm", p.back());
  bool reported = false;
  for (const auto& part : prune(true))
    reported |= part.reason == "deleted 4 row(s)";
  CAF_CHECK(reported);
  CAF_CHECK_EQUAL(rows_of(1), 0);
  CAF_CHECK_EQUAL(keys_of(1), 0);
}

CAF_TEST(an event_id of a pruned row may be stored again) {
  auto p = bids(1, 2, true);
  backdate(1, 60);
  deliver("warehouse", p.back());
  deliver("crm", p.back());
  prune(true);
  CAF_REQUIRE_EQUAL(rows_of(1), 0);
  // The same event_id, now of another auction: nothing left to conflict.
  new_event e;
  e.auction_id = 2;
  e.type = protocols::event_type::bid_placed;
  e.bid_id = 1001;
  e.event_id = protocols::bid_event_id(e.bid_id);
  e.bid_sequence = 1;
  e.producer_ms = now_ms();
  e.envelope = std::make_shared<const std::string>("{}");
  auction_row a;
  a.auction_id = 2;
  a.last_sequence = 1;
  auto r = store.commit({e}, {a}, {});
  CAF_CHECK(r.has_value());
}

CAF_TEST(facts report the head the first undelivered commit time and gaps) {
  auto p = bids(1, 3, true);
  bids(2, 2, true);
  // A hole in auction 2's sequence (a broken invariant the API must show).
  db.scalar("delete from outbox where auction_id = 2 and bid_sequence = 1");
  auto f = store.facts({0, p.back(), 100}, {1, 2});
  CAF_REQUIRE(f);
  CAF_CHECK_EQUAL(f->head_position, 5);
  CAF_REQUIRE_EQUAL(f->first_after_ms.size(), 3u);
  CAF_CHECK_GREATER(f->first_after_ms[0], 0);
  CAF_CHECK_GREATER(f->first_after_ms[1], 0);
  CAF_CHECK_EQUAL(f->first_after_ms[2], 0);
  CAF_REQUIRE_EQUAL(f->gaps.size(), 1u);
  CAF_CHECK_EQUAL(f->gaps[0].auction_id, 2);
  CAF_CHECK_EQUAL(f->gaps[0].last_sequence, 2);
  CAF_CHECK_EQUAL(f->gaps[0].counted, 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
