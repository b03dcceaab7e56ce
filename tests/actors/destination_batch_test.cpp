#define CAF_SUITE actors.destination_batch
#include "actors/destination_batch.hpp"

#include <caf/test/unit_test.hpp>
#include <deque>
#include <map>
#include <random>

using namespace gavel::actors;
using gavel::adapters::batch_limits;
using gavel::adapters::delivery_result;
using gavel::adapters::record_outcome;
using gavel::protocols::failure_class;

namespace {

/// HubSpot's limits as the client states them.
batch_limits hubspot() {
  return {100, 3 * 1024 * 1024, true, 100};
}

/// A record of the model: its auction and sequence number.
struct rec {
  std::int64_t auction;
  int seq;
};

/// Fills one request from `queues` in `ready` order the way the worker
/// does; returns the records in request order (queues are not changed).
std::vector<rec> fill(request_builder& b,
                      const std::map<std::int64_t, std::deque<rec>>& q,
                      const std::vector<std::int64_t>& ready,
                      const std::map<std::int64_t, std::string>& key_of = {}) {
  std::vector<rec> out;
  for (auto a : ready) {
    const auto& queue = q.at(a);
    if (queue.empty())
      continue;
    if (!b.open(a, 100))
      break;
    for (const auto& r : queue) {
      auto k = key_of.count(a) ? key_of.at(a) : std::string{};
      if (!b.add(100, k))
        break;
      out.push_back(r);
    }
    b.close();
  }
  return out;
}

std::deque<rec> records(std::int64_t auction, int n) {
  std::deque<rec> q;
  for (int i = 1; i <= n; ++i)
    q.push_back({auction, i});
  return q;
}

} // namespace

CAF_TEST(one hot auction fills a request with its next 100 events in order) {
  std::map<std::int64_t, std::deque<rec>> q{{7, records(7, 250)}};
  request_builder b{hubspot(), 100};
  auto sent = fill(b, q, {7});
  CAF_REQUIRE_EQUAL(sent.size(), 100u);
  for (int i = 0; i < 100; ++i)
    CAF_CHECK_EQUAL(sent[static_cast<std::size_t>(i)].seq, i + 1);
  CAF_REQUIRE_EQUAL(b.parts().size(), 1u);
  CAF_CHECK_EQUAL(b.parts()[0].auction, 7);
  CAF_CHECK_EQUAL(b.parts()[0].records, 100u);
  CAF_CHECK(b.full());
}

CAF_TEST(auctions share a request each with a prefix of its queue) {
  std::map<std::int64_t, std::deque<rec>> q{
      {1, records(1, 30)}, {2, records(2, 50)}, {3, records(3, 40)}};
  request_builder b{hubspot(), 100};
  auto sent = fill(b, q, {1, 2, 3});
  CAF_CHECK_EQUAL(sent.size(), 100u);
  CAF_REQUIRE_EQUAL(b.parts().size(), 3u);
  CAF_CHECK_EQUAL(b.parts()[0].records, 30u);
  CAF_CHECK_EQUAL(b.parts()[1].records, 50u);
  CAF_CHECK_EQUAL(b.parts()[2].records, 20u); // 3's first 20; the rest next time
  CAF_CHECK_EQUAL(sent.back().auction, 3);
  CAF_CHECK_EQUAL(sent.back().seq, 20);
}

CAF_TEST(
    a shared id goes once per request and a kind that does not mix takes one auction) {
  // id property shared by an auction's events (one CRM object per auction):
  // one input per auction per request, several auctions still share it.
  std::map<std::int64_t, std::deque<rec>> q{{1, records(1, 5)}, {2, records(2, 5)}};
  request_builder b{hubspot(), 100};
  auto sent = fill(b, q, {1, 2}, {{1, "auction-1"}, {2, "auction-2"}});
  CAF_CHECK_EQUAL(sent.size(), 2u);
  CAF_CHECK_EQUAL(b.parts().size(), 2u);
  // Event Hubs: one auction (one partition key) per request, up to 500.
  request_builder eh{{500, 1024 * 1024, false}, 500};
  auto one = fill(eh, q, {1, 2});
  CAF_CHECK_EQUAL(one.size(), 5u);
  CAF_CHECK_EQUAL(eh.parts().size(), 1u);
  CAF_CHECK(eh.full());
  // A halved cap (isolating a record the server refuses whole) is honoured.
  request_builder small{hubspot(), 3};
  CAF_CHECK_EQUAL(fill(small, q, {1, 2}).size(), 3u);
}

CAF_TEST(bytes limit stops an auction and keeps the first record of a request) {
  request_builder b{{100, 250, true, 100}, 100};
  CAF_REQUIRE(b.open(1, 1000));
  CAF_CHECK(b.add(1000)); // alone, even though too big: the server judges it
  CAF_CHECK(!b.add(10));
  b.close();
  CAF_CHECK(!b.open(2, 10));
  CAF_CHECK_EQUAL(b.records(), 1u);
}

