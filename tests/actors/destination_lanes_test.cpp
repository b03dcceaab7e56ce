#define CAF_SUITE actors.destination_lanes
// The destination worker's per-auction queues as plain code (no actors):
// one request per auction in flight, backoff and retry tokens, parking and
// redrive, and the batch split after a batch-wide rejection.
#include "actors/destination_lanes.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel;
using actors::destination_lanes;
using adapters::delivery_result;
using protocols::failure_class;
using protocols::outbox_record;

namespace {

/// Only the batch limits of a kind; nothing is sent.
class limits_only : public adapters::destination_client {
public:
  explicit limits_only(adapters::batch_limits l) : l_(l) {}
  adapters::batch_limits limits() const override { return l_; }
  void send(std::vector<outbox_record>, std::function<void(delivery_result)>) override {}
  void close() override {}

private:
  adapters::batch_limits l_;
};

outbox_record rec(std::int64_t position, std::int64_t auction) {
  outbox_record r;
  r.position = position;
  r.auction_id = auction;
  r.event_id = "bid.placed-" + std::to_string(position);
  r.envelope = std::make_shared<const std::string>("{}");
  return r;
}

/// A record of a backfilled auction.
outbox_record backfilled(std::int64_t position, std::int64_t auction) {
  auto r = rec(position, auction);
  r.backfill = true;
  return r;
}

std::vector<std::int64_t> positions(const std::vector<outbox_record>& batch) {
  std::vector<std::int64_t> out;
  out.reserve(batch.size());
  for (auto& r : batch)
    out.push_back(r.position);
  return out;
}

delivery_result ok() {
  delivery_result r;
  r.status = 200;
  return r;
}

delivery_result failed(failure_class c, int status) {
  delivery_result r;
  r.overall = c;
  r.status = status;
  r.error = "HTTP " + std::to_string(status);
  return r;
}

using pos_list = std::vector<std::int64_t>;

} // namespace

CAF_TEST(one request per auction is in flight and the next follows its answer) {
  limits_only webhook{{}};
  destination_lanes lanes;
  CAF_CHECK(lanes.push(rec(1, 7)));
  CAF_CHECK(lanes.push(rec(2, 7)));
  CAF_CHECK(lanes.push(rec(3, 8)));
  auto a = lanes.next(webhook);
  auto b = lanes.next(webhook);
  CAF_REQUIRE(a && b);
  CAF_CHECK_EQUAL(positions(a->batch), pos_list{1});
  CAF_CHECK_EQUAL(positions(b->batch), pos_list{3});
  CAF_CHECK(!lanes.next(webhook)); // auction 7's second waits for its first
  CAF_CHECK_EQUAL(lanes.in_flight(), 2u);
  auto done = lanes.answer(a->id, ok(), 1);
  CAF_REQUIRE(done);
  CAF_REQUIRE_EQUAL(done->auctions.size(), 1u);
  CAF_CHECK_EQUAL(done->auctions[0].delivered.size(), 1u);
  CAF_CHECK_EQUAL(done->auctions[0].delivered[0].rec.position, 1);
  auto c = lanes.next(webhook);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(positions(c->batch), pos_list{2});
  CAF_CHECK(!lanes.answer(a->id, ok(), 1)); // a stale answer changes nothing
}

CAF_TEST(a transient failure backs the auction off until its current token) {
  limits_only webhook{{}};
  destination_lanes lanes;
  lanes.push(rec(1, 7));
  lanes.push(rec(2, 9));
  auto a = lanes.next(webhook);
  CAF_REQUIRE(a);
  auto done = lanes.answer(a->id, failed(failure_class::transient, 503), 1);
  CAF_REQUIRE(done && done->auctions.size() == 1);
  auto& s = done->auctions[0];
  CAF_CHECK(s.backoff.has_value());
  CAF_CHECK_EQUAL(s.attempts, 1u);
  CAF_CHECK(s.delivered.empty());
  CAF_CHECK(lanes.retrying());
  auto b = lanes.next(webhook); // the other auction flows meanwhile
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(positions(b->batch), pos_list{2});
  CAF_CHECK(!lanes.next(webhook));
  CAF_CHECK(!lanes.retry_due(7, s.token + 1)); // an older timer
  CAF_CHECK(lanes.retry_due(7, s.token));
  auto again = lanes.next(webhook);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(positions(again->batch), pos_list{1}); // the same head
  auto second = lanes.answer(again->id, failed(failure_class::transient, 503), 1);
  CAF_CHECK_EQUAL(second->auctions[0].attempts, 2u);
}

