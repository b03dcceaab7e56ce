#define CAF_SUITE adapters.backfill_jobs
// Backfill jobs and the backfill lane in the store (migration 0008): the
// checkpoint moves only from where it is, by one run at a time; a job name
// holds one file; rows and auctions keep their lane through a restart.
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel;

namespace {

struct fixture {
  test::fresh_database db;
  adapters::pg_store store{{db.url()}};
};

/// A step of run `run` reporting the stored prefix (offset, records).
protocols::backfill_step step(std::int64_t run, std::int64_t offset,
                              std::int64_t records) {
  protocols::backfill_step s;
  s.job = "history";
  s.source = "default";
  s.run = run;
  s.offset = offset;
  s.records = records;
  return s;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(backfill_job_tests, fixture)

CAF_TEST(a job starts at zero and finds its checkpoint again) {
  auto j = store.begin_backfill("history", "default", 1000, "ab12");
  CAF_REQUIRE(j);
  CAF_CHECK_EQUAL(j->offset, 0);
  CAF_CHECK_EQUAL(j->run, 1);
  CAF_CHECK(!j->done());
  auto s = step(1, 400, 10);
  s.accepted = 7;
  s.duplicate = 1;
  s.rejected = {{"schema", 2}};
  auto moved = store.advance_backfill(s);
  CAF_REQUIRE(moved);
  CAF_CHECK_EQUAL(moved->offset, 400);
  CAF_CHECK_EQUAL(moved->records, 10);
  CAF_CHECK_EQUAL(moved->percent_complete(), 40.0);
  s = step(1, 1000, 15);
  s.accepted = 3;
  s.rejected = {{"closed", 1}, {"schema", 1}};
  moved = store.advance_backfill(s);
  CAF_REQUIRE(moved);
  CAF_CHECK(moved->done());
  CAF_CHECK_EQUAL(moved->records, 15);
  CAF_CHECK_EQUAL(moved->accepted, 10);
  CAF_CHECK_EQUAL(moved->duplicate, 1);
  CAF_CHECK_EQUAL(moved->rejected_total(), 4);
  CAF_CHECK(
      (moved->rejected == protocols::rejected_counts{{"closed", 1}, {"schema", 3}}));
  // Begun again (a rerun): the stored checkpoint comes back, as run 2.
  auto again = store.begin_backfill("history", "default", 1000, "ab12");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->offset, 1000);
  CAF_CHECK_EQUAL(again->run, 2);
  CAF_CHECK(again->done());
  auto all = store.backfill_jobs();
  CAF_REQUIRE(all);
  CAF_CHECK_EQUAL(all->size(), 1u);
}

CAF_TEST(the checkpoint only moves forward and only for the newest run) {
  CAF_REQUIRE(store.begin_backfill("history", "default", 1000, "ab12"));
  CAF_REQUIRE(store.advance_backfill(step(1, 300, 9)));
  // Answers of several connections arrive out of order: an older prefix
  // adds its counts but never moves the checkpoint back.
  auto late = step(1, 100, 3);
  late.accepted = 4;
  auto j = store.advance_backfill(late);
  CAF_REQUIRE(j);
  CAF_CHECK_EQUAL(j->offset, 300);
  CAF_CHECK_EQUAL(j->records, 9);
  CAF_CHECK_EQUAL(j->accepted, 4);
  // A second run begins: the first can no longer move it.
  auto second = store.begin_backfill("history", "default", 1000, "ab12");
  CAF_REQUIRE(second);
  CAF_CHECK_EQUAL(second->run, 2);
  auto stale = store.advance_backfill(step(1, 500, 12));
  CAF_REQUIRE(!stale);
  CAF_CHECK_EQUAL(stale.err().code, "conflict");
  auto other_source = step(2, 500, 12);
  other_source.source = "shop";
  // Each answer named: the check reads its error after the statement.
  auto wrong_source = store.advance_backfill(other_source);
  CAF_CHECK_EQUAL(wrong_source.err().code, "conflict");
  auto unknown = step(1, 10, 1);
  unknown.job = "nothing";
  auto no_job = store.advance_backfill(unknown);
  CAF_CHECK_EQUAL(no_job.err().code, "not_found");
  auto now = store.advance_backfill(step(2, 500, 12));
  CAF_REQUIRE(now);
  CAF_CHECK_EQUAL(now->offset, 500);
  CAF_CHECK_EQUAL(now->records, 12);
}

CAF_TEST(a job name holds one file and one source) {
  CAF_REQUIRE(store.begin_backfill("history", "default", 1000, "ab12"));
  auto other_file = store.begin_backfill("history", "default", 1000, "cd34");
  CAF_REQUIRE(!other_file);
  CAF_CHECK_EQUAL(other_file.err().code, "conflict");
  auto other_size = store.begin_backfill("history", "default", 999, "ab12");
  CAF_CHECK_EQUAL(other_size.err().code, "conflict");
  auto other_source = store.begin_backfill("history", "shop", 1000, "ab12");
  CAF_CHECK_EQUAL(other_source.err().code, "conflict");
}

CAF_TEST(rows and auctions keep their backfill lane) {
  auto event = [](std::int64_t auction, std::int64_t seq, bool backfill) {
    protocols::new_event e;
    e.event_id = "bid.placed-" + std::to_string(auction * 100 + seq);
    e.auction_id = auction;
    e.bid_sequence = seq;
    e.bid_id = auction * 100 + seq;
    e.producer_ms = 1781000000000;
    e.envelope = std::make_shared<const std::string>("{}");
    e.backfill = backfill;
    return e;
  };
  protocols::auction_row old_one, live_one;
  old_one.auction_id = 1;
  old_one.last_sequence = 1;
  old_one.backfilled = true;
  live_one.auction_id = 2;
  live_one.last_sequence = 1;
  CAF_REQUIRE(
      store.commit({event(1, 1, true), event(2, 1, false)}, {old_one, live_one}, {}));
  auto rows = store.read_outbox(0, 10);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 2u);
  CAF_CHECK((*rows)[0].backfill);
  CAF_CHECK(!(*rows)[1].backfill);
  auto loaded = store.load_auctions({1, 2});
  CAF_REQUIRE(loaded);
  CAF_CHECK((*loaded)[0].row.backfilled);
  CAF_CHECK(!(*loaded)[1].row.backfilled);
}

CAF_TEST_FIXTURE_SCOPE_END()
