#define CAF_SUITE protocols.reconcile
#include "protocols/reconcile.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::protocols;

namespace {

/// An auction 7 with three bids, closed, and one heartbeat.
std::vector<digest_event> stored() {
  return {{event_type::auction_opened, 1, "auction.opened-7"},
          {event_type::bid_placed, 2, "bid.placed-71"},
          {event_type::producer_heartbeat, 2, "producer.heartbeat-7-1"},
          {event_type::bid_placed, 3, "bid.placed-72"},
          {event_type::bid_placed, 4, "bid.placed-73"},
          {event_type::auction_closed, 4, "auction.closed-7"}};
}

const char* csv = "event_id,auction_id,bid_sequence,note\n"
                  "auction.opened-7,7,1,\n"
                  "bid.placed-71,7,2,\"a, quoted \"\"note\"\"\"\n"
                  "bid.placed-72,7,3,\n"
                  "bid.placed-73,7,4,\n"
                  "auction.closed-7,7,4,\n";

std::vector<export_row> rows(std::string_view text) {
  auto r = parse_export(text);
  CAF_REQUIRE(r);
  return *r;
}

} // namespace

CAF_TEST(an export reads as CSV with a header or as JSON lines) {
  auto c = rows(csv);
  CAF_REQUIRE_EQUAL(c.size(), 5u);
  CAF_CHECK_EQUAL(c[1].event_id, "bid.placed-71");
  CAF_CHECK_EQUAL(c[1].line, 3u);
  CAF_CHECK_EQUAL(c[4].bid_sequence, 4);
  auto j = rows(
      "{\"event_id\":\"bid.placed-71\",\"auction_id\":7,\"bid_sequence\":2}\n"
      "\n"
      "{\"auction_id\":\"7\",\"bid_sequence\":\"3\",\"event_id\":\"x\",\"y\":[]}\r\n");
  CAF_REQUIRE_EQUAL(j.size(), 2u);
  CAF_CHECK_EQUAL(j[1].auction_id, 7);
  CAF_CHECK_EQUAL(j[1].bid_sequence, 3);
  CAF_CHECK_EQUAL(j[1].line, 3u);
}

CAF_TEST(an export that cannot be read in full is refused naming the line) {
  for (auto text :
       {"", "event_id,auction_id\nx,1\n", "event_id,auction_id,bid_sequence\nx,1\n",
        "event_id,auction_id,bid_sequence\nx,one,2\n",
        "event_id,auction_id,bid_sequence\n\"x,1,2\n",
        "{\"event_id\":\"x\",\"auction_id\":1}\n",
        "{\"event_id\":\"x\",\"auction_id\":1,\"bid_sequence\":2}\n{oops\n",
        "\x89PNG\r\n"}) {
    auto r = parse_export(text);
    CAF_CHECK(!r);
    if (!r)
      CAF_CHECK_EQUAL(r.err().code, "export");
  }
  auto r = parse_export("event_id,auction_id,bid_sequence\nx,1,2\ny,z,3\n");
  CAF_REQUIRE(!r);
  CAF_CHECK(r.err().message.find("line 3") != std::string::npos);
}

CAF_TEST(an equal export has no difference and the same digest) {
  auto d = compare_auction(7, stored(), rows(csv));
  CAF_CHECK(d.equal());
  CAF_CHECK(describe(d).empty());
  CAF_CHECK_EQUAL(d.outbox_digest.events, 5);
  // The export's heartbeats (if it kept them) are not compared either.
  auto with_beat = rows(csv);
  with_beat.push_back({"producer.heartbeat-7-9", 7, 4, 99});
  CAF_CHECK(compare_auction(7, stored(), with_beat).equal());
}

CAF_TEST(a deleted row is missing and named) {
  auto r = rows(csv);
  r.erase(r.begin() + 2); // bid.placed-72
  auto d = compare_auction(7, stored(), r);
  CAF_CHECK(!d.equal());
  CAF_REQUIRE_EQUAL(d.missing.size(), 1u);
  CAF_CHECK_EQUAL(d.missing[0].event_id, "bid.placed-72");
  auto lines = describe(d);
  CAF_CHECK_EQUAL(lines.front(), "auction 7: missing bid.placed-72 (bid_sequence 3)");
  CAF_CHECK(lines.back().find("digest mismatch") != std::string::npos);
}

CAF_TEST(an extra row and a repeated row are named) {
  auto r = rows(csv);
  r.push_back({"bid.placed-99", 7, 5, 7});
  r.push_back({"bid.placed-71", 7, 2, 8});
  auto d = compare_auction(7, stored(), r);
  CAF_REQUIRE_EQUAL(d.extra.size(), 1u);
  CAF_CHECK_EQUAL(d.extra[0].event_id, "bid.placed-99");
  CAF_REQUIRE_EQUAL(d.duplicate.size(), 1u);
  CAF_CHECK(d.missing.empty());
  auto lines = describe(d);
  CAF_CHECK_EQUAL(lines[0], "auction 7: extra bid.placed-99 (bid_sequence 5, line 7)");
  CAF_CHECK_EQUAL(lines[1], "auction 7: duplicate bid.placed-71 (line 8)");
}

CAF_TEST(a swapped pair is out of order for both events) {
  auto r = rows(csv);
  std::swap(r[1].bid_sequence, r[2].bid_sequence);
  auto d = compare_auction(7, stored(), r);
  CAF_CHECK(d.missing.empty() && d.extra.empty());
  CAF_REQUIRE_EQUAL(d.out_of_order.size(), 2u);
  CAF_CHECK_EQUAL(d.out_of_order[0].first.event_id, "bid.placed-71");
  CAF_CHECK_EQUAL(d.out_of_order[0].second, 2);
  CAF_CHECK_NOT_EQUAL(d.outbox_digest.sha256, d.export_digest.sha256);
  auto lines = describe(d);
  CAF_REQUIRE(!lines.empty());
  CAF_CHECK_EQUAL(lines[0], "auction 7: out of order bid.placed-71: bid_sequence 3 "
                            "in the export (line 3), 2 in the outbox");
}
