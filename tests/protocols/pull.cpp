#define CAF_SUITE protocols.pull
#include "protocols/pull.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::protocols;

namespace {

using params = std::vector<std::pair<std::string, std::string>>;

/// The error of parsing `p` (code, field); fails the test when it parses.
std::pair<std::string, std::string> refusal(const params& p) {
  auto q = parse_pull_query(p);
  CAF_REQUIRE(!q);
  return {q.err().code, q.err().field};
}

std::pair<std::string, std::string> bad(std::string field) {
  return {"bad_parameter", std::move(field)};
}

} // namespace

CAF_TEST(the digest is sha256 of the ids joined by newlines : a known answer) {
  // printf 'auction.opened-7\nbid.placed-1\nbid.placed-2\nauction.closed-7' | sha256sum
  auto d = digest_of_ids(
      {"auction.opened-7", "bid.placed-1", "bid.placed-2", "auction.closed-7"});
  CAF_CHECK_EQUAL(d, "d03e9258ba0f48efe1dfa336339e6f6c459146344cc65f2fef95cf01db401745");
  CAF_CHECK_EQUAL(digest_of_ids({}),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

CAF_TEST(
    the digest orders by bid_sequence with the close last and leaves heartbeats out) {
  // Shuffled, with heartbeats carrying sequence numbers already taken: the
  // close shares the last bid's number and still goes after it.
  std::vector<digest_event> events{
      {event_type::auction_closed, 3, "auction.closed-7"},
      {event_type::producer_heartbeat, 3, "producer.heartbeat-7-2"},
      {event_type::bid_placed, 3, "bid.placed-2"},
      {event_type::producer_heartbeat, 1, "producer.heartbeat-7-1"},
      {event_type::auction_opened, 1, "auction.opened-7"},
      {event_type::bid_placed, 2, "bid.placed-1"},
  };
  auto d = digest_of(events);
  CAF_CHECK_EQUAL(d.events, 4);
  CAF_CHECK_EQUAL(d.sha256,
                  "d03e9258ba0f48efe1dfa336339e6f6c459146344cc65f2fef95cf01db401745");
  // An open auction: no close yet.
  auto open = digest_of({{event_type::auction_opened, 1, "auction.opened-7"}});
  CAF_CHECK_EQUAL(open.events, 1);
  CAF_CHECK_EQUAL(open.sha256,
                  "f972f2dcc85b2bf843bee99ba3d339db5548df598578943b5750a9bfd810b3fc");
}

CAF_TEST(the digest changes with a missing event and with two swapped sequences) {
  std::vector<digest_event> base{{event_type::auction_opened, 1, "auction.opened-7"},
                                 {event_type::bid_placed, 2, "bid.placed-1"},
                                 {event_type::bid_placed, 3, "bid.placed-2"}};
  auto swapped = base;
  std::swap(swapped[1].bid_sequence, swapped[2].bid_sequence);
  auto fewer = base;
  fewer.pop_back();
  auto d = digest_of(base).sha256;
  CAF_CHECK_NOT_EQUAL(digest_of(swapped).sha256, d);
  CAF_CHECK_NOT_EQUAL(digest_of(fewer).sha256, d);
}

CAF_TEST(cursors round - trip and are opaque url - safe text) {
  for (auto c : {pull_cursor{0, 0, 0, 0}, pull_cursor{0, 0, 18446744073709551615ull, 42},
                 pull_cursor{1042, 48, 731, 99}}) {
    auto text = encode_cursor(c);
    CAF_CHECK(text.find_first_of("+/=&?% ") == std::string::npos);
    auto back = decode_cursor(text);
    CAF_REQUIRE(back);
    CAF_CHECK(*back == c);
  }
  auction_cursor a{1781000000123, 7};
  auto back = decode_auction_cursor(encode_cursor(a));
  CAF_REQUIRE(back);
  CAF_CHECK(*back == a);
  for (auto junk : {"", "abc", "czE=", "czEuMS4y!", "bzEuMS4y"})
    CAF_CHECK(!decode_cursor(junk));
  // A cursor of one kind is not the other's.
  CAF_CHECK(!decode_auction_cursor(encode_cursor(pull_cursor{})));
  CAF_CHECK(!decode_cursor(encode_cursor(a)));
}

CAF_TEST(query strings are split and percent - decoded) {
  auto p =
      parse_query_string("from=2026-06-09T14%3A00%3A00%2B02%3A00&bidder_user_id=a+b&x");
  CAF_REQUIRE(p);
  CAF_REQUIRE_EQUAL(p->size(), 3u);
  CAF_CHECK_EQUAL((*p)[0].second, "2026-06-09T14:00:00+02:00");
  CAF_CHECK_EQUAL((*p)[1].second, "a b");
  CAF_CHECK_EQUAL((*p)[2].first, "x");
  CAF_CHECK(!parse_query_string("a=%zz"));
  CAF_CHECK(!parse_query_string("a=%2"));
}

CAF_TEST(every pull parameter is read) {
  auto q = parse_pull_query({{"auction_id", "1042"},
                             {"bidder_user_id", "77"},
                             {"event_type", "bid.placed"},
                             {"from", "2026-06-09T14:00:00Z"},
                             {"to", "2026-06-09T16:00:00+01:00"},
                             {"bid_from", "2026-06-09T13:00:00Z"},
                             {"bid_to", "2026-06-09T13:00:00.001Z"},
                             {"after", encode_cursor(pull_cursor{1042, 3, 9, 10})},
                             {"limit", "1000"}});
  CAF_REQUIRE(q);
  CAF_CHECK_EQUAL(*q->auction_id, 1042);
  CAF_CHECK_EQUAL(*q->bidder_user_id, "77");
  CAF_CHECK(*q->type == event_type::bid_placed);
  CAF_CHECK_EQUAL(*q->from, 1781013600000);
  CAF_CHECK_EQUAL(*q->to, 1781013600000 + 3600000);
  CAF_CHECK(!parse_pull_query(
      {{"from", "2026-06-09T14:00:00Z"}, {"to", "2026-06-09T15:00:00+01:00"}}));
  CAF_CHECK_EQUAL(*q->bid_to - *q->bid_from, 1);
  CAF_CHECK(q->after->bid_sequence == 3);
  CAF_CHECK_EQUAL(q->limit, 1000u);
  auto none = parse_pull_query({});
  CAF_REQUIRE(none);
  CAF_CHECK_EQUAL(none->limit, 100u);
  CAF_CHECK(!none->auction_id && !none->type && !none->after);
}

CAF_TEST(bad pull parameters are refused naming the parameter) {
  CAF_CHECK(refusal({{"auction", "1"}}) ==
            std::pair<std::string, std::string>("unknown_parameter", "auction"));
  CAF_CHECK(refusal({{"limit", "1001"}}) == bad("limit"));
  CAF_CHECK(refusal({{"limit", "0"}}) == bad("limit"));
  CAF_CHECK(refusal({{"limit", "ten"}}) == bad("limit"));
  CAF_CHECK(refusal({{"limit", "-5"}}) == bad("limit"));
  CAF_CHECK(refusal({{"auction_id", "0"}}) == bad("auction_id"));
  CAF_CHECK(refusal({{"auction_id", "12x"}}) == bad("auction_id"));
  CAF_CHECK(refusal({{"auction_id", "1"}, {"auction_id", "2"}}) == bad("auction_id"));
  CAF_CHECK(refusal({{"bidder_user_id", ""}}) == bad("bidder_user_id"));
  CAF_CHECK(refusal({{"event_type", "bid"}}) == bad("event_type"));
  CAF_CHECK(refusal({{"from", "2026-06-09 14:00:00Z"}}) == bad("from"));
  CAF_CHECK(refusal({{"to", "yesterday"}}) == bad("to"));
  CAF_CHECK(refusal({{"bid_from", "2026-06-09"}}) == bad("bid_from"));
  CAF_CHECK(refusal({{"bid_to", "2026-06-09T14:00Z"}}) == bad("bid_to"));
  CAF_CHECK(refusal({{"from", "2026-06-09T14:00:00Z"}, {"to", "2026-06-09T14:00:00Z"}}) ==
            bad("to"));
  CAF_CHECK(refusal({{"bid_from", "2026-06-09T14:00:00Z"},
                     {"bid_to", "2026-06-09T13:00:00Z"}}) == bad("bid_to"));
  CAF_CHECK(refusal({{"after", "nonsense"}}) == bad("after"));
  // A cursor carries its order: storage order's is not an auction's, nor
  // one auction's another's.
  CAF_CHECK(refusal({{"auction_id", "5"}, {"after", encode_cursor(pull_cursor{})}}) ==
            bad("after"));
  CAF_CHECK(refusal({{"auction_id", "5"},
                     {"after", encode_cursor(pull_cursor{6, 1, 1, 1})}}) == bad("after"));
  CAF_CHECK(refusal({{"after", encode_cursor(pull_cursor{6, 1, 1, 1})}}) == bad("after"));
}

CAF_TEST(auction listing parameters) {
  auto q = parse_auction_query(
      {{"state", "closed"}, {"from", "2026-06-09T14:00:00Z"}, {"limit", "5"}});
  CAF_REQUIRE(q);
  CAF_CHECK(*q->closed);
  CAF_CHECK_EQUAL(q->limit, 5u);
  auto code = [](const params& p) {
    auto r = parse_auction_query(p);
    CAF_REQUIRE(!r);
    return std::pair{r.err().code, r.err().field};
  };
  CAF_CHECK(code({{"state", "shut"}}) == bad("state"));
  CAF_CHECK(code({{"auction_id", "1"}}) ==
            std::pair<std::string, std::string>("unknown_parameter", "auction_id"));
  CAF_CHECK(code({{"limit", "1001"}}) == bad("limit"));
  CAF_CHECK(code({{"after", encode_cursor(pull_cursor{})}}) == bad("after"));
  CAF_CHECK(code({{"to", "x"}}) == bad("to"));
}