CAF_TEST(a permanent failure parks the auction and redrive sends its letters first) {
  limits_only webhook{{}};
  destination_lanes lanes;
  lanes.push(rec(1, 7));
  lanes.push(rec(2, 7));
  lanes.push(rec(3, 7));
  auto a = lanes.next(webhook);
  auto done = lanes.answer(a->id, failed(failure_class::permanent, 422), 1);
  CAF_REQUIRE(done && done->auctions.size() == 1);
  auto& s = done->auctions[0];
  CAF_CHECK(s.dead.has_value());
  CAF_REQUIRE(s.dead_item.has_value());
  CAF_CHECK_EQUAL(s.dead_item->rec.position, 1);
  CAF_REQUIRE_EQUAL(s.behind.size(), 2u);
  CAF_CHECK_EQUAL(s.behind[0].rec.position, 2);
  CAF_CHECK_EQUAL(lanes.parked(), 1u);
  CAF_CHECK(!lanes.push(rec(4, 7))); // parked: the caller parks it in the table
  CAF_CHECK(!lanes.next(webhook));
  CAF_CHECK_EQUAL(lanes.start_redrive(0), pos_list{7});
  CAF_CHECK(lanes.start_redrive(0).empty()); // already loading
  CAF_CHECK(lanes.push(rec(5, 7)));          // while loading: queued behind
  lanes.redriven(7, {rec(1, 7), rec(2, 7), rec(3, 7), rec(4, 7)});
  CAF_CHECK_EQUAL(lanes.parked(), 0u);
  std::vector<std::int64_t> sent;
  for (int i = 0; i < 5; ++i) {
    auto r = lanes.next(webhook);
    CAF_REQUIRE(r);
    sent.push_back(r->batch[0].position);
    auto d = lanes.answer(r->id, ok(), 1);
    CAF_CHECK_EQUAL(d->auctions[0].delivered[0].redriven, r->batch[0].position != 5);
  }
  CAF_CHECK_EQUAL(sent, (pos_list{1, 2, 3, 4, 5}));
}

CAF_TEST(a batch rejected as a whole is split until the bad record travels alone) {
  adapters::batch_limits hubspot;
  hubspot.max_records = 4;
  hubspot.mixes_auctions = true;
  limits_only client{hubspot};
  destination_lanes lanes;
  for (std::int64_t p = 1; p <= 4; ++p)
    lanes.push(rec(p, p));
  auto a = lanes.next(client);
  CAF_REQUIRE(a);
  CAF_CHECK_EQUAL(a->batch.size(), 4u);
  auto done = lanes.answer(a->id, failed(failure_class::permanent, 400), 4);
  CAF_REQUIRE(done);
  CAF_CHECK(done->batch_rejected);
  CAF_CHECK(done->auctions.empty()); // nothing dead yet: every auction retries
  CAF_CHECK_EQUAL(lanes.batch_cap(), 2u);
  auto b = lanes.next(client);
  CAF_REQUIRE(b);
  CAF_CHECK_EQUAL(b->batch.size(), 2u);
  // Success doubles the cap back toward the kind's maximum.
  lanes.answer(b->id, ok(), 4);
  CAF_CHECK_EQUAL(lanes.batch_cap(), 4u);
}

CAF_TEST(a kind that takes many records of one auction sends them in order) {
  adapters::batch_limits eventhub;
  eventhub.max_records = 10;
  limits_only client{eventhub};
  destination_lanes lanes;
  for (std::int64_t p = 1; p <= 5; ++p)
    lanes.push(rec(p, p % 2 == 0 ? 2 : 1));
  auto a = lanes.next(client);
  auto b = lanes.next(client);
  CAF_REQUIRE(a && b);
  CAF_CHECK_EQUAL(positions(a->batch), (pos_list{1, 3, 5})); // one auction per request
  CAF_CHECK_EQUAL(positions(b->batch), (pos_list{2, 4}));
}

