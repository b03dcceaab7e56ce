#define CAF_SUITE sim.emulator_rules
// The pure rules of the destination emulators (sim/emulator_rules.hpp): SAS
// checks, Event Hubs batches and partitions, HubSpot parsing and poison
// records, the rate window, outage windows, arrival lines.
#include "protocols/crypto.hpp"
#include "sim/emulator_rules.hpp"
#include "sim/verify.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::sim;

namespace {

// Made with Python's hmac/base64/urllib.parse.quote (independent of
// protocols::sas_token): key "secretkey", URI
// https://myns.servicebus.windows.net/bids, expiry 1900000000, policy "send".
constexpr const char* python_token =
    "SharedAccessSignature sr=https%3A%2F%2Fmyns.servicebus.windows.net%2Fbids"
    "&sig=tbByBUwo2oyhxF6pX6dGA7yAKG7t%2FXtWXoeoaHWZoeE%3D&se=1900000000&skn=send";
// The same with lower-case percent escapes in sr (.NET HttpUtility.UrlEncode
// style): the signature covers the sr text as sent, so it differs and holds.
constexpr const char* lowercase_escapes_token =
    "SharedAccessSignature sr=https%3a%2f%2fmyns.servicebus.windows.net%2fbids"
    "&sig=KVdWrMQr6X2AKglgcmQRYAfIXqA4wT6JmnIR1Y%2B%2BPCw%3D&se=1900000000&skn=send";

sas_expectation expect_at(std::int64_t now,
                          std::string entity = "myns.servicebus.windows.net/bids") {
  return sas_expectation{"send", "secretkey", std::move(entity), now};
}

} // namespace

CAF_TEST(a SAS token made by an independent implementation is accepted) {
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, expect_at(1'800'000'000))), "ok");
  CAF_CHECK_EQUAL(to_string(check_sas(lowercase_escapes_token, expect_at(1'800'000'000))),
                  "ok");
  // protocols::sas_token (what Gavel's client sends) agrees byte for byte.
  CAF_CHECK_EQUAL(gavel::protocols::sas_token("https://myns.servicebus.windows.net/bids",
                                              "send", "secretkey", 1'900'000'000),
                  python_token);
}

CAF_TEST(a SAS token at or past its expiry is expired) {
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, expect_at(1'900'000'000))),
                  "expired");
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, expect_at(1'900'000'001))),
                  "expired");
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, expect_at(1'899'999'999))), "ok");
}

CAF_TEST(wrong key name key audience or shape are refused) {
  auto now = 1'800'000'000;
  auto e = expect_at(now);
  e.key_name = "listen";
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, e)), "wrong_key_name");
  e = expect_at(now);
  e.key = "otherkey";
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, e)), "bad_signature");
  // The key is used as given: its base64 decoding is another key.
  e.key = gavel::protocols::base64_encode("secretkey");
  CAF_CHECK_EQUAL(to_string(check_sas(python_token, e)), "bad_signature");
  CAF_CHECK_EQUAL(
      to_string(
          check_sas(python_token, expect_at(now, "otherns.servicebus.windows.net/bids"))),
      "wrong_audience");
  CAF_CHECK_EQUAL(to_string(check_sas(
                      python_token, expect_at(now, "myns.servicebus.windows.net/bidsx"))),
                  "wrong_audience");
  CAF_CHECK_EQUAL(to_string(check_sas("", e)), "missing");
  CAF_CHECK_EQUAL(to_string(check_sas("Bearer abc", e)), "malformed");
  CAF_CHECK_EQUAL(to_string(check_sas("SharedAccessSignature sr=a&sig=b&se=1", e)),
                  "malformed");
  CAF_CHECK_EQUAL(
      to_string(check_sas("SharedAccessSignature sr=a&sig=b&se=soon&skn=send", e)),
      "malformed");
  // A tampered expiry breaks the signature.
  std::string tampered = python_token;
  tampered.replace(tampered.find("1900000000"), 10, "1900000001");
  CAF_CHECK_EQUAL(to_string(check_sas(tampered, expect_at(now))), "bad_signature");
}

