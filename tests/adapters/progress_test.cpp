#define CAF_SUITE adapters.progress
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <algorithm>
#include <caf/test/unit_test.hpp>

using namespace gavel;
using protocols::delivery_progress;

namespace {

struct fixture {
  test::fresh_database db;
  adapters::pg_store store{{db.url()}};

  std::vector<std::pair<std::int64_t, std::int64_t>> progress(const std::string& name,
                                                              std::int64_t after) {
    auto rows = store.load_progress(name, after);
    CAF_REQUIRE(rows);
    std::sort(rows->begin(), rows->end());
    return *rows;
  }
};

using rows = std::vector<std::pair<std::int64_t, std::int64_t>>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(progress_tests, fixture)

CAF_TEST(per auction progress is kept above the position and only raised) {
  // Auction 7 is slow (holds the position at 10); 8 and 9 went further.
  CAF_REQUIRE(store.commit({}, {}, {{"hub", 10}}, {}, {},
                           {{"hub", 8, 40}, {"hub", 9, 55}, {"crm", 8, 12}}));
  CAF_CHECK_EQUAL(progress("hub", 10), (rows{{8, 40}, {9, 55}}));
  CAF_CHECK_EQUAL(progress("crm", 0), (rows{{8, 12}}));
  // A stale (lower) report never lowers it.
  CAF_REQUIRE(store.commit({}, {}, {}, {}, {}, {{"hub", 8, 30}}));
  CAF_CHECK_EQUAL(progress("hub", 10), (rows{{8, 40}, {9, 55}}));
}

CAF_TEST(rows the position passes are deleted with it) {
  CAF_REQUIRE(
      store.commit({}, {}, {{"hub", 10}}, {}, {}, {{"hub", 8, 40}, {"hub", 9, 55}}));
  CAF_REQUIRE(store.commit({}, {}, {{"hub", 45}}));
  CAF_CHECK_EQUAL(db.scalar("select count(*) from destination_progress where destination "
                            "= 'hub'"),
                  "1");
  CAF_CHECK_EQUAL(progress("hub", 45), (rows{{9, 55}}));
}

CAF_TEST(progress also travels with dead letters in the longer transaction) {
  protocols::dead_letter d;
  d.destination = "hub";
  d.position = 3;
  d.auction_id = 5;
  d.event_id = "bid.placed-3";
  d.reason = "refused";
  d.envelope = std::make_shared<const std::string>("{}");
  CAF_REQUIRE(store.commit({}, {}, {{"hub", 2}}, {d}, {}, {{"hub", 6, 20}}));
  CAF_CHECK_EQUAL(progress("hub", 2), (rows{{6, 20}}));
}

CAF_TEST_FIXTURE_SCOPE_END()
