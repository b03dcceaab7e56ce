#define CAF_SUITE protocols.event
#include "protocols/event.hpp"

#include <caf/test/unit_test.hpp>
#include <string>

using namespace gavel::protocols;

namespace {

constexpr std::string_view valid_bid = R"({"event_type":"bid.placed","data":{
  "auction_id":1042,"product_name":"Rolex Submariner","sku":"RX-116610",
  "auction_type":"standard","starting_price":"500.00","current_price":875.10,
  "start_date":"2026-06-01T10:00:00Z","end_date":"2026-06-09T15:00:00Z",
  "bid_id":3891,"bid_amount":875.10,"bid_timestamp":"2026-06-09T14:23:11.412Z",
  "winning_status":"winning","proxy_bid":false,"proxy_bid_low_end":null,
  "proxy_bid_high_end":"900.00","bidder_user_id":77,"bidder_name":"Ann",
  "bidder_email":"ann@example.com"}})";

json::value parse_ok(std::string_view text) {
  auto v = json::parse(text);
  if (!v)
    CAF_FAIL("test input is not JSON: " << v.err().message);
  return std::move(*v);
}

/// The valid bid with `data.<key>` replaced by `literal` (`<absent>` removes it).
json::value bid_with(std::string_view key, std::string_view literal) {
  auto ev = parse_ok(valid_bid);
  auto* data = ev.find("data");
  if (literal == "<absent>")
    data->erase(key);
  else
    data->set(std::string{key}, parse_ok(literal));
  return ev;
}

/// "<field>|<message>" of a rejected event, or "ok".
std::string verdict(const json::value& ev) {
  auto r = validate_event(ev);
  if (r)
    return "ok";
  CAF_CHECK_EQUAL(r.err().code, "schema");
  // The message names the field it is about.
  if (!r.err().field.empty())
    CAF_CHECK(r.err().message.starts_with(r.err().field + ": "));
  return r.err().field;
}

std::string verdict(std::string_view text) {
  return verdict(parse_ok(text));
}

std::string message_of(const json::value& ev) {
  auto r = validate_event(ev);
  return r ? "ok" : r.err().message;
}

} // namespace

CAF_TEST(a complete bid validates and exposes its keys) {
  auto r = validate_event(parse_ok(valid_bid));
  CAF_REQUIRE(r);
  CAF_CHECK(r->type == event_type::bid_placed);
  CAF_CHECK_EQUAL(r->auction_id, 1042);
  CAF_CHECK_EQUAL(r->bid_id, 3891);
  CAF_CHECK_EQUAL(r->price, "875.10");
  CAF_CHECK_EQUAL(r->bidder_user_id, "77");
  CAF_REQUIRE(r->end_date.has_value());
  CAF_CHECK_EQUAL(*r->end_date, 1'781'017'200'000);
  CAF_CHECK_EQUAL(r->event_id(), "bid.placed-3891");
  CAF_CHECK(r->data == *parse_ok(valid_bid).find("data"));
}

CAF_TEST(minimal events of every ingestable type validate) {
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"auction.opened","data":{"auction_id":1}})"),
                  "ok");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"auction.closed","data":{"auction_id":1,
                  "total_bid_count":47,"current_price":"1200.00"}})"),
                  "ok");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.placed","data":{"auction_id":1,"bid_id":2,
                  "bid_amount":"0","bid_timestamp":"2026-06-09T14:23:11Z"}})"),
                  "ok");
}

CAF_TEST(the event itself must be an object) {
  CAF_CHECK_EQUAL(verdict("[]"), "");
  CAF_CHECK_EQUAL(verdict("1"), "");
  auto r = validate_event(parse_ok(R"("bid")"));
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.err().code, "schema");
}

CAF_TEST(event_type errors name the event_type field) {
  CAF_CHECK_EQUAL(verdict(R"({"data":{"auction_id":1}})"), "event_type");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":null,"data":{"auction_id":1}})"),
                  "event_type");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":7,"data":{"auction_id":1}})"), "event_type");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.retracted","data":{"auction_id":1}})"),
                  "event_type");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"Bid.Placed","data":{"auction_id":1}})"),
                  "event_type");
  CAF_CHECK_EQUAL(message_of(parse_ok(R"({"data":{}})")), "event_type: is required");
  CAF_CHECK_EQUAL(message_of(parse_ok(R"({"event_type":1,"data":{}})")),
                  "event_type: must be a string");
}