CAF_TEST(a SAS audience covers its entity and everything below it without case) {
  auto now = 1'800'000'000;
  // Token for the hub; sends to a partition of it are covered.
  CAF_CHECK_EQUAL(
      to_string(check_sas(
          python_token, expect_at(now, "myns.servicebus.windows.net/bids/partitions/3"))),
      "ok");
  // Namespace-wide token, upper case and trailing slash: covers every hub.
  auto wide = gavel::protocols::sas_token("HTTPS://MyNS.servicebus.windows.net/", "send",
                                          "secretkey", 1'900'000'000);
  CAF_CHECK_EQUAL(to_string(check_sas(wide, expect_at(now))), "ok");
  CAF_CHECK_EQUAL(
      to_string(check_sas(wide, expect_at(now, "myns.servicebus.windows.net/x"))), "ok");
  // A loopback emulator addressed as 127.0.0.1:PORT.
  auto local = gavel::protocols::sas_token("https://127.0.0.1:9443/bids", "send",
                                           "secretkey", 1'900'000'000);
  CAF_CHECK_EQUAL(to_string(check_sas(local, expect_at(now, "127.0.0.1:9443/bids"))),
                  "ok");
  CAF_CHECK_EQUAL(to_string(check_sas(local, expect_at(now, "127.0.0.1:9444/bids"))),
                  "wrong_audience");
  CAF_CHECK_EQUAL(normalize_resource("sb://NS.servicebus.windows.net/Hub//"),
                  "ns.servicebus.windows.net/hub");
}

CAF_TEST(an unencoded plus in sig reads as a space as on Azure) {
  // Find an expiry whose signature has a '+', then send it unencoded.
  for (std::int64_t se = 1'900'000'000; se < 1'900'000'200; ++se) {
    auto token = gavel::protocols::sas_token("https://myns.servicebus.windows.net/bids",
                                             "send", "secretkey", se);
    auto pos = token.find("%2B");
    if (pos == std::string::npos || pos > token.find("&se="))
      continue;
    CAF_CHECK_EQUAL(to_string(check_sas(token, expect_at(1'800'000'000))), "ok");
    token.replace(pos, 3, "+");
    CAF_CHECK_EQUAL(to_string(check_sas(token, expect_at(1'800'000'000))),
                    "bad_signature");
    return;
  }
  CAF_FAIL("no signature with a '+' found");
}

CAF_TEST(url_decode handles escapes plus and stray percent signs) {
  CAF_CHECK_EQUAL(url_decode("a%2Fb%2fc+d%"), "a/b/c d%");
  CAF_CHECK_EQUAL(url_decode("%zz%4"), "%zz%4");
}

CAF_TEST(event hub paths name the hub and optionally a partition) {
  auto t = parse_eventhub_path("/bids/messages");
  CAF_REQUIRE(t.has_value());
  CAF_CHECK_EQUAL(t->hub, "bids");
  CAF_CHECK(!t->partition_id.has_value());
  t = parse_eventhub_path("/bids/partitions/3/messages");
  CAF_REQUIRE(t.has_value());
  CAF_CHECK_EQUAL(*t->partition_id, "3");
  for (auto bad :
       {"/", "/bids", "/bids/messages/x", "//messages", "/bids/partitions/messages",
        "bids/messages", "/bids/partitions//messages"})
    CAF_CHECK(!parse_eventhub_path(bad).has_value());
}

CAF_TEST(event hub batches parse Body and PartitionKey and reject bad shapes) {
  auto b = parse_eventhub_batch(
      R"([{"Body":"{\"a\":1}","BrokerProperties":{"PartitionKey":"7"},"UserProperties":{"x":1}},)"
      R"({"Body":"two","BrokerProperties":{"PartitionKey":"7"}}])");
  CAF_REQUIRE(b.has_value());
  CAF_REQUIRE_EQUAL(b->size(), 2u);
  CAF_CHECK_EQUAL((*b)[0].body, "{\"a\":1}");
  CAF_CHECK_EQUAL(*(*b)[1].partition_key, "7");
  CAF_CHECK_EQUAL(partition_key_mix_error(*b), "");
  for (auto bad : {"", "{", "{}", "[]", "[1]", R"([{"body":"x"}])", R"([{"Body":1}])",
                   R"([{"Body":"x","BrokerProperties":{"PartitionKey":7}}])",
                   R"([{"Body":"x","BrokerProperties":[]}])",
                   R"([{"Body":"x","UserProperties":"u"}])"}) {
    auto r = parse_eventhub_batch(bad);
    CAF_CHECK(!r.has_value());
    if (!r)
      CAF_CHECK_EQUAL(r.err().code, "malformed");
  }
}

CAF_TEST(a batch mixing partition keys is named and one without keys is not ) {
  std::vector<eventhub_message> mixed{{"a", "1"}, {"b", "1"}, {"c", "2"}};
  auto err = partition_key_mix_error(mixed);
  CAF_CHECK(err.find("message 2") != std::string::npos);
  std::vector<eventhub_message> half{{"a", "1"}, {"b", std::nullopt}};
  CAF_CHECK(!partition_key_mix_error(half).empty());
  std::vector<eventhub_message> none{{"a", std::nullopt}, {"b", std::nullopt}};
  CAF_CHECK_EQUAL(partition_key_mix_error(none), "");
}

CAF_TEST(partition_for_key is FNV - 1a modulo the partition count) {
  // Values from an independent FNV-1a (Python).
  CAF_CHECK_EQUAL(partition_for_key("1", 4), 0u);
  CAF_CHECK_EQUAL(partition_for_key("7", 4), 2u);
  CAF_CHECK_EQUAL(partition_for_key("1042", 4), 2u);
  CAF_CHECK_EQUAL(partition_for_key("abc", 4), 3u);
  CAF_CHECK_EQUAL(partition_for_key("anything", 1), 0u);
  // Stable and spread: 400 keys over 4 partitions, none empty.
  std::vector<int> count(4, 0);
  for (int i = 0; i < 400; ++i)
    ++count[partition_for_key(std::to_string(i), 4)];
  for (int c : count)
    CAF_CHECK_GREATER(c, 50);
}

CAF_TEST(hubspot upsert paths give the object type) {
  CAF_CHECK_EQUAL(
      parse_hubspot_upsert_path("/crm/v3/objects/p_bids/batch/upsert").value_or(""),
      "p_bids");
  CAF_CHECK_EQUAL(
      parse_hubspot_upsert_path("/crm/v3/objects/2-123/batch/upsert").value_or(""),
      "2-123");
  for (auto bad :
       {"/crm/v3/objects//batch/upsert", "/crm/v3/objects/a/b/batch/upsert",
        "/crm/v3/objects/deals/batch/create", "/crm/v4/objects/deals/batch/upsert"})
    CAF_CHECK(!parse_hubspot_upsert_path(bad).has_value());
}

CAF_TEST(hubspot batches parse inputs and enforce the 100 input limit) {
  auto b = parse_hubspot_batch(
      R"({"inputs":[{"idProperty":"gavel_event_id","id":"bid.placed-1",)"
      R"("properties":{"gavel_event_id":"bid.placed-1","bid_sequence":"2","n":3,"t":true,"z":null}}]})");
  CAF_REQUIRE(b.has_value());
  CAF_REQUIRE_EQUAL(b->size(), 1u);
  CAF_CHECK_EQUAL((*b)[0].id, "bid.placed-1");
  CAF_CHECK_EQUAL((*b)[0].id_property, "gavel_event_id");
  CAF_CHECK_EQUAL(property_text((*b)[0].properties["n"]), "3");
  CAF_CHECK_EQUAL(property_text((*b)[0].properties["t"]), "true");
  CAF_CHECK_EQUAL(property_text((*b)[0].properties["z"]), "");
  std::string many = R"({"inputs":[)";
  for (int i = 0; i < 101; ++i)
    many += std::string{i ? "," : ""} + R"({"id":")" + std::to_string(i) +
            R"(","properties":{}})";
  many += "]}";
  auto r = parse_hubspot_batch(many);
  CAF_REQUIRE(!r.has_value());
  CAF_CHECK_EQUAL(r.err().code, "too_many");
  many.replace(many.rfind(R"(,{"id":"100")"), std::string::npos, "]}");
  CAF_CHECK(parse_hubspot_batch(many).has_value()); // exactly 100
  auto empty = parse_hubspot_batch(R"({"inputs":[]})");
  CAF_REQUIRE(!empty.has_value());
  CAF_CHECK_EQUAL(empty.err().code, "empty");
  for (auto bad :
       {"x", "[]", "{}", R"({"inputs":{}})", R"({"inputs":[1]})",
        R"({"inputs":[{"properties":{}}]})", R"({"inputs":[{"id":"","properties":{}}]})",
        R"({"inputs":[{"id":"a"}]})", R"({"inputs":[{"id":"a","properties":{"p":{}}}]})",
        R"({"inputs":[{"id":"a","idProperty":1,"properties":{}}]})"}) {
    auto r = parse_hubspot_batch(bad);
    CAF_CHECK(!r.has_value());
    if (!r)
      CAF_CHECK_EQUAL(r.err().code, "malformed");
  }
}

CAF_TEST(poison rules match property text and ids) {
  auto rule = parse_poison_rule("gavel_event_id=bid.placed-9");
  CAF_REQUIRE(rule.has_value());
  CAF_CHECK(!parse_poison_rule("novalue").has_value());
  CAF_CHECK(!parse_poison_rule("=x").has_value());
  auto empty_value = parse_poison_rule("p=");
  CAF_REQUIRE(empty_value.has_value());
  CAF_CHECK_EQUAL(empty_value->value, "");
  hubspot_input in{"bid.placed-9",
                   "gavel_event_id",
                   {{"gavel_event_id", "bid.placed-9"}, {"auction_id", 7}}};
  CAF_CHECK(is_poisoned(in, {*rule}, {}));
  CAF_CHECK(is_poisoned(in, {{"auction_id", "7"}}, {}));
  CAF_CHECK(!is_poisoned(in, {{"auction_id", "8"}}, {}));
  CAF_CHECK(is_poisoned(in, {}, {"x", "bid.placed-9"}));
  CAF_CHECK(!is_poisoned(in, {}, {"bid.placed-1"}));
}

CAF_TEST(the rate window admits limit requests per rolling window) {
  auto spec = parse_rate_limit("3/1s");
  CAF_REQUIRE(spec.has_value());
  CAF_CHECK_EQUAL(spec->limit, 3u);
  CAF_CHECK_EQUAL(spec->window_ms, 1000);
  CAF_CHECK(!parse_rate_limit("0/10s").has_value());
  CAF_CHECK(!parse_rate_limit("10").has_value());
  CAF_CHECK(!parse_rate_limit("10/x").has_value());
  auto hubspot_default = parse_rate_limit("100/10s");
  CAF_REQUIRE(hubspot_default.has_value());
  CAF_CHECK_EQUAL(hubspot_default->window_ms, 10'000);
  rate_window w{*spec};
  auto offer = [&](std::int64_t t) {
    w.note_received(t);
    return w.admit(t);
  };
  CAF_CHECK_EQUAL(offer(0).remaining, 2u);
  CAF_CHECK_EQUAL(offer(100).remaining, 1u);
  CAF_CHECK_EQUAL(offer(200).remaining, 0u);
  auto refused = offer(300);
  CAF_CHECK(!refused.admitted);
  CAF_CHECK_EQUAL(refused.retry_after_ms, 700); // the request at 0 leaves at 1000
  CAF_CHECK(!offer(999).admitted);
  CAF_CHECK(offer(1000).admitted); // rolling: (0, 1000] holds 100 and 200 only
  CAF_CHECK(!offer(1050).admitted);
  CAF_CHECK_EQUAL(w.max_admitted_in_window(), 3u);
  CAF_CHECK_EQUAL(w.max_offered_in_window(), 6u); // 100..1050 all within one second
  CAF_CHECK_EQUAL(w.remaining(5000), 3u);
}

CAF_TEST(a client that respects the limit never shows more than limit per window) {
  rate_window w{{100, 10'000}};
  // 100 requests, then a pause until they have left the rolling window, for a
  // minute.
  for (std::int64_t t0 = 0; t0 < 60'000; t0 += 10'100)
    for (int i = 0; i < 100; ++i) {
      w.note_received(t0 + i);
      CAF_CHECK(w.admit(t0 + i).admitted);
    }
  CAF_CHECK_EQUAL(w.max_offered_in_window(), 100u);
  // One request too early shows up.
  w.note_received(60'499);
  CAF_CHECK(!w.admit(60'499).admitted);
  CAF_CHECK_EQUAL(w.max_offered_in_window(), 101u);
}

CAF_TEST(outage windows parse START plus DURATION) {
  auto o = parse_outage("10s+60s");
  CAF_REQUIRE(o.has_value());
  CAF_CHECK_EQUAL(o->start_ms, 10'000);
  CAF_CHECK_EQUAL(o->duration_ms, 60'000);
  CAF_CHECK(!o->contains(9'999));
  CAF_CHECK(o->contains(10'000));
  CAF_CHECK(o->contains(69'999));
  CAF_CHECK(!o->contains(70'000));
  auto short_outage = parse_outage("0s+500ms");
  CAF_REQUIRE(short_outage.has_value());
  CAF_CHECK_EQUAL(short_outage->duration_ms, 500);
  // Durations read as gavel reads them: a bare number has no unit.
  for (auto bad : {"10s", "10s+0s", "x+1s", "1s+y", "-1s+2s", "0+500ms", "1.5s+1s"})
    CAF_CHECK(!parse_outage(bad).has_value());
}

CAF_TEST(arrival lines from envelopes are read back by sim verify) {
  std::string env =
      R"({"metadata":{"event_id":"bid.placed-1000003","event_type":"bid.placed",)"
      R"("schema_version":"1.0","bid_sequence":4},"data":{"auction_id":1,"bid_id":1000003}})";
  auto a = envelope_arrival(env);
  a.t_ms = 1000.5;
  a.partition = 2;
  a.partition_key = "1";
  auto line = arrival_line(a);
  CAF_CHECK(line.find(R"("partition":2,"partition_key":"1")") != std::string::npos);
  auto r = parse_arrival_line(line.substr(0, line.size() - 1));
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(r->event_id, "bid.placed-1000003");
  CAF_CHECK_EQUAL(r->auction_id, 1);
  CAF_CHECK_EQUAL(*r->bid_sequence, 4);
  CAF_CHECK(!r->total_bid_count.has_value());
  CAF_CHECK(r->sig_ok);
  CAF_CHECK_EQUAL(r->webhook_id, r->event_id);
  CAF_CHECK(!r->malformed);
  CAF_CHECK_EQUAL(r->sha256, sha256_hex(env));
  auto bad = envelope_arrival("not json");
  CAF_CHECK(bad.malformed);
  CAF_CHECK(arrival_line(bad).find(R"("malformed":true)") != std::string::npos);
}

CAF_TEST(arrival lines from hubspot inputs follow the gavel property contract) {
  hubspot_input in{"auction.closed-7",
                   "gavel_event_id",
                   {{"gavel_event_id", "auction.closed-7"},
                    {"gavel_event_type", "auction.closed"},
                    {"auction_id", "7"},
                    {"bid_sequence", "48"},
                    {"total_bid_count", 47},
                    {"current_price", "875.00"}}};
  auto a = hubspot_arrival(in);
  CAF_CHECK_EQUAL(a.event_id, "auction.closed-7");
  CAF_CHECK_EQUAL(a.event_type, "auction.closed");
  CAF_CHECK_EQUAL(*a.auction_id, 7);
  CAF_CHECK_EQUAL(*a.bid_sequence, 48);
  CAF_CHECK_EQUAL(*a.total_bid_count, 47);
  CAF_CHECK(!a.malformed);
  // Canonical: key order of the input does not matter.
  auto reordered = nlohmann::json::parse(
      R"({"total_bid_count":47,"current_price":"875.00","bid_sequence":"48","auction_id":"7",)"
      R"("gavel_event_type":"auction.closed","gavel_event_id":"auction.closed-7"})");
  CAF_CHECK_EQUAL(canonical_json(reordered), canonical_json(in.properties));
  CAF_CHECK_EQUAL(a.sha256, sha256_hex(canonical_json(reordered)));
  a.object_type = "p_bids";
  auto r = parse_arrival_line(arrival_line(a));
  CAF_REQUIRE(r.has_value());
  CAF_CHECK_EQUAL(*r->total_bid_count, 47);
  hubspot_input bare{"x", "", {{"auction_id", "7"}}};
  CAF_CHECK(hubspot_arrival(bare).malformed);
}
