#define CAF_SUITE actors.route_scopes
#include "actors/api/router.hpp"

#include <caf/test/unit_test.hpp>
#include <string>
#include <vector>

// The router's table against DESIGN §1.9, written out here independently:
// every route needs exactly the scope the design gives it. (The e2e test
// scopes.sh drives the same matrix over HTTP with real tokens.)

using namespace gavel;
using actors::api::router;
using protocols::scope;

namespace {

struct expectation {
  std::string method;
  std::string path;
  scope needs;
};

const std::vector<expectation> design{
    {"GET", "/healthz", scope::none},
    {"GET", "/readyz", scope::none},
    {"GET", "/metrics", scope::none},
    {"POST", "/v1/events", scope::ingest},
    {"GET", "/v1/pipeline", scope::read},
    {"GET", "/v1/dead-letters", scope::admin},
    {"POST", "/v1/dead-letters/redrive", scope::admin},
    {"POST", "/v1/components/core/restart", scope::admin},
    {"POST", "/v1/components/store/crash", scope::admin},
    {"POST", "/v1/destinations/crm/restart", scope::admin},
    {"POST", "/v1/destinations/crm/crash", scope::admin},
    {"GET", "/v1/audit", scope::admin},
    {"GET", "/v1/sources", scope::read},
    {"POST", "/v1/sources/web/disable", scope::admin},
    {"POST", "/v1/sources/web/enable", scope::admin},
    {"GET", "/v1/events", scope::read},
    {"GET", "/v1/auctions", scope::read},
    {"GET", "/v1/auctions/1042", scope::read},
    {"POST", "/v1/backfills/history", scope::admin},
    {"POST", "/v1/backfills/history/events", scope::admin},
    {"GET", "/v1/backfills", scope::read},
    {"GET", "/v1/backfills/history", scope::read},
};

} // namespace

CAF_TEST(every route needs the scope the design gives it) {
  for (const auto& e : design) {
    bool known = false;
    const auto* row = router::find(e.method, e.path, known);
    if (!row) {
      CAF_ERROR("no route for " << e.method << " " << e.path);
      continue;
    }
    if (row->needs != e.needs)
      CAF_ERROR(e.method << " " << e.path << " needs scope "
                         << static_cast<int>(row->needs) << ", the design says "
                         << static_cast<int>(e.needs));
  }
}

CAF_TEST(no row is open that the design does not open) {
  // Every row is one of the design's routes (a new route must be added to
  // both the table and this test's expectations).
  for (const auto& row : router::routes()) {
    bool listed = false;
    for (const auto& e : design) {
      bool known = false;
      listed |= router::find(e.method, e.path, known) == &row;
    }
    if (!listed)
      CAF_ERROR("route " << row.method << " " << row.path
                         << " is not in this test's design list");
  }
}

CAF_TEST(a wrong method is told apart from an unknown path) {
  bool known = false;
  CAF_CHECK(router::find("PUT", "/v1/events", known) == nullptr);
  CAF_CHECK(known);
  CAF_CHECK(router::find("DELETE", "/v1/audit", known) == nullptr);
  CAF_CHECK(known);
  CAF_CHECK(router::find("GET", "/v1/nothing", known) == nullptr);
  CAF_CHECK(!known);
  // A prefix row takes only what is below it.
  CAF_CHECK(router::find("POST", "/v1/components/", known) == nullptr);
  CAF_CHECK(router::find("POST", "/v1/componentsx", known) == nullptr);
  CAF_CHECK(!known);
}

CAF_TEST(tokens are found by their secret and only by it) {
  adapters::config cfg;
  cfg.tokens.push_back({"reader", "read-secret", {"read"}});
  cfg.tokens.push_back({"ops", "ops-secret", {"admin", "pii"}});
  cfg.ingest.tokens = {"legacy-secret"};
  actors::api::token_registry tokens{cfg};
  const auto* r = tokens.identify("Bearer read-secret");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->name, "reader");
  CAF_CHECK(r->scopes.read && !r->scopes.admin && !r->scopes.pii);
  const auto* o = tokens.identify("Bearer ops-secret");
  CAF_REQUIRE(o);
  CAF_CHECK(o->scopes.admin && o->scopes.pii);
  const auto* l = tokens.identify("Bearer legacy-secret");
  CAF_REQUIRE(l);
  CAF_CHECK_EQUAL(l->name, "ingest.tokens[0]");
  CAF_CHECK(l->scopes.ingest_any && l->scopes.admin && !l->scopes.pii);
  for (std::string_view bad :
       {"", "Bearer ", "Bearer read-secre", "Bearer read-secret ", "bearer read-secret",
        "Basic read-secret", "read-secret", "Bearer READ-SECRET"})
    CAF_CHECK(tokens.identify(bad) == nullptr);
  // The registry keeps digests, not secrets.
  CAF_CHECK_NOT_EQUAL(r->digest, "read-secret");
  CAF_CHECK_EQUAL(r->digest.size(), 32u);
}
