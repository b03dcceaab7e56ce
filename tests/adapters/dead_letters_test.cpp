#define CAF_SUITE adapters.dead_letters
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <caf/test/unit_test.hpp>
#include <set>

using namespace gavel;
using protocols::dead_letter;
constexpr auto dead = protocols::dead_letter_status::dead;
constexpr auto parked = protocols::dead_letter_status::parked;

namespace {

protocols::new_event event(std::int64_t auction, std::int64_t seq, std::string body) {
  protocols::new_event e;
  e.event_id = "bid.placed-" + std::to_string(auction * 1000 + seq);
  e.auction_id = auction;
  e.type = protocols::event_type::bid_placed;
  e.bid_sequence = seq;
  e.bid_id = auction * 1000 + seq;
  e.producer_ms = 1781000000000;
  e.envelope = std::make_shared<const std::string>(std::move(body));
  return e;
}

dead_letter letter(const protocols::new_event& e, std::int64_t position,
                   protocols::dead_letter_status status, std::string reason) {
  dead_letter d;
  d.destination = "crm";
  d.position = position;
  d.auction_id = e.auction_id;
  d.event_id = e.event_id;
  d.type = e.type;
  d.bid_sequence = e.bid_sequence;
  d.status = status;
  d.reason = std::move(reason);
  d.attempts = 1;
  d.http_status = 400;
  d.envelope = e.envelope;
  return d;
}

struct fixture {
  test::fresh_database db;
  adapters::pg_store store{{db.url()}};
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(dead_letter_tests, fixture)

CAF_TEST(
    dead letters are stored with the exact bytes in the transaction of the position) {
  std::vector<protocols::new_event> evs{event(7, 1, R"({"a":"€ 875.10 \"q\""})"),
                                        event(7, 2, "{}"), event(8, 1, "{}")};
  auto pos = store.commit(evs, {}, {});
  CAF_REQUIRE(pos);
  auto& p = *pos;
  auto ok = store.commit({}, {}, {{"crm", p[2]}},
                         {letter(evs[0], p[0], dead, "HTTP 400: bad amount"),
                          letter(evs[1], p[1], parked, "parked behind bid.placed-7001")},
                         {});
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(db.scalar("select delivered_through from destination_positions"),
                  std::to_string(p[2]));
  auto rows = store.dead_letters("crm", 7, 0, 100);
  CAF_REQUIRE(rows);
  CAF_REQUIRE_EQUAL(rows->size(), 2u);
  CAF_CHECK(((*rows)[0].status == protocols::dead_letter_status::dead));
  CAF_CHECK_EQUAL((*rows)[0].reason, "HTTP 400: bad amount");
  CAF_CHECK_EQUAL(*(*rows)[0].envelope, R"({"a":"€ 875.10 \"q\""})");
  CAF_CHECK_EQUAL((*rows)[0].http_status, 400);
  CAF_CHECK(((*rows)[1].status == protocols::dead_letter_status::parked));
  CAF_CHECK_EQUAL((*rows)[1].bid_sequence, 2);
  CAF_CHECK((*rows)[0].position < (*rows)[1].position);
  auto parked = store.parked_auctions("crm");
  CAF_REQUIRE(parked);
  CAF_CHECK_EQUAL(*parked, std::vector<std::int64_t>{7});
  auto other = store.parked_auctions("warehouse");
  CAF_REQUIRE(other);
  CAF_CHECK(other->empty());
}

CAF_TEST(recording the same dead letter again updates it and resolving deletes it) {
  std::vector<protocols::new_event> evs{event(9, 1, "{}"), event(9, 2, "{}")};
  auto p = *store.commit(evs, {}, {});
  CAF_REQUIRE(store.commit({}, {}, {}, {letter(evs[0], p[0], dead, "first")}, {}));
  auto again = letter(evs[0], p[0], dead, "second");
  again.attempts = 5;
  CAF_REQUIRE(
      store.commit({}, {}, {}, {again, letter(evs[1], p[1], parked, "behind")}, {}));
  auto rows = *store.dead_letters("", 0, 0, 100);
  CAF_REQUIRE_EQUAL(rows.size(), 2u);
  CAF_CHECK_EQUAL(rows[0].reason, "second");
  CAF_CHECK_EQUAL(rows[0].attempts, 5);
  // Keyset pagination.
  auto page = *store.dead_letters("crm", 0, p[0], 100);
  CAF_REQUIRE_EQUAL(page.size(), 1u);
  CAF_CHECK_EQUAL(page[0].position, p[1]);
  CAF_REQUIRE(store.commit({}, {}, {}, {}, {{"crm", p[0]}}));
  rows = *store.dead_letters("crm", 9, 0, 100);
  CAF_REQUIRE_EQUAL(rows.size(), 1u);
  CAF_CHECK_EQUAL(rows[0].position, p[1]);
  CAF_REQUIRE(store.commit({}, {}, {}, {}, {{"crm", p[1]}}));
  CAF_CHECK(store.parked_auctions("crm")->empty());
}

CAF_TEST(paging through the dead letters of every destination returns each once) {
  // Two destinations dead-letter the same positions: a cursor of the
  // position alone would skip the second destination's rows of a position.
  std::vector<protocols::new_event> evs{event(5, 1, "{}"), event(5, 2, "{}"),
                                        event(5, 3, "{}")};
  auto p = *store.commit(evs, {}, {});
  std::vector<dead_letter> letters;
  for (std::size_t i = 0; i < evs.size(); ++i)
    for (const char* dest : {"crm", "warehouse"}) {
      auto d = letter(evs[i], p[i], i == 0 ? dead : parked, "r");
      d.destination = dest;
      letters.push_back(d);
    }
  CAF_REQUIRE(store.commit({}, {}, {}, letters, {}));
  for (std::size_t limit : {1u, 2u, 4u}) {
    std::set<std::pair<std::string, std::int64_t>> seen;
    std::int64_t after = 0;
    std::string after_destination;
    for (int pages = 0; pages < 10; ++pages) {
      auto page = *store.dead_letters("", 0, after, limit, after_destination);
      for (auto& d : page)
        CAF_CHECK(seen.emplace(d.destination, d.position).second);
      if (page.size() < limit)
        break;
      after = page.back().position;
      after_destination = page.back().destination;
    }
    CAF_CHECK_EQUAL(seen.size(), letters.size());
  }
  // With a destination filter the position alone is the cursor, as before.
  auto first = *store.dead_letters("warehouse", 0, 0, 2);
  CAF_REQUIRE_EQUAL(first.size(), 2u);
  auto rest = *store.dead_letters("warehouse", 0, first.back().position, 2);
  CAF_REQUIRE_EQUAL(rest.size(), 1u);
  CAF_CHECK_EQUAL(rest[0].position, p[2]);
}

CAF_TEST_FIXTURE_SCOPE_END()