CAF_TEST(producer heartbeats are never ingested) {
  auto ev = parse_ok(R"({"event_type":"producer.heartbeat","data":{"auction_id":1}})");
  CAF_CHECK_EQUAL(verdict(ev), "event_type");
  CAF_CHECK(message_of(ev).find("producer.heartbeat") != std::string::npos);
}

CAF_TEST(data must be present and an object) {
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.placed"})"), "data");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.placed","data":null})"), "data");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.placed","data":[]})"), "data");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"bid.placed","data":"x"})"), "data");
  CAF_CHECK_EQUAL(message_of(parse_ok(R"({"event_type":"auction.opened","data":5})")),
                  "data: must be an object");
}

CAF_TEST(auction_id must be a positive json integer for every type) {
  for (auto type : {"auction.opened", "bid.placed", "auction.closed"}) {
    std::string prefix = std::string{R"({"event_type":")"} + type + R"(","data":)";
    CAF_CHECK_EQUAL(verdict(prefix + "{}}"), "data.auction_id");
    CAF_CHECK_EQUAL(verdict(prefix + R"({"auction_id":null}})"), "data.auction_id");
  }
  for (auto bad : {R"("1042")", "0", "-5", "1.0", "1e3", "10.5", "true", "[1]", "{}",
                   "9223372036854775808", "18446744073709551616"})
    CAF_CHECK_EQUAL(verdict(bid_with("auction_id", bad)), "data.auction_id");
  CAF_CHECK_EQUAL(verdict(bid_with("auction_id", "9223372036854775807")), "ok");
  CAF_CHECK_EQUAL(verdict(bid_with("auction_id", "1")), "ok");
  CAF_CHECK_EQUAL(verdict(bid_with("auction_id", "<absent>")), "data.auction_id");
  CAF_CHECK_EQUAL(message_of(bid_with("auction_id", "<absent>")),
                  "data.auction_id: is required");
}

CAF_TEST(bid_id must be a positive json integer for bids) {
  CAF_CHECK_EQUAL(verdict(bid_with("bid_id", "<absent>")), "data.bid_id");
  for (auto bad : {R"("3891")", "0", "-1", "3891.0", "null", "false"})
    CAF_CHECK_EQUAL(verdict(bid_with("bid_id", bad)), "data.bid_id");
  // Other types do not need one.
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"auction.opened","data":{"auction_id":1,
                  "bid_id":"not checked"}})"),
                  "ok");
}

CAF_TEST(bid_amount is required and must be a decimal) {
  CAF_CHECK_EQUAL(verdict(bid_with("bid_amount", "<absent>")), "data.bid_amount");
  CAF_CHECK_EQUAL(message_of(bid_with("bid_amount", "<absent>")),
                  "data.bid_amount: is required");
  for (auto bad : {"-1", "1e3", "1E2", R"("-1")", R"("1,000.00")", R"("875.")", R"(".5")",
                   R"("")", R"("+5")", R"(" 5")", R"("abc")", "true", "[875]", "{}"}) {
    auto ev = bid_with("bid_amount", bad);
    CAF_CHECK_EQUAL(verdict(ev), "data.bid_amount");
    CAF_CHECK(message_of(ev).starts_with("data.bid_amount: must be a decimal number"));
  }
  for (auto good : {"0", "875", "875.10", R"("875.10")", R"("0.001")", "12.5"})
    CAF_CHECK_EQUAL(verdict(bid_with("bid_amount", good)), "ok");
}

CAF_TEST(bid_timestamp is required and must be a timestamp) {
  CAF_CHECK_EQUAL(verdict(bid_with("bid_timestamp", "<absent>")), "data.bid_timestamp");
  for (auto bad :
       {R"("yesterday")", R"("2026-13-01T00:00:00Z")", "1781014991412", "null"})
    CAF_CHECK_EQUAL(verdict(bid_with("bid_timestamp", bad)), "data.bid_timestamp");
  CAF_CHECK_EQUAL(verdict(bid_with("bid_timestamp", R"("2026-06-09T16:23:11+02:00")")),
                  "ok");
}

