#define CAF_SUITE adapters.audit_log
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <algorithm>
#include <caf/test/unit_test.hpp>

using namespace gavel;

namespace {

protocols::audit_record record(std::string token, std::string query, std::int64_t n) {
  protocols::audit_record r;
  r.token = std::move(token);
  r.route = "/v1/dead-letters";
  r.query = std::move(query);
  r.records = n;
  return r;
}

} // namespace

CAF_TEST(audit records are stored and listed newest first with a keyset) {
  test::fresh_database fdb;
  adapters::pg_store db{{fdb.url()}};
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = db.append_audit(record("analyst", "limit=" + std::to_string(i), i + 1));
    CAF_REQUIRE(id);
    ids.push_back(*id);
  }
  CAF_CHECK(std::is_sorted(ids.begin(), ids.end()));
  auto page = db.audit_records(0, 2);
  CAF_REQUIRE(page);
  CAF_REQUIRE_EQUAL(page->size(), 2u);
  CAF_CHECK_EQUAL((*page)[0].id, ids[4]);
  CAF_CHECK_EQUAL((*page)[0].token, "analyst");
  CAF_CHECK_EQUAL((*page)[0].route, "/v1/dead-letters");
  CAF_CHECK_EQUAL((*page)[0].query, "limit=4");
  CAF_CHECK_EQUAL((*page)[0].records, 5);
  CAF_CHECK_GREATER((*page)[0].at_ms, 1700000000000);
  CAF_CHECK_EQUAL((*page)[1].id, ids[3]);
  auto rest = db.audit_records((*page)[1].id, 100);
  CAF_REQUIRE(rest);
  CAF_REQUIRE_EQUAL(rest->size(), 3u);
  CAF_CHECK_EQUAL((*rest)[0].id, ids[2]);
  CAF_CHECK_EQUAL((*rest)[2].id, ids[0]);
  auto none = db.audit_records(ids[0], 100);
  CAF_REQUIRE(none);
  CAF_CHECK(none->empty());
}

CAF_TEST(the audit log refuses a negative record count) {
  test::fresh_database fdb;
  adapters::pg_store db{{fdb.url()}};
  CAF_CHECK(!db.append_audit(record("analyst", "", -1)));
}
