#define CAF_SUITE protocols.backfill_input
#include "protocols/backfill_input.hpp"

#include <caf/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace gavel::protocols;

namespace {

using fields = std::vector<std::string>;

/// Every record of `text`, fed in chunks of `chunk` bytes as a file reader
/// would; the records' fields.
std::vector<fields> records(const std::string& text, std::size_t chunk) {
  std::vector<fields> out;
  std::string buffer;
  std::size_t fed = 0;
  for (;;) {
    auto at_end = fed == text.size();
    auto r = read_csv_record(buffer, at_end);
    CAF_REQUIRE(r);
    if (*r) {
      out.push_back((*r)->fields);
      buffer.erase(0, (*r)->consumed);
      continue;
    }
    if (at_end)
      return out;
    auto n = std::min(chunk, text.size() - fed);
    buffer += text.substr(fed, n);
    fed += n;
  }
}

std::string event(const csv_header& h, const fields& row) {
  auto e = csv_row_event(h, row);
  CAF_REQUIRE(e);
  return *e;
}

} // namespace

CAF_TEST(csv records split at commas and line ends whatever the chunks) {
  const std::string text = "auction_id,bid_id,bidder_name\r\n"
                           "1,10,\"Hansen, Erika\"\n"
                           "1,11,\"She said \"\"hi\"\"\"\n"
                           "2,12,\"two\nlines\"\n"
                           "3,13,";
  const std::vector<fields> want{{"auction_id", "bid_id", "bidder_name"},
                                 {"1", "10", "Hansen, Erika"},
                                 {"1", "11", "She said \"hi\""},
                                 {"2", "12", "two\nlines"},
                                 {"3", "13", ""}};
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 4096u})
    CAF_CHECK_EQUAL(records(text, chunk), want);
}

CAF_TEST(a record counts the lines it spans) {
  auto r = read_csv_record("1,\"a\nb\nc\"\n2,x\n", true);
  CAF_REQUIRE(r && *r);
  CAF_CHECK_EQUAL((*r)->lines, 3u);
  CAF_CHECK_EQUAL((*r)->consumed, 10u);
}

CAF_TEST(malformed csv is an error naming what is wrong) {
  for (const char* text : {"1,ab\"c\n", "1,\"abc\"d\n", "1,\"open\n"}) {
    auto r = read_csv_record(text, true);
    CAF_REQUIRE(!r);
    CAF_CHECK_EQUAL(r.err().code, "csv");
    CAF_MESSAGE(text << " -> " << r.err().message);
  }
  // Not at the end yet: an open quote waits for more text.
  auto more = read_csv_record("1,\"open\n", false);
  CAF_REQUIRE(more);
  CAF_CHECK(!*more);
}

CAF_TEST(the header names data fields and needs auction_id) {
  auto h = read_csv_header({"\xEF\xBB\xBF"
                            "auction_id",
                            "bid_id"});
  CAF_REQUIRE(h);
  CAF_CHECK_EQUAL(h->names, (fields{"auction_id", "bid_id"}));
  for (const fields& bad : {fields{"bid_id"}, fields{"auction_id", ""},
                            fields{"auction_id", "bid_id", "bid_id"}}) {
    auto e = read_csv_header(bad);
    CAF_REQUIRE(!e);
    CAF_CHECK_EQUAL(e.err().code, "csv");
  }
}

CAF_TEST(a csv row becomes an ingest event with ids and decimals as numbers) {
  auto h = read_csv_header({"auction_id", "bid_id", "bid_amount", "bid_timestamp",
                            "bidder_user_id", "bidder_name", "sku", "current_price"});
  CAF_REQUIRE(h);
  CAF_CHECK_EQUAL(
      event(*h, {"1042", "3891", "875.10", "2026-06-09T14:23:11Z", "77",
                 "Erika \"E\" Hansen", "00123", ""}),
      R"({"event_type":"bid.placed","data":{"auction_id":1042,"bid_id":3891,"bid_amount":875.10,"bid_timestamp":"2026-06-09T14:23:11Z","bidder_user_id":77,"bidder_name":"Erika \"E\" Hansen","sku":"00123"}})");
  // What ingest would refuse stays as text, for ingest to refuse.
  CAF_CHECK_EQUAL(
      event(*h, {"12a", "007", "-5", "x", "u-77", "", "", "1e3"}),
      R"({"event_type":"bid.placed","data":{"auction_id":"12a","bid_id":"007","bid_amount":"-5","bid_timestamp":"x","bidder_user_id":"u-77","current_price":"1e3"}})");
  auto typed = read_csv_header({"event_type", "auction_id", "end_date"});
  CAF_REQUIRE(typed);
  CAF_CHECK_EQUAL(
      event(*typed, {"auction.closed", "5", "2026-06-09T15:00:00Z"}),
      R"({"event_type":"auction.closed","data":{"auction_id":5,"end_date":"2026-06-09T15:00:00Z"}})");
  auto short_row = csv_row_event(*h, {"1", "2"});
  CAF_REQUIRE(!short_row);
  CAF_CHECK_EQUAL(short_row.err().code, "csv");
}

CAF_TEST(json lines are events and blank lines nothing) {
  auto e = json_line_event("  {\"event_type\":\"bid.placed\",\"data\":{}}\r\n");
  CAF_REQUIRE(e && *e);
  CAF_CHECK_EQUAL(**e, R"({"event_type":"bid.placed","data":{}})");
  auto blank = json_line_event(" \t\r");
  CAF_REQUIRE(blank);
  CAF_CHECK(!*blank);
  for (const char* bad : {"[1]", "{\"a\":", "bid.placed"}) {
    auto r = json_line_event(bad);
    CAF_REQUIRE(!r);
    CAF_CHECK_EQUAL(r.err().code, "json");
  }
}

CAF_TEST(the format follows the file name) {
  CAF_CHECK(backfill_format_of("bids.csv") == backfill_format::csv);
  CAF_CHECK(backfill_format_of("BIDS.CSV") == backfill_format::csv);
  CAF_CHECK(backfill_format_of("history.jsonl") == backfill_format::json_lines);
  CAF_CHECK(backfill_format_of("csv") == backfill_format::json_lines);
}