CAF_TEST(every timestamp field is strict rfc 3339 and a violation names the field) {
  for (auto key : {"bid_timestamp", "start_date", "end_date"}) {
    std::string field = std::string{"data."} + key;
    for (auto bad : {R"("2026-01-01 00:00:00Z")", R"("2026-01-01T00:00:00")",
                     R"("2026-01-01T00:00Z")", R"("2026-01-01T00:00:00+0200")",
                     R"("2026-01-01t00:00:00Z")"}) {
      auto ev = bid_with(key, bad);
      CAF_CHECK_EQUAL(verdict(ev), field);
      CAF_CHECK(message_of(ev).starts_with(field + ": must be an RFC 3339 timestamp"));
    }
    CAF_CHECK_EQUAL(verdict(bid_with(key, R"("2026-01-01T00:00:00.5-03:30")")), "ok");
  }
  auto ev = bid_with("start_date", R"("2026-01-01 00:00:00Z")");
  CAF_CHECK(message_of(ev).find("expected 'T' between date and time") !=
            std::string::npos);
}

CAF_TEST(a repeated key in the body is rejected as duplicate_key at any depth) {
  auto top = parse_ingest_body(
      R"({"event_type":"auction.opened","event_type":"auction.closed","data":{"auction_id":1}})");
  CAF_REQUIRE(!top);
  CAF_CHECK_EQUAL(top.err().code, "duplicate_key");
  CAF_CHECK_EQUAL(top.err().field, "event_type");
  auto nested = parse_ingest_body(
      R"({"event_type":"bid.placed","data":{"auction_id":1,"bid_id":2,"bid_amount":"1",)"
      R"("bid_timestamp":"2026-06-09T14:23:10Z","auction_id":710016}})");
  CAF_REQUIRE(!nested);
  CAF_CHECK_EQUAL(nested.err().code, "duplicate_key");
  CAF_CHECK_EQUAL(nested.err().field, "data.auction_id");
  auto in_batch = parse_ingest_body(
      R"([{"event_type":"auction.opened","data":{"auction_id":1}},)"
      R"({"event_type":"auction.opened","data":{"auction_id":2,"x":{"k":1,"k":2}}}])");
  CAF_REQUIRE(!in_batch);
  CAF_CHECK_EQUAL(in_batch.err().code, "duplicate_key");
  CAF_CHECK_EQUAL(in_batch.err().field, "[1].data.x.k");
}

CAF_TEST(start_date and end_date when present must be timestamps) {
  CAF_CHECK_EQUAL(verdict(bid_with("end_date", R"("soon")")), "data.end_date");
  CAF_CHECK_EQUAL(verdict(bid_with("end_date", "1781017200")), "data.end_date");
  CAF_CHECK_EQUAL(verdict(bid_with("start_date", R"("2026-02-30T10:00:00Z")")),
                  "data.start_date");
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"auction.opened","data":{"auction_id":1,
                  "end_date":"never"}})"),
                  "data.end_date");
  // Absent or null: no end date, not an error.
  auto r = validate_event(bid_with("end_date", "<absent>"));
  CAF_REQUIRE(r);
  CAF_CHECK(!r->end_date.has_value());
  auto n = validate_event(bid_with("end_date", "null"));
  CAF_REQUIRE(n);
  CAF_CHECK(!n->end_date.has_value());
}

CAF_TEST(every money field when present must be a decimal) {
  for (auto field : {"starting_price", "current_price", "bid_amount", "proxy_bid_low_end",
                     "proxy_bid_high_end"}) {
    auto ev = bid_with(field, R"("12,50")");
    CAF_CHECK_EQUAL(verdict(ev), std::string{"data."} + field);
    CAF_CHECK_EQUAL(message_of(ev).substr(0, std::string{field}.size() + 31),
                    std::string{"data."} + field + ": must be a decimal number");
  }
  CAF_CHECK_EQUAL(verdict(R"({"event_type":"auction.closed","data":{"auction_id":1,
                  "current_price":-3}})"),
                  "data.current_price");
}

