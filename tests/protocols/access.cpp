#define CAF_SUITE protocols.access
#include "protocols/access.hpp"

#include <caf/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace gavel::protocols;

namespace {

scope_set scopes(std::vector<std::string> items) {
  auto s = parse_scopes(items);
  CAF_REQUIRE(s);
  return *s;
}

std::string refused(std::vector<std::string> items) {
  auto s = parse_scopes(items);
  CAF_REQUIRE(!s);
  CAF_CHECK_EQUAL(s.err().code, "scope");
  return s.err().field;
}

const std::vector<std::string> just_default{"default"};

} // namespace

CAF_TEST(every scope parses) {
  auto s = scopes({"ingest:web", "ingest:wp-inbox_2", "read", "pii"});
  CAF_CHECK_EQUAL(s.ingest_sources, (std::vector<std::string>{"web", "wp-inbox_2"}));
  CAF_CHECK(!s.ingest_any);
  CAF_CHECK(s.read && s.pii && !s.admin);
  CAF_CHECK(scopes({"ingest:*"}).ingest_any);
  CAF_CHECK(scopes({"admin"}).admin);
}

CAF_TEST(bad scope lists are refused naming the item) {
  CAF_CHECK_EQUAL(refused({"read", "write"}), "[1]");
  CAF_CHECK_EQUAL(refused({"ingest:"}), "[0]");
  CAF_CHECK_EQUAL(refused({"ingest:Web"}), "[0]");
  CAF_CHECK_EQUAL(refused({"ingest:a.b"}), "[0]");
  CAF_CHECK_EQUAL(refused({"ingest"}), "[0]");
  CAF_CHECK_EQUAL(refused({"READ"}), "[0]");
  CAF_CHECK_EQUAL(refused({"read", "read"}), "[1]");
  CAF_CHECK_EQUAL(refused({}), "");
  // pii widens a read; alone it would be a token that can do nothing.
  CAF_CHECK_EQUAL(refused({"pii"}), "");
  CAF_CHECK_EQUAL(refused({"ingest:*", "pii"}), "");
  CAF_CHECK(parse_scopes({"admin", "pii"}));
}

CAF_TEST(admin implies read but not pii and no scope implies ingest) {
  auto admin = scopes({"admin"});
  CAF_CHECK(admin.allows(scope::read));
  CAF_CHECK(admin.allows(scope::admin));
  CAF_CHECK(!admin.pii);
  CAF_CHECK(!admin.allows(scope::ingest));
  auto read = scopes({"read", "pii"});
  CAF_CHECK(read.allows(scope::read));
  CAF_CHECK(!read.allows(scope::admin));
  CAF_CHECK(!read.allows(scope::ingest));
  auto ingest = scopes({"ingest:web"});
  CAF_CHECK(ingest.allows(scope::ingest));
  CAF_CHECK(!ingest.allows(scope::read));
  CAF_CHECK(!ingest.allows(scope::admin));
  CAF_CHECK(scope_set{}.allows(scope::none));
  CAF_CHECK(!scope_set{}.allows(scope::ingest));
}

CAF_TEST(legacy tokens ingest anywhere and administer but do not see pii) {
  auto s = legacy_scopes();
  CAF_CHECK(s.allows(scope::ingest) && s.allows(scope::read) && s.allows(scope::admin));
  CAF_CHECK(s.may_ingest_into("default") && s.may_ingest_into("anything"));
  CAF_CHECK(!s.pii);
}

namespace {

std::string source(std::string_view requested, const scope_set& s,
                   const std::vector<std::string>& http) {
  auto r = resolve_source(requested, s, http);
  CAF_REQUIRE(r);
  return *r;
}

std::string refusal(std::string_view requested, const scope_set& s,
                    const std::vector<std::string>& http) {
  auto r = resolve_source(requested, s, http);
  CAF_REQUIRE(!r);
  return r.err().code;
}

} // namespace

CAF_TEST(the source is the requested one then the one its scope names then default) {
  std::vector<std::string> http{"default", "web", "app"};
  CAF_CHECK_EQUAL(source("app", scopes({"ingest:*"}), http), "app");
  CAF_CHECK_EQUAL(source("", scopes({"ingest:web"}), http), "web");
  CAF_CHECK_EQUAL(source("", scopes({"ingest:*"}), http), "default");
  CAF_CHECK_EQUAL(source("", legacy_scopes(), just_default), "default");
  CAF_CHECK_EQUAL(source("", scopes({"ingest:default", "ingest:web"}), http), "default");
}

CAF_TEST(a token not allowed on the source is forbidden) {
  std::vector<std::string> http{"default", "web", "app"};
  CAF_CHECK_EQUAL(refusal("app", scopes({"ingest:web"}), http), "forbidden");
  // Two sources named: no one source, so `default`, which it may not use.
  CAF_CHECK_EQUAL(refusal("", scopes({"ingest:web", "ingest:app"}), http), "forbidden");
  // Its one source takes no HTTP events (an inbox, or none configured).
  CAF_CHECK_EQUAL(refusal("", scopes({"ingest:wp"}), just_default), "forbidden");
}

CAF_TEST(an unknown requested source is a bad parameter) {
  auto e = resolve_source("nope", legacy_scopes(), just_default);
  CAF_REQUIRE(!e);
  CAF_CHECK_EQUAL(e.err().code, "unknown_source");
  CAF_CHECK_EQUAL(e.err().field, "source");
}
