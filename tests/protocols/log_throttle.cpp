#define CAF_SUITE protocols.log_throttle
#include "protocols/log_throttle.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::protocols;
using namespace std::chrono_literals;

CAF_TEST(the first occurrence is logged and later ones within the interval are counted) {
  log_throttle t{10s};
  log_throttle::clock::time_point now{100s};
  auto first = t.admit(now);
  CAF_REQUIRE(first.has_value());
  CAF_CHECK_EQUAL(*first, 0u);
  for (int i = 0; i < 999; ++i)
    CAF_CHECK(!t.admit(now + 1s).has_value());
  CAF_CHECK(!t.admit(now + 9s).has_value());
  auto next = t.admit(now + 10s);
  CAF_REQUIRE(next.has_value());
  CAF_CHECK_EQUAL(*next, 1000u);
  auto after = t.admit(now + 25s);
  CAF_REQUIRE(after.has_value());
  CAF_CHECK_EQUAL(*after, 0u);
}
