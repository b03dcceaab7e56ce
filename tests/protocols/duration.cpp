#define CAF_SUITE protocols.duration
#include "protocols/duration.hpp"

#include <caf/test/unit_test.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

using namespace gavel::protocols;
using namespace std::chrono_literals;

namespace {

bool mentions(const std::string& message, std::string_view what) {
  return message.find(what) != std::string::npos;
}

} // namespace

CAF_TEST(durations need a unit) {
  struct row {
    std::string_view text;
    std::optional<std::chrono::milliseconds> want;
  };
  for (auto [text, want] :
       std::initializer_list<row>{{"250ms", 250ms},
                                  {"5s", 5s},
                                  {"5m", 5min},
                                  {"1h", 1h},
                                  {"0s", 0ms},
                                  {"1500ms", 1500ms},
                                  {"5", std::nullopt},
                                  {"", std::nullopt},
                                  {"s", std::nullopt},
                                  {"5 s", std::nullopt},
                                  {" 5s", std::nullopt},
                                  {"-1s", std::nullopt},
                                  {"+1s", std::nullopt},
                                  {"1.5s", std::nullopt},
                                  {"5sec", std::nullopt},
                                  {"5S", std::nullopt},
                                  {"1d", 24h},
                                  {"30d", 720h},
                                  {"1w", std::nullopt},
                                  {"1h30m", std::nullopt},
                                  {"99999999999999999999h", std::nullopt}}) {
    auto d = parse_duration(text);
    CAF_CHECK_EQUAL(static_cast<bool>(d), want.has_value());
    if (d && want)
      CAF_CHECK_EQUAL(*d, *want);
    if (!d)
      CAF_CHECK(mentions(d.err().message, "ms, s, m, h or d") ||
                mentions(d.err().message, "too long"));
  }
}

CAF_TEST(a duration is formatted in the largest unit that divides it) {
  for (auto [d, want] :
       std::initializer_list<std::pair<std::chrono::milliseconds, std::string_view>>{
           {0ms, "0ms"},
           {250ms, "250ms"},
           {1500ms, "1500ms"},
           {90s, "90s"},
           {5min, "5m"},
           {1h, "1h"},
           {720h, "30d"}}) {
    CAF_CHECK_EQUAL(format_duration(d), want);
    auto back = parse_duration(format_duration(d));
    CAF_REQUIRE(back);
    CAF_CHECK_EQUAL(*back, d);
  }
}