CAF_TEST(a rejected input stops its auction and what follows it is resent) {
  std::vector<batch_part> parts{{1, 3}, {2, 4}, {3, 2}};
  delivery_result r;
  r.records.resize(9);
  r.records[4] = {failure_class::transient, "HubSpot: busy", 429};    // auction 2, 2nd
  r.records[7] = {failure_class::permanent, "HubSpot: invalid", 400}; // auction 3, 1st
  auto v = split_verdicts(parts, r);
  CAF_REQUIRE_EQUAL(v.size(), 3u);
  CAF_CHECK_EQUAL(v[0].delivered, 3u);
  CAF_CHECK(!v[0].failed);
  CAF_CHECK_EQUAL(v[1].delivered, 1u);
  CAF_REQUIRE(v[1].failed);
  CAF_CHECK(v[1].failed->outcome == failure_class::transient);
  CAF_CHECK_EQUAL(v[1].resent, 2u); // its 3rd and 4th: succeeded, sent again after
  CAF_CHECK_EQUAL(v[2].delivered, 0u);
  CAF_REQUIRE(v[2].failed);
  CAF_CHECK(v[2].failed->outcome == failure_class::permanent);
  CAF_CHECK_EQUAL(v[2].resent, 1u);
  // A whole-request failure fails every auction at its head.
  delivery_result whole;
  whole.overall = failure_class::transient;
  whole.status = 503;
  for (const auto& x : split_verdicts(parts, whole)) {
    CAF_CHECK_EQUAL(x.delivered, 0u);
    CAF_CHECK(x.failed && x.failed->status == 503);
  }
}

CAF_TEST(random partial failures never confirm an auction event before an earlier one) {
  // A model of the worker: per-auction queues, one request in flight per
  // auction, a server writing inputs in request order and refusing 0.5 % of
  // them (transient). Confirmed deliveries per auction must come 1, 2, 3...
  // and the last write of each event must follow the last write of the one
  // before it (what a reader of HubSpot sees), with requests that carry many
  // events of one auction.
  std::mt19937 rng{42};
  std::map<std::int64_t, std::deque<rec>> q{{1, records(1, 3000)},
                                            {2, records(2, 400)},
                                            {3, records(3, 90)},
                                            {4, records(4, 7)}};
  std::map<std::int64_t, int> confirmed;
  std::map<std::int64_t, std::map<int, std::size_t>> last_write; // seq -> write no
  std::size_t writes = 0, requests = 0, max_one_auction = 0;
  std::bernoulli_distribution refuse{0.005};
  std::size_t refused = 0;
  while (true) {
    std::vector<std::int64_t> ready;
    for (auto& [a, queue] : q)
      if (!queue.empty())
        ready.push_back(a);
    if (ready.empty())
      break;
    std::shuffle(ready.begin(), ready.end(), rng);
    request_builder b{hubspot(), 100};
    auto sent = fill(b, q, ready);
    CAF_REQUIRE(!sent.empty());
    CAF_REQUIRE(sent.size() <= 100u);
    ++requests;
    delivery_result r;
    r.records.resize(sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      if (refuse(rng)) {
        r.records[i] = {failure_class::transient, "refused", 429};
        ++refused;
        continue;
      }
      last_write[sent[i].auction][sent[i].seq] = ++writes;
    }
    for (const auto& p : b.parts())
      max_one_auction = std::max(max_one_auction, p.records);
    for (const auto& v : split_verdicts(b.parts(), r)) {
      auto& queue = q[v.auction];
      for (std::size_t k = 0; k < v.delivered; ++k) {
        CAF_CHECK_EQUAL(queue.front().seq, confirmed[v.auction] + 1);
        confirmed[v.auction] = queue.front().seq;
        queue.pop_front();
      }
    }
  }
  CAF_CHECK_EQUAL(confirmed[1], 3000);
  CAF_CHECK_EQUAL(confirmed[2], 400);
  CAF_CHECK_EQUAL(confirmed[3], 90);
  CAF_CHECK_EQUAL(confirmed[4], 7);
  CAF_CHECK_EQUAL(max_one_auction, 100u);
  // 3,497 events; at most 100 a request; auction 1 alone needs 30, and each
  // refusal cuts its request short.
  CAF_CHECK(refused > 0u);
  CAF_CHECK(requests < 80u);
  CAF_MESSAGE(requests << " requests, " << refused << " refusals");
  for (auto& [a, seqs] : last_write) {
    std::size_t prev = 0;
    for (auto& [seq, w] : seqs) {
      CAF_CHECK(w > prev);
      prev = w;
    }
  }
}