CAF_TEST(price is current_price else bid_amount as exact text) {
  auto with_current = validate_event(parse_ok(valid_bid));
  CAF_REQUIRE(with_current);
  CAF_CHECK_EQUAL(with_current->price, "875.10");
  auto without = validate_event(bid_with("current_price", "<absent>"));
  CAF_REQUIRE(without);
  CAF_CHECK_EQUAL(without->price, "875.10");
  auto str = validate_event(bid_with("current_price", R"("990.50")"));
  CAF_REQUIRE(str);
  CAF_CHECK_EQUAL(str->price, "990.50");
  auto opened = validate_event(parse_ok(R"({"event_type":"auction.opened","data":{
    "auction_id":1}})"));
  CAF_REQUIRE(opened);
  CAF_CHECK_EQUAL(opened->price, "");
}

CAF_TEST(bidder_user_id is kept as text from a number or a string) {
  auto num = validate_event(parse_ok(valid_bid));
  CAF_REQUIRE(num);
  CAF_CHECK_EQUAL(num->bidder_user_id, "77");
  auto str = validate_event(bid_with("bidder_user_id", R"("u-77")"));
  CAF_REQUIRE(str);
  CAF_CHECK_EQUAL(str->bidder_user_id, "u-77");
  auto absent = validate_event(bid_with("bidder_user_id", "<absent>"));
  CAF_REQUIRE(absent);
  CAF_CHECK_EQUAL(absent->bidder_user_id, "");
}

CAF_TEST(event ids follow the design rules) {
  CAF_CHECK_EQUAL(bid_event_id(3891), "bid.placed-3891");
  CAF_CHECK_EQUAL(opened_event_id(1042), "auction.opened-1042");
  CAF_CHECK_EQUAL(closed_event_id(1042), "auction.closed-1042");
  CAF_CHECK_EQUAL(heartbeat_event_id(1042, 1), "producer.heartbeat-1042-1");
  CAF_CHECK_EQUAL(bid_event_id(9'223'372'036'854'775'807),
                  "bid.placed-9223372036854775807");
  auto opened = validate_event(parse_ok(R"({"event_type":"auction.opened","data":{
    "auction_id":1042}})"));
  CAF_REQUIRE(opened);
  CAF_CHECK_EQUAL(opened->event_id(), "auction.opened-1042");
  auto closed = validate_event(parse_ok(R"({"event_type":"auction.closed","data":{
    "auction_id":1042,"bid_id":5}})"));
  CAF_REQUIRE(closed);
  CAF_CHECK_EQUAL(closed->event_id(), "auction.closed-1042");
}

CAF_TEST(event types convert to and from their wire names) {
  for (auto t : {event_type::auction_opened, event_type::bid_placed,
                 event_type::auction_closed, event_type::producer_heartbeat}) {
    auto back = parse_event_type(to_string(t));
    CAF_REQUIRE(back.has_value());
    CAF_CHECK(*back == t);
  }
  CAF_CHECK_EQUAL(to_string(event_type::bid_placed), "bid.placed");
  CAF_CHECK_EQUAL(to_string(event_type::producer_heartbeat), "producer.heartbeat");
  CAF_CHECK(!parse_event_type("bid").has_value());
}

CAF_TEST(is_decimal accepts plain non negative decimals only) {
  for (auto good : {"0", "875.10", "12.5", "0.001", "007", "100000000000000000000000.01"})
    CAF_CHECK(is_decimal(good));
  for (auto bad :
       {"", ".", "1.", ".5", "-1", "+1", "1e3", "1.2.3", " 1", "1 ", "1,5", "NaN"})
    CAF_CHECK(!is_decimal(bad));
}

