#define CAF_SUITE adapters.pull
#include "adapters/postgres/store.hpp"
#include "pg_fixture.hpp"

#include <atomic>
#include <caf/test/unit_test.hpp>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>
#include <unordered_set>

using namespace gavel;
using protocols::event_type;
using protocols::pull_query;

namespace {

constexpr protocols::unix_ms t0 = 1781013600000; // 2026-06-09T14:00:00Z

/// The envelope the tests store: the event_id, and a number whose text must
/// come back as stored.
std::string envelope_of(const std::string& id) {
  return R"({"metadata":{"event_id":")" + id + R"("},"data":{"bid_amount":875.10}})";
}

/// The event_id back out of an envelope envelope_of made.
std::string id_of(const std::string& envelope) {
  auto start = envelope.find("event_id\":\"") + 11;
  return envelope.substr(start, envelope.find('"', start) - start);
}

protocols::new_event make(std::int64_t auction, event_type type, std::int64_t seq,
                          std::string id, protocols::unix_ms producer = t0,
                          std::string bidder = {},
                          std::optional<protocols::unix_ms> bid_ms = {}) {
  protocols::new_event e;
  e.event_id = std::move(id);
  e.auction_id = auction;
  e.type = type;
  e.bid_sequence = seq;
  e.bid_id = type == event_type::bid_placed ? seq * 1000 + auction : 0;
  e.bidder_user_id = std::move(bidder);
  e.producer_ms = producer;
  e.bid_ms = bid_ms;
  e.envelope = std::make_shared<const std::string>(envelope_of(e.event_id));
  return e;
}

struct paged {
  std::vector<std::string> ids;
  std::size_t pages = 0;
  std::optional<protocols::pull_cursor> last_next;
};

/// Follows `next` until null.
paged page_all(adapters::pg_store& store, pull_query q) {
  paged out;
  for (;;) {
    auto page = store.pull_events(q);
    CAF_REQUIRE(page);
    ++out.pages;
    for (const auto& e : page->envelopes)
      out.ids.push_back(id_of(*e));
    if (!page->next)
      return out;
    out.last_next = page->next;
    q.after = page->next;
  }
}

std::vector<std::string> ids(adapters::pg_store& store, pull_query q) {
  return page_all(store, std::move(q)).ids;
}

struct fixture {
  test::fresh_database db;
  adapters::pg_store store{{db.url()}};
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pull_tests, fixture)

CAF_TEST(paging with after returns every stored event once while others commit) {
  // 50,000 in CI; the soak test (soak.pull_paging) sets 1,000,000.
  std::size_t n = 50000;
  if (const char* v = std::getenv("GAVEL_PULL_EVENTS"))
    n = std::strtoull(v, nullptr, 10);
  const std::int64_t auctions = 500;
  std::vector<protocols::new_event> batch;
  for (std::size_t i = 0; i < n; ++i) {
    auto a = static_cast<std::int64_t>(i) % auctions + 1;
    auto seq = static_cast<std::int64_t>(i) / auctions + 1;
    batch.push_back(make(a, event_type::bid_placed, seq, "pre-" + std::to_string(i)));
    if (batch.size() == 2000 || i + 1 == n) {
      CAF_REQUIRE(store.commit(batch, {}, {}));
      batch.clear();
    }
  }
  // Two writers of their own, so that commits also become visible out of
  // position order (the case the horizon exists for).
  std::atomic<bool> stop{false};
  std::mutex m;
  std::condition_variable first_commits;
  std::vector<std::string> committed;
  auto writer = [&](int w) {
    adapters::pg_store own{{db.url()}};
    for (std::int64_t k = 0; !stop; ++k) {
      std::vector<protocols::new_event> evs;
      for (int j = 0; j < 20; ++j) {
        auto id = "live-" + std::to_string(w) + "-" + std::to_string(k * 20 + j);
        evs.push_back(make(10000 + w, event_type::bid_placed, k * 20 + j + 1, id));
      }
      if (own.commit(evs, {}, {})) {
        std::lock_guard g{m};
        for (auto& e : evs)
          committed.push_back(e.event_id);
        first_commits.notify_all();
      }
    }
  };
  std::thread w1{writer, 1}, w2{writer, 2};
  // The first page is asked once the writers have committed two batches
  // (woken by their commits, not by a clock).
  std::vector<std::string> before_first_page;
  {
    std::unique_lock g{m};
    first_commits.wait(g, [&] { return committed.size() >= 40; });
    before_first_page = committed;
  }
  // The writers keep going until every preloaded event has been paged
  // (new rows keep the tail busy meanwhile), then the pager runs to the end.
  pull_query q;
  q.limit = 1000;
  paged got;
  std::size_t pre_seen = 0;
  for (;;) {
    auto page = store.pull_events(q);
    CAF_REQUIRE(page);
    ++got.pages;
    for (const auto& e : page->envelopes) {
      got.ids.push_back(id_of(*e));
      pre_seen += got.ids.back().starts_with("pre-") ? 1 : 0;
    }
    if (pre_seen == n)
      stop = true;
    if (!page->next)
      break;
    q.after = page->next;
  }
  stop = true;
  w1.join();
  w2.join();

  std::unordered_set<std::string> seen;
  for (const auto& id : got.ids)
    CAF_CHECK(seen.insert(id).second); // never repeated
  CAF_CHECK_EQUAL(seen.size(), got.ids.size());
  std::size_t pre = 0;
  for (const auto& id : got.ids)
    pre += id.starts_with("pre-") ? 1 : 0;
  CAF_CHECK_EQUAL(pre, n);
  for (const auto& id : before_first_page)
    CAF_CHECK(seen.contains(id));
  // Nothing skipped: what was returned is exactly every row up to the last
  // one returned, in the order's keys, though writers committed meanwhile.
  CAF_REQUIRE(!got.ids.empty());
  auto last = got.ids.back();
  auto upto = db.scalar("select count(*) from outbox where (xid, position) <= "
                        "(select xid, position from outbox where event_id = '" +
                        last + "')");
  CAF_CHECK_EQUAL(upto, std::to_string(got.ids.size()));
  CAF_MESSAGE(got.ids.size() << " events in " << got.pages << " pages; "
                             << got.ids.size() - n << " committed meanwhile");
}

CAF_TEST(a row committed late is not passed over
         : pages stop below running transactions) {
  CAF_REQUIRE(store.commit({make(1, event_type::auction_opened, 1, "a1"),
                            make(1, event_type::bid_placed, 2, "a2")},
                           {}, {}));
  // A transaction takes the next position and stays open...
  pqxx::connection late{db.url()};
  pqxx::work tx{late};
  tx.exec("insert into outbox (event_id, auction_id, event_type, bid_sequence, "
          "producer_ts, envelope) values ('late', 2, 'auction.opened', 1, now(), '" +
          envelope_of("late") + "')");
  // ...while later positions commit.
  CAF_REQUIRE(store.commit({make(1, event_type::bid_placed, 3, "b1"),
                            make(1, event_type::bid_placed, 4, "b2")},
                           {}, {}));
  pull_query q;
  auto first = store.pull_events(q);
  CAF_REQUIRE(first);
  CAF_REQUIRE_EQUAL(first->envelopes.size(), 2u);
  CAF_CHECK_EQUAL(id_of(*first->envelopes[1]), "a2");
  // b1 and b2 are committed but behind the open transaction: not the end.
  CAF_REQUIRE(first->next);
  q.after = first->next;
  auto again = store.pull_events(q);
  CAF_REQUIRE(again);
  CAF_CHECK(again->envelopes.empty());
  CAF_REQUIRE(again->next);
  tx.commit();
  q.after = again->next;
  auto rest = ids(store, q);
  CAF_CHECK_EQUAL(rest, (std::vector<std::string>{"late", "b1", "b2"}));
  // The auction's own order is held back the same way, and settles too.
  pull_query by_auction;
  by_auction.auction_id = 1;
  CAF_CHECK_EQUAL(ids(store, by_auction),
                  (std::vector<std::string>{"a1", "a2", "b1", "b2"}));
}

CAF_TEST(every filter selects what it names and pages in its documented order) {
  // Auction 1, stored in this order (bid 13 before bid 12, a heartbeat that
  // ties with bid 13's sequence), auction 2 between them.
  auto at = [](int k) { return t0 + k * 1000; };
  auto bid = [&](std::int64_t a, std::int64_t seq, std::string id, int k,
                 std::string bidder, int bid_k) {
    return make(a, event_type::bid_placed, seq, std::move(id), at(k), std::move(bidder),
                t0 - 3600000 + bid_k * 1000);
  };
  CAF_REQUIRE(
      store.commit({make(1, event_type::auction_opened, 1, "auction.opened-1", at(0)),
                    bid(1, 3, "bid.placed-13", 1, "u1", 5)},
                   {}, {}));
  CAF_REQUIRE(store.commit(
      {make(2, event_type::auction_opened, 1, "auction.opened-2", at(2)),
       bid(1, 2, "bid.placed-12", 3, "u2", 4),
       make(1, event_type::producer_heartbeat, 3, "producer.heartbeat-1-1", at(4))},
      {}, {}));
  CAF_REQUIRE(store.commit(
      {bid(2, 2, "bid.placed-21", 5, "u1", 6), bid(1, 4, "bid.placed-14", 6, "77", 7),
       make(1, event_type::auction_closed, 4, "auction.closed-1", at(7))},
      {}, {}));
  using list = std::vector<std::string>;
  pull_query all;
  CAF_CHECK_EQUAL(ids(store, all),
                  (list{"auction.opened-1", "bid.placed-13", "auction.opened-2",
                        "bid.placed-12", "producer.heartbeat-1-1", "bid.placed-21",
                        "bid.placed-14", "auction.closed-1"}));
  pull_query a1;
  a1.auction_id = 1;
  const list auction_order{"auction.opened-1",       "bid.placed-12", "bid.placed-13",
                           "producer.heartbeat-1-1", "bid.placed-14", "auction.closed-1"};
  CAF_CHECK_EQUAL(ids(store, a1), auction_order);
  for (std::size_t limit : {1u, 2u, 5u}) {
    a1.limit = limit;
    auto p = page_all(store, a1);
    CAF_CHECK_EQUAL(p.ids, auction_order);
    CAF_CHECK_GREATER_OR_EQUAL(p.pages, (auction_order.size() + limit - 1) / limit);
  }
  pull_query bidder;
  bidder.bidder_user_id = "u1";
  CAF_CHECK_EQUAL(ids(store, bidder), (list{"bid.placed-13", "bid.placed-21"}));
  bidder.bidder_user_id = "7";
  CAF_CHECK(ids(store, bidder).empty()); // exact match, not a prefix
  pull_query type;
  type.type = event_type::auction_opened;
  CAF_CHECK_EQUAL(ids(store, type), (list{"auction.opened-1", "auction.opened-2"}));
  type.type = event_type::producer_heartbeat;
  CAF_CHECK_EQUAL(ids(store, type), (list{"producer.heartbeat-1-1"}));
  type.type = event_type::auction_closed;
  type.auction_id = 2;
  CAF_CHECK(ids(store, type).empty());
  // Half-open on producer_timestamp: [at(2), at(5)).
  pull_query window;
  window.from = at(2);
  window.to = at(5);
  CAF_CHECK_EQUAL(ids(store, window),
                  (list{"auction.opened-2", "bid.placed-12", "producer.heartbeat-1-1"}));
  window.to.reset();
  window.from = at(7);
  CAF_CHECK_EQUAL(ids(store, window), (list{"auction.closed-1"}));
  // Half-open on the bid's own timestamp: bids only.
  pull_query bids;
  bids.bid_from = t0 - 3600000 + 5000;
  bids.bid_to = t0 - 3600000 + 7000;
  CAF_CHECK_EQUAL(ids(store, bids), (list{"bid.placed-13", "bid.placed-21"}));
  bids.bid_to.reset();
  bids.auction_id = 1;
  CAF_CHECK_EQUAL(ids(store, bids), (list{"bid.placed-13", "bid.placed-14"}));
  // limit: a full page says where to go on; the last one does not.
  pull_query two;
  two.limit = 2;
  auto p = store.pull_events(two);
  CAF_REQUIRE(p);
  CAF_CHECK_EQUAL(p->envelopes.size(), 2u);
  CAF_CHECK(p->next);
  // The stored bytes come back as they are.
  CAF_CHECK_EQUAL(*p->envelopes[0], envelope_of("auction.opened-1"));
}

// 2,000 bids in 20 transactions, each storing its producer timestamps in
// reverse, then 10 late rows inside the narrow window: a narrow window and
// a bidder are read through their own indexes and sorted, a wide window by
// walking storage order; both page in storage order, every row once.
CAF_TEST(narrow and wide filters page in storage order whichever way they are read) {
  auto at = [](int k) { return t0 + std::int64_t{k} * 1000; };
  std::vector<protocols::new_event> stored;
  for (int k = 0; k < 21; ++k) {
    std::vector<protocols::new_event> batch;
    for (int j = 0; j < (k < 20 ? 100 : 10); ++j) {
      auto second = k < 20 ? k * 100 + (99 - j) : 520 + j;
      batch.push_back(make(k + 1, event_type::bid_placed, j + 1,
                           "bid.placed-" + std::to_string(k) + "-" + std::to_string(j),
                           at(second), "u" + std::to_string(j % 10), at(second)));
    }
    CAF_REQUIRE(store.commit(batch, {}, {}));
    stored.insert(stored.end(), batch.begin(), batch.end());
  }
  CAF_REQUIRE(store.query("analyze outbox"));
  auto expect = [&](auto keep) {
    std::vector<std::string> out;
    for (const auto& e : stored)
      if (keep(e))
        out.push_back(e.event_id);
    return out;
  };
  auto check = [&](pull_query q, bool filter_first,
                   const std::vector<std::string>& want) {
    auto plan = store.pull_reads_filter_first(q);
    CAF_REQUIRE(plan);
    CAF_CHECK_EQUAL(*plan, filter_first);
    for (std::size_t limit : {7u, 1000u}) {
      q.limit = limit;
      CAF_CHECK_EQUAL(ids(store, q), want);
    }
  };
  pull_query narrow;
  narrow.from = at(500);
  narrow.to = at(600);
  auto in_narrow = [&](const protocols::new_event& e) {
    return e.producer_ms >= at(500) && e.producer_ms < at(600);
  };
  CAF_REQUIRE_EQUAL(expect(in_narrow).size(), 110u);
  check(narrow, true, expect(in_narrow));
  pull_query bids;
  bids.bid_from = at(500);
  bids.bid_to = at(600);
  check(bids, true, expect(in_narrow));
  pull_query bidder;
  bidder.bidder_user_id = "u3";
  check(bidder, true,
        expect([](const protocols::new_event& e) { return e.bidder_user_id == "u3"; }));
  pull_query wide;
  wide.from = at(100);
  check(wide, false,
        expect([&](const protocols::new_event& e) { return e.producer_ms >= at(100); }));
}

CAF_TEST(an auction summary carries its state digest and the view of each destination) {
  using protocols::auction_row;
  auto row = [](std::int64_t id, std::int64_t last, bool closed) {
    auction_row r;
    r.auction_id = id;
    r.last_sequence = last;
    r.total_bid_count = last - 1;
    r.heartbeat_count = 1;
    r.end_date = t0 + 3600000;
    r.closed = closed;
    return r;
  };
  auto pos =
      store.commit({make(5, event_type::auction_opened, 1, "auction.opened-5", t0 + 10),
                    make(5, event_type::bid_placed, 2, "bid.placed-51"),
                    make(5, event_type::producer_heartbeat, 2, "producer.heartbeat-5-1"),
                    make(5, event_type::bid_placed, 3, "bid.placed-52"),
                    make(5, event_type::auction_closed, 3, "auction.closed-5", t0 + 20),
                    make(6, event_type::auction_opened, 1, "auction.opened-6", t0 + 30)},
                   {row(5, 3, true), row(6, 1, false)}, {});
  CAF_REQUIRE(pos);
  // crm: delivered through the first bid, then a dead letter on the second
  // (the close parked behind it). hooks: everything.
  protocols::dead_letter dead;
  dead.destination = "crm";
  dead.position = (*pos)[3];
  dead.auction_id = 5;
  dead.event_id = "bid.placed-52";
  dead.bid_sequence = 3;
  dead.reason = "refused";
  dead.envelope = std::make_shared<const std::string>("{}");
  auto parked = dead;
  parked.position = (*pos)[4];
  parked.event_id = "auction.closed-5";
  parked.type = event_type::auction_closed;
  parked.status = protocols::dead_letter_status::parked;
  CAF_REQUIRE(store.commit({}, {}, {{"crm", (*pos)[4]}, {"hooks", (*pos)[5]}},
                           {dead, parked}, {}));
  std::vector<protocols::delivery_scope> dests{
      {"hooks",
       {event_type::auction_opened, event_type::bid_placed, event_type::auction_closed,
        event_type::producer_heartbeat}},
      {"crm",
       {event_type::auction_opened, event_type::bid_placed, event_type::auction_closed}},
      {"new", {event_type::bid_placed}}};
  auto s = store.auction_summary(5, dests);
  CAF_REQUIRE(s);
  CAF_REQUIRE(s->has_value());
  const auto& a = **s;
  CAF_CHECK(a.closed);
  CAF_CHECK_EQUAL(*a.opened_at, t0 + 10);
  CAF_CHECK_EQUAL(*a.closed_at, t0 + 20);
  CAF_CHECK_EQUAL(*a.end_date, t0 + 3600000);
  CAF_CHECK_EQUAL(a.last_sequence, 3);
  CAF_CHECK_EQUAL(a.total_bid_count, 2);
  CAF_CHECK_EQUAL(a.heartbeats, 1);
  CAF_CHECK_EQUAL(a.digest.events, 4);
  CAF_CHECK_EQUAL(a.digest.sha256,
                  protocols::digest_of_ids({"auction.opened-5", "bid.placed-51",
                                            "bid.placed-52", "auction.closed-5"}));
  CAF_REQUIRE_EQUAL(a.destinations.size(), 3u);
  CAF_CHECK_EQUAL(a.destinations[0].destination, "hooks");
  CAF_CHECK_EQUAL(a.destinations[0].delivered_through_sequence, 3);
  CAF_CHECK_EQUAL(a.destinations[0].pending, 0);
  CAF_CHECK_EQUAL(a.destinations[1].delivered_through_sequence, 2);
  CAF_CHECK_EQUAL(a.destinations[1].pending, 1); // the parked close
  CAF_CHECK_EQUAL(a.destinations[1].dead_letters, 1);
  CAF_CHECK_EQUAL(a.destinations[2].delivered_through_sequence, 0);
  CAF_CHECK_EQUAL(a.destinations[2].pending, 2); // its two bids, never delivered
  auto open = store.auction_summary(6, {});
  CAF_REQUIRE(open && open->has_value());
  CAF_CHECK(!(*open)->closed && !(*open)->closed_at);
  CAF_CHECK_EQUAL((*open)->digest.sha256, protocols::digest_of_ids({"auction.opened-6"}));
  auto unknown = store.auction_summary(404, dests);
  CAF_REQUIRE(unknown);
  CAF_CHECK(!unknown->has_value());

  // The listing: by opened_at, with digests, filtered and paged.
  protocols::auction_query lq;
  auto all = store.list_auctions(lq);
  CAF_REQUIRE(all);
  CAF_REQUIRE_EQUAL(all->auctions.size(), 2u);
  CAF_CHECK_EQUAL(all->auctions[0].auction_id, 5);
  CAF_CHECK_EQUAL(all->auctions[0].digest.sha256, a.digest.sha256);
  CAF_CHECK(!all->next);
  lq.limit = 1;
  auto first = store.list_auctions(lq);
  CAF_REQUIRE(first && first->next);
  lq.after = first->next;
  auto second = store.list_auctions(lq);
  CAF_REQUIRE(second);
  CAF_REQUIRE_EQUAL(second->auctions.size(), 1u);
  CAF_CHECK_EQUAL(second->auctions[0].auction_id, 6);
  CAF_CHECK(!second->next);
  protocols::auction_query open_only;
  open_only.closed = false;
  auto o = store.list_auctions(open_only);
  CAF_REQUIRE(o);
  CAF_REQUIRE_EQUAL(o->auctions.size(), 1u);
  CAF_CHECK_EQUAL(o->auctions[0].auction_id, 6);
  protocols::auction_query window;
  window.from = t0 + 11;
  window.to = t0 + 30;
  auto w = store.list_auctions(window);
  CAF_REQUIRE(w);
  CAF_CHECK(w->auctions.empty());
  window.to = t0 + 31;
  w = store.list_auctions(window);
  CAF_REQUIRE(w);
  CAF_CHECK_EQUAL(w->auctions.size(), 1u);
}

CAF_TEST(reconcile reads the events of each auction without heartbeats) {
  CAF_REQUIRE(
      store.commit({make(8, event_type::auction_opened, 1, "auction.opened-8"),
                    make(8, event_type::producer_heartbeat, 1, "producer.heartbeat-8-1"),
                    make(8, event_type::bid_placed, 2, "bid.placed-81")},
                   {}, {}));
  auto r = store.auction_events({9, 8});
  CAF_REQUIRE(r);
  CAF_REQUIRE_EQUAL(r->size(), 2u);
  CAF_CHECK((*r)[0].empty());
  CAF_CHECK_EQUAL((*r)[1].size(), 2u);
}

CAF_TEST(the writer stores the bid timestamp and the writing transaction) {
  CAF_REQUIRE(store.commit(
      {make(3, event_type::bid_placed, 2, "bid.placed-3", t0, "u", t0 - 1500)}, {}, {}));
  CAF_CHECK_EQUAL(
      db.scalar("select (extract(epoch from bid_ts) * 1000)::bigint from outbox"),
      std::to_string(t0 - 1500));
  CAF_CHECK_EQUAL(db.scalar("select xid <> '0' from outbox"), "t");
}

CAF_TEST_FIXTURE_SCOPE_END()
