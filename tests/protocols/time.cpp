#define CAF_SUITE protocols.time
#include "protocols/time.hpp"

#include <caf/test/unit_test.hpp>
#include <limits>
#include <string>

using namespace gavel::protocols;

namespace {

// 2026-06-09T14:23:11.412Z, computed independently:
// python3 -c "import datetime as d; print(int(d.datetime(2026,6,9,14,23,11,412000,
//   tzinfo=d.timezone.utc).timestamp()*1000))"
constexpr unix_ms sample = 1'781'014'991'412;

/// The parsed value, or -1 when the text is rejected.
unix_ms parse_or_reject(std::string_view text) {
  auto t = parse_timestamp(text);
  return t ? *t : -1;
}

} // namespace

CAF_TEST(format writes utc with milliseconds and a z suffix) {
  CAF_CHECK_EQUAL(format_iso8601_ms(sample), "2026-06-09T14:23:11.412Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(951'782'400'007), "2000-02-29T00:00:00.007Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(1'767'225'599'999), "2025-12-31T23:59:59.999Z");
  std::string out = "at ";
  format_iso8601_ms(sample, out);
  CAF_CHECK_EQUAL(out, "at 2026-06-09T14:23:11.412Z");
}

CAF_TEST(format handles instants before 1970 and extremes without crashing) {
  CAF_CHECK_EQUAL(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(-86'400'000), "1969-12-31T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(std::numeric_limits<unix_ms>::min()),
                  "0000-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(std::numeric_limits<unix_ms>::max()),
                  "9999-12-31T23:59:59.999Z");
}

CAF_TEST(parse accepts rfc 3339 date - times with a zone) {
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.412Z"), sample);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11Z"), sample - 412);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T16:23:11+02:00"), sample - 412);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T09:53:11.412-04:30"), sample);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11+00:00"), sample - 412);
  // RFC 3339 4.3: -00:00 is UTC with the local offset unknown.
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11-00:00"), sample - 412);
  CAF_CHECK_EQUAL(parse_or_reject("1970-01-01T00:00:00Z"), 0);
}

CAF_TEST(parse rejects what rfc 3339 with T seconds and a zone does not allow) {
  // Each of these was accepted once and means different instants to
  // different readers (a zone-less time is local time to many).
  for (auto text : {
           "2026-01-01 00:00:00Z",      // space separator
           "2026-06-09 14:23:11",       // space, no zone
           "2026-06-09T14:23:11",       // no zone
           "2026-06-09T14:23:11.412",   // no zone
           "2026-06-09T14:23Z",         // no seconds
           "2026-06-09T14:23+02:00",    // no seconds
           "2026-06-09t14:23:11Z",      // lower-case t
           "2026-06-09T14:23:11z",      // lower-case z
           "2026-06-09T16:23:11+0200",  // offset without a colon
           "2026-06-09T16:23:11+02",    // offset without minutes
           "2026-06-09T14:23:11 Z",     // space before the zone
           "2026-06-09T14:23:11+02:00Z" // two zones
       }) {
    auto t = parse_timestamp(text);
    CAF_CHECK(!t);
    if (!t)
      CAF_CHECK_EQUAL(t.err().code, "timestamp");
    else
      CAF_MESSAGE("accepted: " << text);
  }
  auto space = parse_timestamp("2026-01-01 00:00:00Z");
  CAF_REQUIRE(!space);
  CAF_CHECK(space.err().message.find("expected 'T' between date and time") !=
            std::string::npos);
  auto zoneless = parse_timestamp("2026-06-09T14:23:11");
  CAF_REQUIRE(!zoneless);
  CAF_CHECK(zoneless.err().message.find("expected a zone") != std::string::npos);
}

CAF_TEST(fractional seconds of any length truncate to milliseconds) {
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.4Z"), sample - 12);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.41Z"), sample - 2);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.412999Z"), sample);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.412999999999Z"), sample);
  CAF_CHECK_EQUAL(parse_or_reject("2026-06-09T14:23:11.4129+00:00"), sample);
}

CAF_TEST(parse and format round trip) {
  for (unix_ms t :
       {sample, unix_ms{0}, unix_ms{951'782'400'007}, unix_ms{4'102'444'799'999}})
    CAF_CHECK_EQUAL(parse_or_reject(format_iso8601_ms(t)), t);
}

CAF_TEST(parse rejects garbage and impossible dates) {
  for (auto text : {"",
                    "garbage",
                    "2026-06-09",
                    "2026-06-09T",
                    "2026-13-01T00:00:00Z",
                    "2026-00-01T00:00:00Z",
                    "2026-06-32T00:00:00Z",
                    "2026-06-31T00:00:00Z",
                    "2026-02-29T00:00:00Z",
                    "2026-06-09T24:00:00Z",
                    "2026-06-09T14:60:00Z",
                    "2026-06-09T14:23:60Z",
                    "2026-06-09T14:23:11.Z",
                    "2026-06-09T14:23:11ZZ",
                    "2026-06-09T14:23:11+2",
                    "2026-06-09T14:23:11+24:00",
                    "2026-06-09T14:23:11+02:60",
                    "2026-06-09T14:23:11 ",
                    " 2026-06-09T14:23:11",
                    "26-06-09T14:23:11Z",
                    "2026/06/09 14:23:11",
                    "2026-6-9 14:23:11",
                    "2026-06-09X14:23:11",
                    "2026-06-09T14:23",
                    "1781014991412",
                    "2026-06-09T14:23:11UTC"}) {
    auto t = parse_timestamp(text);
    CAF_CHECK(!t);
    if (!t)
      CAF_CHECK_EQUAL(t.err().code, "timestamp");
    else
      CAF_MESSAGE("accepted: " << text);
  }
}

CAF_TEST(parse accepts leap days of leap years only) {
  CAF_CHECK_EQUAL(parse_or_reject("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  CAF_CHECK_EQUAL(parse_or_reject("2000-02-29T00:00:00Z"), 951'782'400'000);
  CAF_CHECK_EQUAL(parse_or_reject("1900-02-29T00:00:00Z"), -1);
}