CAF_TEST(a single object body is one event) {
  auto b = parse_ingest_body(valid_bid);
  CAF_REQUIRE(b);
  CAF_CHECK(!b->is_batch);
  CAF_REQUIRE_EQUAL(b->items.size(), 1u);
  CAF_CHECK(b->items[0].has_value());
  auto bad = parse_ingest_body(R"({"event_type":"bid.placed","data":{}})");
  CAF_REQUIRE(bad);
  CAF_REQUIRE_EQUAL(bad->items.size(), 1u);
  CAF_REQUIRE(!bad->items[0]);
  CAF_CHECK_EQUAL(bad->items[0].err().field, "data.auction_id");
}

CAF_TEST(batch items validate independently) {
  std::string body = "[";
  body += valid_bid;
  body += R"(,{"event_type":"bid.placed","data":{"auction_id":1,"bid_id":2,
    "bid_amount":"1e3","bid_timestamp":"2026-06-09T14:23:11Z"}},42,
    {"event_type":"auction.closed","data":{"auction_id":1042}}])";
  auto b = parse_ingest_body(body);
  CAF_REQUIRE(b);
  CAF_CHECK(b->is_batch);
  CAF_REQUIRE_EQUAL(b->items.size(), 4u);
  CAF_CHECK(b->items[0].has_value());
  CAF_REQUIRE(!b->items[1]);
  CAF_CHECK_EQUAL(b->items[1].err().field, "data.bid_amount");
  CAF_REQUIRE(!b->items[2]);
  CAF_CHECK_EQUAL(b->items[2].err().code, "schema");
  CAF_CHECK(b->items[3].has_value());
  // A one-item array is still a batch.
  auto one = parse_ingest_body(std::string{"["} + std::string{valid_bid} + "]");
  CAF_REQUIRE(one);
  CAF_CHECK(one->is_batch);
}

CAF_TEST(batch limits are enforced) {
  auto item = std::string{R"({"event_type":"auction.opened","data":{"auction_id":1}})"};
  auto batch = [&](std::size_t n) {
    std::string s = "[";
    for (std::size_t i = 0; i < n; ++i)
      s += (i ? "," : "") + item;
    return s + "]";
  };
  auto at_limit = parse_ingest_body(batch(1000));
  CAF_REQUIRE(at_limit);
  CAF_CHECK_EQUAL(at_limit->items.size(), 1000u);
  auto over = parse_ingest_body(batch(1001));
  CAF_REQUIRE(!over);
  CAF_CHECK_EQUAL(over.err().code, "batch_too_large");
  auto small = parse_ingest_body(batch(3), validation_limits{2, 32});
  CAF_REQUIRE(!small);
  CAF_CHECK_EQUAL(small.err().code, "batch_too_large");
  auto empty = parse_ingest_body("[]");
  CAF_REQUIRE(!empty);
  CAF_CHECK_EQUAL(empty.err().code, "empty_batch");
}

CAF_TEST(bodies that are not an event or a batch are malformed) {
  for (auto body : {"", "not json", "42", R"("bid")", "null", "true", "{", "[1,"}) {
    auto b = parse_ingest_body(body);
    CAF_REQUIRE(!b);
    CAF_CHECK_EQUAL(b.err().code, "malformed");
  }
}

CAF_TEST(deep bodies fail as too_deep) {
  auto b = parse_ingest_body(std::string(10'000, '[') + std::string(10'000, ']'));
  CAF_REQUIRE(!b);
  CAF_CHECK_EQUAL(b.err().code, "too_deep");
  auto nested =
      std::string{R"({"event_type":"auction.opened","data":{"auction_id":1,"x":)"} +
      std::string(40, '[') + std::string(40, ']') + "}}";
  auto n = parse_ingest_body(nested);
  CAF_REQUIRE(!n);
  CAF_CHECK_EQUAL(n.err().code, "too_deep");
  auto raised = parse_ingest_body(nested, validation_limits{1000, 64});
  CAF_REQUIRE(raised);
  CAF_CHECK(raised->items[0].has_value());
}

CAF_TEST(envelope bytes are exact for a fixed input) {
  auto ev =
      validate_event(parse_ok(R"({"event_type":"bid.placed","data":{"auction_id":1042,
    "bid_id":3891,"bid_amount":875.10,"bid_timestamp":"2026-06-09T14:23:10Z",
    "bidder_name":"Zoë \"Z\""}})"));
  CAF_REQUIRE(ev);
  envelope_metadata meta{ev->event_id(), ev->type, 1'781'014'991'412, 12};
  CAF_CHECK_EQUAL(
      make_envelope(meta, ev->data),
      R"({"metadata":{"event_id":"bid.placed-3891","event_type":"bid.placed",)"
      R"("schema_version":"1.0","producer_timestamp":"2026-06-09T14:23:11.412Z",)"
      R"("bid_sequence":12},"data":{"auction_id":1042,"bid_id":3891,"bid_amount":875.10,)"
      R"("bid_timestamp":"2026-06-09T14:23:10Z","bidder_name":"Zoë \"Z\""}})");
}

