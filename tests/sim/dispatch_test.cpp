#define CAF_SUITE sim.dispatch
#include "sim/dispatch.hpp"

#include <algorithm>
#include <caf/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

using namespace gavel::sim;

namespace {

script_event event(event_kind kind, std::string id, std::int32_t resend_of = -1) {
  script_event e;
  e.kind = kind;
  e.event_id = std::move(id);
  e.resend_of = resend_of;
  return e;
}

/// Auction 0: opened, bid 1, bid 2, resend of bid 1, closed.
/// Auction 1: bid 1 (an implicit open), then its auction.opened, bid 2.
std::vector<auction_script> two_auctions() {
  std::vector<auction_script> s(2);
  s[0].auction_id = 1;
  s[0].events = {event(event_kind::opened, "auction.opened-1"),
                 event(event_kind::bid, "bid.placed-1000001"),
                 event(event_kind::bid, "bid.placed-1000002"),
                 event(event_kind::bid, "bid.placed-1000001", 1),
                 event(event_kind::closed, "auction.closed-1")};
  s[1].auction_id = 2;
  s[1].events = {event(event_kind::bid, "bid.placed-2000001"),
                 event(event_kind::opened, "auction.opened-2"),
                 event(event_kind::bid, "bid.placed-2000002")};
  return s;
}

/// Every event due at `t[i]` (auction 0 first, then auction 1).
std::vector<schedule_entry> schedule(const std::vector<auction_script>& s,
                                     const std::vector<double>& t) {
  std::vector<schedule_entry> out;
  std::size_t k = 0;
  for (std::uint32_t a = 0; a < s.size(); ++a)
    for (std::uint32_t e = 0; e < s[a].events.size(); ++e)
      out.push_back({t.at(k++), a, e});
  return out;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> take_all(dispatcher& d, double now,
                                                              std::size_t limit = 100) {
  std::vector<schedule_entry> got;
  d.poll(now);
  d.take(limit, got);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (const auto& e : got)
    out.emplace_back(e.auction, e.event);
  return out;
}

using pairs = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

} // namespace

CAF_TEST(nothing leaves before it is due) {
  auto s = two_auctions();
  dispatcher d(s, schedule(s, {0, 10, 20, 30, 40, 5, 15, 25}));
  CAF_CHECK_EQUAL(take_all(d, -1), pairs{});
  CAF_CHECK_EQUAL(take_all(d, 0), (pairs{{0, 0}}));
  CAF_CHECK_EQUAL(d.next_due(), 5);
  CAF_CHECK_EQUAL(take_all(d, 5), (pairs{{1, 0}}));
}

CAF_TEST(bids of one auction go out together once its first event is answered) {
  auto s = two_auctions();
  dispatcher d(s, schedule(s, {0, 1, 2, 30, 40, 100, 100, 100}));
  // The opened is in flight: bids 1 and 2, due, wait for its answer.
  CAF_CHECK_EQUAL(take_all(d, 0), (pairs{{0, 0}}));
  CAF_CHECK_EQUAL(take_all(d, 2), pairs{});
  CAF_CHECK_EQUAL(d.backlog(2), 2u);
  d.answered(0, 0, 3);
  CAF_CHECK_EQUAL(d.held(), 2u);
  CAF_CHECK_EQUAL(d.max_held_ms(), 2); // bid 1 was due at 1, released at 3
  // Both bids at once: neither waits for the other's answer.
  CAF_CHECK_EQUAL(take_all(d, 3), (pairs{{0, 1}, {0, 2}}));
}

CAF_TEST(a resend waits for the answer to its original) {
  auto s = two_auctions();
  dispatcher d(s, schedule(s, {0, 1, 1, 1, 40, 100, 100, 100}));
  take_all(d, 0);
  d.answered(0, 0, 0.5);
  CAF_CHECK_EQUAL(take_all(d, 1), (pairs{{0, 1}, {0, 2}}));
  d.answered(0, 2, 2);
  CAF_CHECK_EQUAL(take_all(d, 2), pairs{}); // bid 1 not answered yet
  d.answered(0, 1, 3);
  CAF_CHECK_EQUAL(take_all(d, 3), (pairs{{0, 3}}));
}

CAF_TEST(the close waits for every earlier answer and gates what follows) {
  std::vector<auction_script> s(1);
  s[0].events = {event(event_kind::opened, "o"), event(event_kind::bid, "b1"),
                 event(event_kind::bid, "b2"), event(event_kind::closed, "c"),
                 event(event_kind::bid, "late")};
  dispatcher d(s, schedule(s, {0, 1, 2, 3, 4}));
  take_all(d, 0);
  d.answered(0, 0, 0);
  CAF_CHECK_EQUAL(take_all(d, 2), (pairs{{0, 1}, {0, 2}}));
  CAF_CHECK_EQUAL(take_all(d, 4), pairs{}); // close and the late bid wait
  d.answered(0, 2, 5);
  CAF_CHECK_EQUAL(take_all(d, 5), pairs{}); // bid 1 still in flight
  d.answered(0, 1, 6);
  CAF_CHECK_EQUAL(take_all(d, 6), (pairs{{0, 3}})); // the close alone
  d.answered(0, 3, 7);
  CAF_CHECK_EQUAL(take_all(d, 7), (pairs{{0, 4}})); // then what came after
  CAF_CHECK(!d.finished());
  d.answered(0, 4, 8);
  CAF_CHECK(d.finished());
}

CAF_TEST(a close polled while a resend waits does not gate that resend) {
  // Regression: the resend, held for its original, must not then wait for
  // the close that itself waits for the resend.
  std::vector<auction_script> s(1);
  s[0].events = {event(event_kind::opened, "o"), event(event_kind::bid, "b1"),
                 event(event_kind::bid, "b1", 1), event(event_kind::closed, "c")};
  dispatcher d(s, schedule(s, {0, 1, 1, 2}));
  take_all(d, 0);
  d.answered(0, 0, 0);
  CAF_CHECK_EQUAL(take_all(d, 1), (pairs{{0, 1}})); // the resend waits
  CAF_CHECK_EQUAL(take_all(d, 2), pairs{});         // so does the close
  d.answered(0, 1, 3);
  CAF_CHECK_EQUAL(take_all(d, 3), (pairs{{0, 2}}));
  d.answered(0, 2, 4);
  CAF_CHECK_EQUAL(take_all(d, 4), (pairs{{0, 3}}));
  d.answered(0, 3, 5);
  CAF_CHECK(d.finished());
}

CAF_TEST(an implicit open goes after the first bid it follows) {
  auto s = two_auctions();
  dispatcher d(s, schedule(s, {100, 100, 100, 100, 100, 0, 0, 0}));
  CAF_CHECK_EQUAL(take_all(d, 0), (pairs{{1, 0}}));
  d.answered(1, 0, 1);
  CAF_CHECK_EQUAL(take_all(d, 1), (pairs{{1, 1}, {1, 2}}));
}

CAF_TEST(ready events leave earliest due first and batches respect the limit) {
  std::vector<auction_script> s(3);
  for (auto& a : s)
    a.events = {event(event_kind::opened, "o"), event(event_kind::bid, "b")};
  dispatcher d(s, {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {5, 2, 1}, {6, 1, 1}, {7, 0, 1}});
  CAF_CHECK_EQUAL(take_all(d, 0, 2), (pairs{{0, 0}, {1, 0}}));
  CAF_CHECK_EQUAL(take_all(d, 0, 2), (pairs{{2, 0}}));
  for (std::uint32_t a = 0; a < 3; ++a)
    d.answered(a, 0, 1);
  // All three bids due at 10: by due time, not by auction.
  CAF_CHECK_EQUAL(take_all(d, 10, 2), (pairs{{2, 1}, {1, 1}}));
  CAF_CHECK_EQUAL(take_all(d, 10, 2), (pairs{{0, 1}}));
}

CAF_TEST(due times never go backwards along a script) {
  std::vector<auction_script> s(1);
  s[0].events = {event(event_kind::opened, "o"), event(event_kind::bid, "b")};
  // The bid is scheduled before its auction's opened: it becomes due with it.
  dispatcher d(s, {{10, 0, 0}, {5, 0, 1}});
  CAF_CHECK_EQUAL(take_all(d, 5), pairs{});
  CAF_CHECK_EQUAL(d.next_due(), 10);
  CAF_CHECK_EQUAL(take_all(d, 10), (pairs{{0, 0}}));
}

CAF_TEST(backlog and its oldest due count held and unpolled events) {
  auto s = two_auctions();
  dispatcher d(s, schedule(s, {0, 1, 2, 30, 40, 5, 15, 25}));
  take_all(d, 0);                    // the opened of auction 0 goes
  d.poll(2);                         // bids 1 and 2 wait for it
  CAF_CHECK_EQUAL(d.backlog(6), 3u); // the two bids and auction 1's first bid
  CAF_CHECK_EQUAL(d.oldest_backlog_due(6), 1);
  CAF_CHECK_EQUAL(d.backlog(100), 7u);
}

CAF_TEST(the pool reuses idle connections first in first out and grows to its cap) {
  connection_pool p(2, 3);
  CAF_CHECK_EQUAL(p.acquire(), std::optional<std::size_t>{0});
  CAF_CHECK_EQUAL(p.acquire(), std::optional<std::size_t>{1});
  // Both busy: a third connection is opened.
  CAF_CHECK_EQUAL(p.acquire(), std::optional<std::size_t>{2});
  CAF_CHECK_EQUAL(p.grown(), 1u);
  // At the cap: refused, counted.
  CAF_CHECK_EQUAL(p.acquire(), std::nullopt);
  CAF_CHECK_EQUAL(p.refused(), 1u);
  CAF_CHECK_EQUAL(p.peak_busy(), 3u);
  p.release(1);
  p.release(0);
  CAF_CHECK_EQUAL(p.acquire(), std::optional<std::size_t>{1});
  CAF_CHECK_EQUAL(p.acquire(), std::optional<std::size_t>{0});
  CAF_CHECK_EQUAL(p.size(), 3u);
  CAF_CHECK_EQUAL(p.busy(), 3u);
}

CAF_TEST(a cap below the initial size is the initial size) {
  connection_pool p(4, 1);
  CAF_CHECK_EQUAL(p.max(), 4u);
}

CAF_TEST(single answers are read without a DOM) {
  ingest_answer a;
  CAF_REQUIRE(read_ingest_answer(
      R"({"event_id":"bid.placed-1000003","bid_sequence":4,"status":"accepted"})", a));
  CAF_CHECK_EQUAL(a.status, "accepted");
  CAF_CHECK_EQUAL(a.event_id, "bid.placed-1000003");
  CAF_CHECK_EQUAL(a.bid_sequence, std::optional<std::int64_t>{4});
  CAF_REQUIRE(read_ingest_answer(
      R"( { "status" : "duplicate", "bid_sequence" : null, "x": {"y":[1,"]}"]} } )", a));
  CAF_CHECK_EQUAL(a.status, "duplicate");
  CAF_CHECK_EQUAL(a.bid_sequence, std::nullopt);
  CAF_CHECK(!read_ingest_answer("not json", a));
  CAF_CHECK(!read_ingest_answer(R"({"status":"accepted")", a));
  CAF_CHECK(!read_ingest_answer(R"({"status":"acc)", a));
  CAF_CHECK(!read_ingest_answer(R"({"status":"a\)", a));
  CAF_CHECK(!read_ingest_answer("", a));
}

CAF_TEST(batch answers give one item per result with rejections and their errors) {
  std::vector<ingest_answer> r;
  CAF_REQUIRE(read_ingest_results(
      R"({"results":[{"event_id":"a","bid_sequence":1,"status":"accepted"},)"
      R"({"event_id":"b","status":"rejected","error":{"code":"conflict","message":"closed"}},)"
      R"({"event_id":"c","bid_sequence":7,"status":"duplicate"}]})",
      r));
  CAF_REQUIRE_EQUAL(r.size(), 3u);
  CAF_CHECK_EQUAL(r[0].status, "accepted");
  CAF_CHECK_EQUAL(r[1].status, "rejected");
  CAF_CHECK_EQUAL(r[1].error, R"({"code":"conflict","message":"closed"})");
  CAF_CHECK_EQUAL(r[1].bid_sequence, std::nullopt);
  CAF_CHECK_EQUAL(r[2].bid_sequence, std::optional<std::int64_t>{7});
  CAF_CHECK(read_ingest_results(R"({"other":1,"results":[]})", r));
  CAF_CHECK(r.empty());
  CAF_CHECK(!read_ingest_results(R"({"other":1})", r));
  CAF_CHECK(!read_ingest_results(R"({"results":[{"status":"accepted"})", r));
  CAF_CHECK(!read_ingest_results("[]", r));
}

CAF_TEST(a generated workload drains with answers in random order and every rule kept) {
  workload_options w;
  w.auctions = 30;
  w.events = 3000;
  w.duplicates = 0.2;
  w.implicit_open = 0.3;
  w.start_ms = 1'781'000'000'000;
  const auto scripts = generate_workload(w);
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<schedule_entry> sched;
    for (std::uint32_t a = 0; a < scripts.size(); ++a)
      for (std::uint32_t e = 0; e < scripts[a].events.size(); ++e)
        sched.push_back(
            {static_cast<double>(scripts[a].events[e].t_ms - w.start_ms) / 50, a, e});
    dispatcher d(scripts, sched);
    std::vector<std::vector<std::uint8_t>> answered(scripts.size()), sent(scripts.size());
    for (std::size_t a = 0; a < scripts.size(); ++a) {
      answered[a].resize(scripts[a].events.size());
      sent[a].resize(scripts[a].events.size());
    }
    std::vector<schedule_entry> in_flight, got;
    std::size_t violations = 0;
    double now = 0;
    for (int step = 0; step < 1'000'000 && !d.finished(); ++step) {
      now += std::uniform_real_distribution<double>(0, 20)(rng);
      d.poll(now);
      got.clear();
      d.take(std::uniform_int_distribution<std::size_t>(1, 4)(rng), got);
      for (const auto& e : got) {
        const auto& ev = scripts[e.auction].events[e.event];
        const auto& done = answered[e.auction];
        violations += sent[e.auction][e.event]++ != 0; // taken twice
        violations += e.due > now;                     // taken early
        if (e.event > 0 && !done[0])
          ++violations; // before the auction's first event was answered
        if (ev.resend_of >= 0 && !done[static_cast<std::size_t>(ev.resend_of)])
          ++violations; // a resend before its original's answer
        for (std::uint32_t i = 0; i < e.event; ++i)
          if (scripts[e.auction].events[i].kind == event_kind::closed && !done[i])
            ++violations; // after a close that was not answered
        if (ev.kind == event_kind::closed)
          for (std::uint32_t i = 0; i < e.event; ++i)
            violations += !done[i]; // a close before an earlier answer
        in_flight.push_back(e);
      }
      // Answer a random subset, in random order.
      std::shuffle(in_flight.begin(), in_flight.end(), rng);
      auto n = std::uniform_int_distribution<std::size_t>(0, in_flight.size())(rng);
      for (std::size_t i = 0; i < n; ++i) {
        answered[in_flight.back().auction][in_flight.back().event] = 1;
        d.answered(in_flight.back().auction, in_flight.back().event, now);
        in_flight.pop_back();
      }
    }
    CAF_CHECK_EQUAL(violations, 0u);
    CAF_CHECK(d.finished());
    CAF_CHECK_EQUAL(d.taken(), d.size());
  }
}