CAF_TEST(live auctions go before backfilled ones in every request) {
  limits_only one_each{{}};
  destination_lanes lanes;
  CAF_CHECK(lanes.push(backfilled(1, 100)));
  CAF_CHECK(lanes.push(backfilled(2, 101)));
  CAF_CHECK(lanes.push(rec(3, 7)));
  CAF_CHECK(lanes.push(backfilled(4, 100)));
  CAF_CHECK(lanes.push(rec(5, 8)));
  // One record per request (a webhook's limit): live first, then the
  // backfilled auctions in their order.
  std::vector<pos_list> sent;
  while (auto r = lanes.next(one_each))
    sent.push_back(positions(r->batch));
  CAF_CHECK_EQUAL(sent, (std::vector<pos_list>{{3}, {5}, {1}, {2}}));
  // A live record arriving while backfilled ones wait still goes first.
  CAF_CHECK(lanes.push(backfilled(6, 102)));
  CAF_CHECK(lanes.push(rec(7, 9)));
  auto next = lanes.next(one_each);
  CAF_REQUIRE(next);
  CAF_CHECK_EQUAL(positions(next->batch), pos_list{7});
}

CAF_TEST(a request with live records carries no backfilled ones) {
  adapters::batch_limits hubspot;
  hubspot.max_records = 10;
  hubspot.mixes_auctions = true;
  limits_only client{hubspot};
  destination_lanes lanes;
  CAF_CHECK(lanes.push(backfilled(1, 100)));
  CAF_CHECK(lanes.push(rec(2, 7)));
  CAF_CHECK(lanes.push(backfilled(3, 101)));
  CAF_CHECK(lanes.push(rec(4, 8)));
  // Room for ten records, yet the live request holds only the two live
  // auctions; the backfilled ones share the next request.
  auto live = lanes.next(client);
  auto backfill = lanes.next(client);
  CAF_REQUIRE(live && backfill);
  CAF_CHECK_EQUAL(positions(live->batch), (pos_list{2, 4}));
  CAF_CHECK_EQUAL(positions(backfill->batch), (pos_list{1, 3}));
  CAF_CHECK_EQUAL(lanes.backfill_in_flight(), 1u);
}

CAF_TEST(backfill never takes the requests kept free for live auctions) {
  limits_only one_each{{}};
  destination_lanes lanes;
  lanes.set_backfill_limit(2);
  for (std::int64_t a = 100; a < 105; ++a)
    CAF_CHECK(lanes.push(backfilled(a, a)));
  // Two backfill requests go out; the other three auctions wait though the
  // worker could send more.
  auto first = lanes.next(one_each);
  auto second = lanes.next(one_each);
  CAF_REQUIRE(first && second);
  CAF_CHECK_EQUAL(lanes.backfill_in_flight(), 2u);
  CAF_CHECK(!lanes.has_ready());
  CAF_CHECK(!lanes.next(one_each));
  // A live record goes at once.
  CAF_CHECK(lanes.push(rec(200, 7)));
  CAF_CHECK(lanes.has_ready());
  auto live = lanes.next(one_each);
  CAF_REQUIRE(live);
  CAF_CHECK_EQUAL(positions(live->batch), pos_list{200});
  CAF_CHECK_EQUAL(lanes.backfill_in_flight(), 2u);
  // A backfill answer makes room for the next backfilled auction.
  CAF_REQUIRE(lanes.answer(first->id, ok(), 1));
  CAF_CHECK_EQUAL(lanes.backfill_in_flight(), 1u);
  CAF_CHECK(lanes.has_ready());
  auto third = lanes.next(one_each);
  CAF_REQUIRE(third);
  CAF_CHECK_EQUAL(positions(third->batch), pos_list{102});
  // The live answer changes nothing for backfill.
  CAF_REQUIRE(lanes.answer(live->id, ok(), 1));
  CAF_CHECK_EQUAL(lanes.backfill_in_flight(), 2u);
  CAF_CHECK(!lanes.has_ready());
}