CAF_TEST(money keeps its text through the envelope) {
  auto ev = validate_event(parse_ok(R"({"event_type":"bid.placed","data":{"auction_id":1,
    "bid_id":2,"bid_amount":875.10,"current_price":"875.10","starting_price":100.000,
    "proxy_bid":1e3,"bid_timestamp":"2026-06-09T14:23:10Z"}})"));
  CAF_REQUIRE(ev);
  auto env = make_envelope({ev->event_id(), ev->type, 0, 2}, ev->data);
  CAF_CHECK(env.find(R"("bid_amount":875.10,)") != std::string::npos);
  CAF_CHECK(env.find(R"("current_price":"875.10")") != std::string::npos);
  CAF_CHECK(env.find(R"("starting_price":100.000)") != std::string::npos);
  CAF_CHECK(env.find(R"("proxy_bid":1e3)") != std::string::npos);
  // The envelope is JSON that parses back to the same data.
  auto back = json::parse(env);
  CAF_REQUIRE(back);
  CAF_REQUIRE(back->find("data") != nullptr);
  CAF_CHECK(*back->find("data") == ev->data);
}

CAF_TEST(envelope of a heartbeat carries the heartbeat data) {
  auto data = heartbeat_data(1042, unix_ms{1'781'017'200'000}, 47, 5);
  CAF_CHECK_EQUAL(json::dump(data),
                  R"({"auction_id":1042,"end_date":"2026-06-09T15:00:00.000Z",)"
                  R"("total_bid_count":47,"heartbeat_interval_seconds":5})");
  CAF_CHECK_EQUAL(json::dump(heartbeat_data(7, std::nullopt, 0, 60)),
                  R"({"auction_id":7,"end_date":null,"total_bid_count":0,)"
                  R"("heartbeat_interval_seconds":60})");
  envelope_metadata meta{heartbeat_event_id(1042, 3), event_type::producer_heartbeat, 0,
                         47};
  CAF_CHECK_EQUAL(make_envelope(meta, data),
                  R"({"metadata":{"event_id":"producer.heartbeat-1042-3",)"
                  R"("event_type":"producer.heartbeat","schema_version":"1.0",)"
                  R"("producer_timestamp":"1970-01-01T00:00:00.000Z","bid_sequence":47},)"
                  R"("data":{"auction_id":1042,"end_date":"2026-06-09T15:00:00.000Z",)"
                  R"("total_bid_count":47,"heartbeat_interval_seconds":5}})");
}

CAF_TEST(synthesized open data copies the auction fields of the first bid) {
  auto ev = validate_event(parse_ok(valid_bid));
  CAF_REQUIRE(ev);
  CAF_CHECK_EQUAL(
      json::dump(synthesized_open_data(*ev)),
      R"({"auction_id":1042,"product_name":"Rolex Submariner",)"
      R"("sku":"RX-116610","auction_type":"standard","starting_price":"500.00",)"
      R"("start_date":"2026-06-01T10:00:00Z","end_date":"2026-06-09T15:00:00Z",)"
      R"("implicit":true})");
  auto bare =
      validate_event(parse_ok(R"({"event_type":"bid.placed","data":{"auction_id":9,
    "bid_id":1,"bid_amount":"5","bid_timestamp":"2026-06-09T14:23:10Z","sku":null}})"));
  CAF_REQUIRE(bare);
  CAF_CHECK_EQUAL(json::dump(synthesized_open_data(*bare)),
                  R"({"auction_id":9,"implicit":true})");
}
