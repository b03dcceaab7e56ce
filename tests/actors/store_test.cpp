#define CAF_SUITE actors.store
#include "actors/store.hpp"
#include "pg_fixture.hpp"

#include <caf/test/dsl.hpp>
#include <set>
#include <thread>

using namespace gavel;
using namespace gavel::actors;

namespace {

struct fixture : test_coordinator_fixture<> {
  /// Runs every pending message; unlike run(), never fires a timer, so time
  /// only moves when a test advances it.
  void drain() {
    while (consume_message())
      ;
  }

  test::fresh_database db;
  store_actor st;

  fixture() {
    st = sys.spawn(store, adapters::pg_store::options{db.url()}, store_settings{},
                   nullptr);
    drain();
  }

  ~fixture() {
    anon_send_exit(st, caf::exit_reason::kill);
    drain();
  }

  static persist_request request_for(std::int64_t auction, std::int64_t seq) {
    persist_request req;
    protocols::new_event e;
    e.auction_id = auction;
    e.type = protocols::event_type::bid_placed;
    e.bid_id = auction * 1000 + seq;
    e.event_id = protocols::bid_event_id(e.bid_id);
    e.bid_sequence = seq;
    e.producer_ms = 1'780'000'000'000;
    e.envelope = std::make_shared<const std::string>(R"({"metadata":{},"data":{}})");
    req.events.push_back(e);
    req.auction.auction_id = auction;
    req.auction.last_sequence = seq;
    req.auction.total_bid_count = seq;
    return req;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(store_tests, fixture)

CAF_TEST(requests that arrive together commit in one transaction) {
  std::vector<std::unique_ptr<caf::scoped_actor>> writers;
  for (int i = 0; i < 50; ++i) {
    writers.push_back(std::make_unique<caf::scoped_actor>(sys));
    (*writers.back())->send(st, atom::persist_v, request_for(100 + i, 2));
  }
  drain();
  std::set<std::int64_t> positions;
  for (auto& w : writers)
    (*w)->receive([&](persist_reply& r) { positions.insert(r.positions.at(0)); },
                  [&](caf::error& e) { CAF_FAIL("unexpected error " << to_string(e)); });
  CAF_CHECK_EQUAL(positions.size(), 50u);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox"), "50");
  // Rows written by one transaction share its transaction id.
  CAF_CHECK_EQUAL(db.scalar("select count(distinct xmin::text) from outbox"), "1");
  CAF_CHECK_EQUAL(db.scalar("select count(*) from auctions"), "50");
}

/// Sends `auctions` backfilled requests of four events each (auctions
/// first, first + 1, ...) and, when `live_auction` is not zero, one live
/// bid after them, all before the store runs; waits for every answer.
void persist_backfill_then_live(fixture& f, store_impl_actor limited, std::int64_t first,
                                std::int64_t auctions, std::int64_t live_auction) {
  std::vector<std::unique_ptr<caf::scoped_actor>> writers;
  for (std::int64_t a = first; a < first + auctions; ++a) {
    persist_request req;
    for (std::int64_t seq = 1; seq <= 4; ++seq) {
      auto one = fixture::request_for(a, seq);
      one.events[0].backfill = true;
      req.events.push_back(one.events[0]);
    }
    req.auction = fixture::request_for(a, 4).auction;
    req.auction.backfilled = true;
    writers.push_back(std::make_unique<caf::scoped_actor>(f.sys));
    (*writers.back())->send(limited, atom::persist_v, std::move(req));
  }
  if (live_auction != 0) {
    writers.push_back(std::make_unique<caf::scoped_actor>(f.sys));
    (*writers.back())
        ->send(limited, atom::persist_v, fixture::request_for(live_auction, 2));
  }
  f.drain();
  for (auto& w : writers)
    (*w)->receive([](persist_reply&) {},
                  [&](caf::error& e) { CAF_FAIL("unexpected error " << to_string(e)); });
}

CAF_TEST(live requests commit first and backfill takes a small share beside them) {
  store_settings small;
  small.max_batch_events = 8;
  auto limited = sys.spawn(store, adapters::pg_store::options{db.url()}, small, nullptr);
  drain();
  // Three backfilled auctions of four events each arrive before one live bid.
  persist_backfill_then_live(*this, limited, 1, 3, 9);
  // The live bid went first, alone (a 64th of eight is no room for
  // backfill); then, live traffic having just flowed, one backfill request
  // per commit.
  CAF_CHECK_EQUAL(db.scalar("select position from outbox where auction_id = 9"), "1");
  CAF_CHECK_EQUAL(db.scalar("select count(distinct xmin::text) from outbox"), "4");
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where backfill"), "12");
  // A second after the last live request, backfill fills whole commits
  // again: two requests of four, then the third.
  sched.clock().current_time += store_state::live_memory;
  persist_backfill_then_live(*this, limited, 11, 3, 0);
  CAF_CHECK_EQUAL(db.scalar("select count(distinct xmin::text) from outbox "
                            "where auction_id between 11 and 13"),
                  "2");
  anon_send_exit(limited, caf::exit_reason::kill);
  drain();
}

CAF_TEST(nothing is acknowledged when the commit fails and it recovers by itself) {
  self->send(st, atom::persist_v, request_for(1, 2));
  drain();
  bool ok = false;
  self->receive([&](persist_reply&) { ok = true; }, [&](caf::error&) {});
  CAF_REQUIRE(ok);
  CAF_REQUIRE_EQUAL(test::pg_ctl("stop"), 0);
  self->send(st, atom::persist_v, request_for(2, 2));
  drain();
  bool failed = false;
  self->receive([&](persist_reply&) { CAF_FAIL("acknowledged without a database"); },
                [&](caf::error& e) {
                  failed = true;
                  CAF_CHECK_EQUAL(e.category(), caf::atom("gavel"));
                });
  CAF_CHECK(failed);
  CAF_REQUIRE_EQUAL(test::pg_ctl("start"), 0);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 2"), "0");
  // The store reconnects on its own (after its backoff).
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    self->send(st, atom::persist_v, request_for(2, 2));
    drain();
    self->receive([&](persist_reply&) { recovered = true; }, [&](caf::error&) {});
  }
  CAF_CHECK(recovered);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 2"), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()

// Near a full disk a small commit still fits while most are refused: the
// condition must not end with each one, or /readyz and the alert flap.
CAF_TEST(the storage condition ends only after commits go through for the settle time) {
  storage_condition c;
  constexpr auto settle = storage_condition::settle_ms;
  c.fail("no space", 1000);
  CAF_CHECK(!c.clear(1100)); // one commit fitted
  CAF_CHECK(c.get(1100).failing);
  c.fail("no space", 1200); // the next one did not
  CAF_CHECK(!c.clear(1300));
  CAF_CHECK(c.get(1200 + settle - 1).failing);
  CAF_CHECK(!c.get(1200 + settle).failing); // read as ended, before the next commit
  CAF_CHECK(c.clear(1200 + settle + 50));   // which ends the episode
  CAF_CHECK(!c.get(1200 + settle + 50).failing);
  CAF_CHECK_EQUAL(c.get(1200 + settle + 50).failures, 2u);
}

CAF_TEST(a storage condition with no commit through since its last refusal stays) {
  storage_condition c;
  c.fail("no space", 1000);
  CAF_CHECK(!c.clear(1100));
  c.fail("no space", 2000);
  CAF_CHECK(c.get(2000 + 10 * storage_condition::settle_ms).failing);
  CAF_CHECK_EQUAL(c.get(2000).since_ms, 1000);
}
