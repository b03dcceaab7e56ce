#define CAF_SUITE adapters.destinations
#include "adapters/destinations/eventhub/format.hpp"
#include "adapters/destinations/hubspot/format.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::adapters;
using namespace gavel::protocols;

namespace {

constexpr std::string_view envelope =
    R"({"metadata":{"event_id":"bid.placed-77","event_type":"bid.placed","schema_version":"1.0",)"
    R"("bid_sequence":3,"producer_timestamp":"2026-06-09T14:00:00.000Z"},)"
    R"("data":{"auction_id":42,"bid_id":77,"bid_amount":875.10,)"
    R"("bid_timestamp":"2026-06-09T13:59:59Z",)"
    R"("bidder_user_id":"u-9","flags":{"proxy":true}}})";

} // namespace

CAF_TEST(
    an event hubs batch carries the envelope as the Body string and the partition key) {
  std::vector<eventhub_message> msgs{
      {R"({"a":"x\"y"})", "42", "bid.placed-1", "bid.placed"},
      {"{}", "42", "bid.placed-2", "bid.placed"}};
  auto body = eventhub_batch_body(msgs);
  CAF_CHECK_EQUAL(
      body,
      R"([{"Body":"{\"a\":\"x\\\"y\"}","BrokerProperties":{"PartitionKey":"42"},)"
      R"("UserProperties":{"event_id":"bid.placed-1","event_type":"bid.placed"}},)"
      R"({"Body":"{}","BrokerProperties":{"PartitionKey":"42"},)"
      R"("UserProperties":{"event_id":"bid.placed-2","event_type":"bid.placed"}}])");
  // The size used for the 1 MB limit is exact: the sum of the parts, commas
  // and brackets.
  CAF_CHECK_EQUAL(body.size(),
                  eventhub_message_size(msgs[0]) + eventhub_message_size(msgs[1]) + 3);
  auto parsed = json::parse(body);
  CAF_REQUIRE(parsed);
  CAF_CHECK_EQUAL(parsed->items[0].find("Body")->text, R"({"a":"x\"y"})");
}

CAF_TEST(the sas resource uri is the https namespace uri of the hub) {
  CAF_CHECK_EQUAL(
      eventhub_resource_uri("https://gavel-ns.servicebus.windows.net/", "bids"),
      "https://gavel-ns.servicebus.windows.net/bids");
  CAF_CHECK_EQUAL(eventhub_resource_uri("sb://gavel-ns.servicebus.windows.net", "bids"),
                  "https://gavel-ns.servicebus.windows.net/bids");
  CAF_CHECK_EQUAL(eventhub_resource_uri("http://127.0.0.1:9443", "bids"),
                  "https://127.0.0.1:9443/bids");
}

CAF_TEST(the default hubspot mapping gives exact strings and an idempotent id) {
  auto in = hubspot_input(envelope, default_hubspot_mapping(), "gavel_event_id");
  CAF_REQUIRE(in);
  CAF_CHECK_EQUAL(
      json::dump(*in),
      R"({"idProperty":"gavel_event_id","id":"bid.placed-77","objectWriteTraceId":"bid.placed-77",)"
      R"("properties":{"gavel_event_id":"bid.placed-77","gavel_event_type":"bid.placed",)"
      R"("bid_sequence":"3","producer_timestamp":"2026-06-09T14:00:00.000Z","auction_id":"42",)"
      R"("bid_id":"77","bid_amount":"875.10","bid_timestamp":"2026-06-09T13:59:59Z",)"
      R"("bidder_user_id":"u-9"}})");
}

CAF_TEST(a custom hubspot mapping picks paths and passes objects as json text) {
  hubspot_mapping m{{"bid_key", "metadata.event_id"},
                    {"price", "data.bid_amount"},
                    {"flags", "data.flags"},
                    {"missing", "data.nope"}};
  auto in = hubspot_input(envelope, m, "bid_key");
  CAF_REQUIRE(in);
  CAF_CHECK_EQUAL(
      json::dump(*in->find("properties")),
      R"({"bid_key":"bid.placed-77","price":"875.10","flags":"{\"proxy\":true}"})");
  auto none = hubspot_input(envelope, m, "missing");
  CAF_REQUIRE(!none);
  CAF_CHECK_EQUAL(none.err().code, "id_property");
  CAF_CHECK(!hubspot_input("not json", m, "bid_key"));
}

CAF_TEST(a hubspot batch body wraps the inputs) {
  auto in = hubspot_input(envelope, {{"k", "metadata.event_id"}}, "k");
  CAF_REQUIRE(in);
  CAF_CHECK_EQUAL(
      hubspot_batch_body({*in}),
      R"({"inputs":[{"idProperty":"k","id":"bid.placed-77",)"
      R"("objectWriteTraceId":"bid.placed-77","properties":{"k":"bid.placed-77"}}]})");
}

CAF_TEST(a 207 response is read record by record) {
  std::vector<std::string> ids{"a", "b", "c"};
  auto body = R"({"status":"COMPLETE",
    "results":[{"id":"1001","properties":{"gavel_event_id":"a"}},
               {"id":"1002","objectWriteTraceId":"c","properties":{}}],
    "errors":[{"status":"error","category":"VALIDATION_ERROR","message":"bad amount",
               "context":{"objectWriteTraceId":["b"]}},
              {"status":"error","category":"X","message":"something else","context":{}}]})";
  auto out = read_hubspot_response(body, "gavel_event_id", ids);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->succeeded, (std::vector<std::string>{"a", "c"}));
  CAF_REQUIRE_EQUAL(out->failed.size(), 1u);
  CAF_CHECK_EQUAL(out->failed[0].id, "b");
  CAF_CHECK_EQUAL(out->failed[0].message, "bad amount");
  CAF_CHECK_EQUAL(out->unattributed, (std::vector<std::string>{"something else"}));
}

CAF_TEST(an id named in an error is failed even if also listed as a result) {
  auto out = read_hubspot_response(
      R"({"results":[{"properties":{"p":"x"}}],"errors":[{"status":"400","message":"no","context":{"ids":["x"]}}]})",
      "p", {"x"});
  CAF_REQUIRE(out);
  CAF_CHECK(out->succeeded.empty());
  CAF_REQUIRE_EQUAL(out->failed.size(), 1u);
  CAF_CHECK_EQUAL(out->failed[0].status, 400);
  CAF_CHECK(!read_hubspot_response("{", "p", {"x"}));
}
