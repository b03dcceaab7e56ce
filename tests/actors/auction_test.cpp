#define CAF_SUITE actors.auction
#include "actors/auction.hpp"
#include "actors/store.hpp"
#include "adapters/metrics.hpp"
#include "pg_fixture.hpp"
#include "tests/actors/mem_pipeline.hpp"

#include <caf/test/dsl.hpp>

using namespace gavel;
using namespace gavel::actors;
using protocols::event_type;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

struct fixture : test_coordinator_fixture<> {
  /// Runs every pending message; unlike run(), never fires a timer, so time
  /// only moves when a test advances it.
  void drain() {
    while (consume_message())
      ;
  }

  test::fresh_database db;
  store_actor st;
  reader_actor rd;
  std::shared_ptr<std::vector<protocols::outbox_record>> published =
      std::make_shared<std::vector<protocols::outbox_record>>();
  std::shared_ptr<auction_deps> deps = std::make_shared<auction_deps>();
  caf::actor_clock::time_point start = sched.clock().now();
  protocols::unix_ms base = 1'780'000'000'000; // 2026-05-28T20:26:40Z

  fixture() {
    adapters::pg_store::options o{db.url()};
    // Not detached: under the test coordinator everything runs on one thread,
    // deterministically, against the real database.
    st = sys.spawn(store, o, store_settings{}, nullptr);
    rd = sys.spawn(reader, o);
    rec = sys.spawn(test::recorder, published);
    self->send(st, atom::subscribe_v, rec);
    drain();
    deps->store = st;
    deps->reader = rd;
    deps->clock = [this] {
      return base + std::chrono::duration_cast<milliseconds>(sched.clock().now() - start)
                        .count();
    };
  }

  ~fixture() {
    // Stop every actor before the database goes away.
    for (auto& a : spawned)
      anon_send_exit(a, caf::exit_reason::kill);
    anon_send_exit(st, caf::exit_reason::kill);
    anon_send_exit(rd, caf::exit_reason::kill);
    anon_send_exit(rec, caf::exit_reason::kill);
    drain();
  }

  std::vector<auction_actor> spawned;
  feed_actor rec;

  protocols::unix_ms now() const { return deps->clock(); }

  /// The auction's stored sequences in order, comma-separated.
  std::string stored_sequences(std::int64_t auction_id) {
    return db.scalar("select string_agg(bid_sequence::text, ',' order by bid_sequence) "
                     "from outbox where auction_id = " +
                     std::to_string(auction_id));
  }

  auction_actor spawn_auction(std::int64_t id) {
    auto a = sys.spawn(auction, id, std::shared_ptr<const auction_deps>(deps));
    spawned.push_back(a);
    drain();
    return a;
  }

  static protocols::ingest_event event(const std::string& text) {
    auto v = protocols::json::parse(text);
    CAF_REQUIRE(v.has_value());
    auto e = protocols::validate_event(*v);
    if (!e)
      CAF_FAIL("invalid test event: " << e.err().message);
    return std::move(*e);
  }

  ingest_result ingest(const auction_actor& a, const std::string& text) {
    self->send(a, atom::ingest_v, event(text));
    drain();
    ingest_result out;
    bool got = false;
    self->receive([&](ingest_result& r) {
      out = std::move(r);
      got = true;
    });
    CAF_REQUIRE(got);
    return out;
  }

  static std::string bid(std::int64_t auction, std::int64_t bid_id,
                         const std::string& extra = "") {
    return R"({"event_type":"bid.placed","data":{"auction_id":)" +
           std::to_string(auction) + R"(,"bid_id":)" + std::to_string(bid_id) +
           R"(,"bid_amount":"875.10","bid_timestamp":"2026-06-09T14:23:11Z")" + extra +
           "}}";
  }
  static std::string opened(std::int64_t auction, const std::string& extra = "") {
    return R"({"event_type":"auction.opened","data":{"auction_id":)" +
           std::to_string(auction) + extra + "}}";
  }
  static std::string closed(std::int64_t auction) {
    return R"({"event_type":"auction.closed","data":{"auction_id":)" +
           std::to_string(auction) + "}}";
  }

  std::vector<protocols::outbox_record> of_type(event_type t) const {
    std::vector<protocols::outbox_record> out;
    for (auto& r : *published)
      if (r.type == t)
        out.push_back(r);
    return out;
  }

  /// Advances the simulated clock second by second (timers fire on time).
  void advance(seconds total) {
    for (auto i = 0; i < total.count(); ++i) {
      advance_time(seconds{1});
      drain();
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(auction_tests, fixture)

CAF_TEST(bids are sequenced 1 to N after the open) {
  auto a = spawn_auction(1);
  auto r = ingest(a, opened(1));
  CAF_CHECK_EQUAL(r.bid_sequence, 1);
  CAF_CHECK(r.st == ingest_result::status::accepted);
  for (int i = 1; i <= 20; ++i) {
    auto b = ingest(a, bid(1, 100 + i));
    CAF_CHECK(b.st == ingest_result::status::accepted);
    CAF_CHECK_EQUAL(b.bid_sequence, i + 1);
    CAF_CHECK_EQUAL(b.event_id, "bid.placed-" + std::to_string(100 + i));
  }
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 1"), "21");
  CAF_CHECK_EQUAL(db.scalar("select last_sequence from auctions where auction_id = 1"),
                  "21");
}

CAF_TEST(a duplicate bid returns its original sequence and stores nothing) {
  auto a = spawn_auction(2);
  ingest(a, opened(2));
  auto first = ingest(a, bid(2, 7));
  ingest(a, bid(2, 8));
  auto again = ingest(a, bid(2, 7));
  CAF_CHECK(again.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(again.bid_sequence, first.bid_sequence);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 2"), "3");
  auto open_again = ingest(a, opened(2));
  CAF_CHECK(open_again.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(open_again.bid_sequence, 1);
}

CAF_TEST(a bid before the open synthesises the open and the real open is a duplicate) {
  auto a = spawn_auction(3);
  auto b = ingest(
      a, bid(3, 1, R"(,"product_name":"Clock","end_date":"2026-06-10T00:00:00Z")"));
  CAF_CHECK_EQUAL(b.bid_sequence, 2);
  auto opens = of_type(event_type::auction_opened);
  CAF_REQUIRE_EQUAL(opens.size(), 1u);
  CAF_CHECK_EQUAL(opens[0].bid_sequence, 1);
  CAF_CHECK_EQUAL(opens[0].event_id, "auction.opened-3");
  CAF_CHECK(opens[0].envelope->find(R"("product_name":"Clock")") != std::string::npos);
  CAF_CHECK(opens[0].envelope->find(R"("implicit":true)") != std::string::npos);
  auto real = ingest(a, opened(3));
  CAF_CHECK(real.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(real.bid_sequence, 1);
}

CAF_TEST(the close carries the bid count and later events are rejected with 409) {
  auto a = spawn_auction(4);
  ingest(a, opened(4));
  for (int i = 1; i <= 47; ++i)
    ingest(a, bid(4, 4000 + i));
  auto c = ingest(a, closed(4));
  CAF_CHECK(c.st == ingest_result::status::accepted);
  CAF_CHECK_EQUAL(c.bid_sequence, 48); // the client's sample: 47 bids, closed at 48
  auto closes = of_type(event_type::auction_closed);
  CAF_REQUIRE_EQUAL(closes.size(), 1u);
  CAF_CHECK(closes[0].envelope->find(R"("total_bid_count":47)") != std::string::npos);
  CAF_CHECK(closes[0].envelope->find(R"("current_price":875.10)") != std::string::npos);
  auto late = ingest(a, bid(4, 9999));
  CAF_CHECK(late.st == ingest_result::status::rejected);
  CAF_CHECK(late.error == protocols::ingest_error::closed);
  // A resend of a bid it already has is still a duplicate, not a conflict.
  auto resend = ingest(a, bid(4, 4001));
  CAF_CHECK(resend.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(resend.bid_sequence, 2);
  auto close_again = ingest(a, closed(4));
  CAF_CHECK(close_again.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 4"), "49");
}

CAF_TEST(heartbeats run every minute then every five seconds in the final window and stop
             at close) {
  auto end = now() + 20 * 60 * 1000; // T = open + 20 min
  auto a = spawn_auction(5);
  ingest(a, opened(5, R"(,"end_date":")" + protocols::format_iso8601_ms(end) + "\""));
  auto t0 = now();
  advance(seconds{20 * 60}); // until T
  ingest(a, closed(5));
  advance(seconds{10 * 60}); // nothing after the close
  auto beats = of_type(event_type::producer_heartbeat);
  CAF_REQUIRE(beats.size() > 15);
  // 60 s apart until T - 5 min (15 beats at 1..15 min), then 5 s apart.
  for (std::size_t i = 0; i < 15; ++i)
    CAF_CHECK_EQUAL(beats[i].producer_ms - t0, static_cast<std::int64_t>(i + 1) * 60000);
  for (std::size_t i = 15; i < beats.size(); ++i)
    CAF_CHECK_EQUAL(beats[i].producer_ms - beats[i - 1].producer_ms, 5000);
  CAF_CHECK_EQUAL(beats.size(), 15u + 60u); // 5 min of 5 s beats
  CAF_CHECK(beats.back().producer_ms <= end);
  for (std::size_t i = 0; i < beats.size(); ++i) {
    CAF_CHECK_EQUAL(beats[i].event_id, "producer.heartbeat-5-" + std::to_string(i + 1));
    CAF_CHECK_EQUAL(beats[i].bid_sequence, 1);
  }
  CAF_CHECK(beats[0].envelope->find(R"("heartbeat_interval_seconds":60)") !=
            std::string::npos);
  CAF_CHECK(beats[20].envelope->find(R"("heartbeat_interval_seconds":5)") !=
            std::string::npos);
}

CAF_TEST(an end date moved by a later bid re - plans the heartbeats) {
  auto end = now() + 10 * 60 * 1000;
  auto a = spawn_auction(6);
  ingest(a, opened(6, R"(,"end_date":")" + protocols::format_iso8601_ms(end) + "\""));
  advance(seconds{6 * 60}); // inside the final window (T - 4 min)
  auto before = of_type(event_type::producer_heartbeat).size();
  // Anti-sniping: the end moves 10 minutes later, so the final window is
  // 11 minutes away again and the cadence returns to one a minute.
  auto moved = end + 10 * 60 * 1000;
  ingest(a, bid(6, 1, R"(,"end_date":")" + protocols::format_iso8601_ms(moved) + "\""));
  advance(seconds{5 * 60});
  auto beats = of_type(event_type::producer_heartbeat);
  CAF_REQUIRE(beats.size() > before + 2);
  for (auto i = before + 1; i < beats.size(); ++i)
    CAF_CHECK_EQUAL(beats[i].producer_ms - beats[i - 1].producer_ms, 60000);
  advance(seconds{6 * 60}); // past moved - 5 min: back to 5 s
  beats = of_type(event_type::producer_heartbeat);
  CAF_CHECK_EQUAL(beats.back().producer_ms - beats[beats.size() - 2].producer_ms, 5000);
  CAF_CHECK_EQUAL(beats.back().bid_sequence, 2);
}

CAF_TEST(a respawned auction restores its state from the database) {
  {
    auto a = spawn_auction(7);
    ingest(a, opened(7));
    ingest(a, bid(7, 70));
    ingest(a, bid(7, 71));
    anon_send_exit(a, caf::exit_reason::kill);
    drain();
  }
  auto b = spawn_auction(7);
  auto dup = ingest(b, bid(7, 70));
  CAF_CHECK(dup.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(dup.bid_sequence, 2);
  auto next = ingest(b, bid(7, 72));
  CAF_CHECK_EQUAL(next.bid_sequence, 4);
  auto c = ingest(b, closed(7));
  CAF_CHECK_EQUAL(c.bid_sequence, 4);
  CAF_CHECK(of_type(event_type::auction_closed)[0].envelope->find(
                R"("total_bid_count":3)") != std::string::npos);
  anon_send_exit(b, caf::exit_reason::kill);
  drain();
  auto d = spawn_auction(7);
  auto late = ingest(d, bid(7, 73));
  CAF_CHECK(late.error == protocols::ingest_error::closed);
}

CAF_TEST(an event_id stored for another auction is 409 and fails nobody else) {
  auto owner = spawn_auction(100);
  CAF_REQUIRE(ingest(owner, bid(100, 1)).st == ingest_result::status::accepted);
  auto thief = spawn_auction(200);
  auto innocent = spawn_auction(300);
  for (int round = 0; round < 10; ++round) {
    // Both requests reach the store before its group commit runs.
    self->send(thief, atom::ingest_v, event(bid(200, 1)));
    self->send(innocent, atom::ingest_v, event(bid(300, 1000 + round)));
    drain();
    std::vector<ingest_result> got;
    for (int i = 0; i < 2; ++i)
      self->receive([&](ingest_result& r) { got.push_back(std::move(r)); });
    CAF_REQUIRE_EQUAL(got.size(), 2u);
    for (auto& r : got) {
      if (r.event_id == "bid.placed-1") {
        CAF_CHECK(r.st == ingest_result::status::rejected);
        CAF_CHECK(r.error == protocols::ingest_error::event_id_conflict);
      } else {
        CAF_CHECK(r.st == ingest_result::status::accepted);
        CAF_CHECK_EQUAL(r.bid_sequence, round + 2);
      }
    }
  }
  CAF_CHECK_EQUAL(
      db.scalar("select auction_id from outbox where event_id = 'bid.placed-1'"), "100");
  CAF_CHECK_EQUAL(db.scalar("select count(*) from outbox where auction_id = 300"), "11");
  // The refused auction keeps sequencing gap-free from 1.
  auto next = ingest(thief, bid(200, 2));
  CAF_CHECK(next.st == ingest_result::status::accepted);
  CAF_CHECK_EQUAL(next.bid_sequence, 2);
  CAF_CHECK_EQUAL(stored_sequences(200), "1,2");
}

CAF_TEST(an event_id stored on another day for another auction is still 409) {
  auto owner = spawn_auction(110);
  CAF_REQUIRE(ingest(owner, bid(110, 5)).st == ingest_result::status::accepted);
  // Two days back: the row moves to another partition, whose unique index
  // the next insert does not see.
  db.scalar("update outbox set created_at = now() - interval '2 days' "
            "where event_id = 'bid.placed-5'");
  CAF_REQUIRE_EQUAL(
      db.scalar("select count(*) from outbox_default where event_id = 'bid.placed-5'"),
      "1");
  auto thief = spawn_auction(210);
  auto r = ingest(thief, bid(210, 5));
  CAF_CHECK(r.st == ingest_result::status::rejected);
  CAF_CHECK(r.error == protocols::ingest_error::event_id_conflict);
  CAF_CHECK_EQUAL(
      db.scalar("select count(*) from outbox where event_id = 'bid.placed-5'"), "1");
  // The refused auction's own next bid goes through.
  CAF_CHECK(ingest(thief, bid(210, 6)).st == ingest_result::status::accepted);
}

CAF_TEST(a state behind a sequence stored on another day reads the auction again) {
  auto first = spawn_auction(120);
  CAF_REQUIRE_EQUAL(ingest(first, bid(120, 1)).bid_sequence, 2);
  // A second writer of the same auction moves it on; its row then lands in
  // another day's partition, so only the auction row knows.
  auto second = spawn_auction(120);
  CAF_REQUIRE_EQUAL(ingest(second, bid(120, 2)).bid_sequence, 3);
  db.scalar("update outbox set created_at = now() - interval '2 days' "
            "where auction_id = 120 and bid_sequence = 3");
  auto r = ingest(first, bid(120, 3));
  CAF_CHECK(r.st == ingest_result::status::accepted);
  CAF_CHECK_EQUAL(r.bid_sequence, 4);
  CAF_CHECK_EQUAL(stored_sequences(120), "1,2,3,4");
}

CAF_TEST(one new event_id sent for two auctions in one commit fails nobody else) {
  auto a = spawn_auction(130);
  auto b = spawn_auction(230);
  auto innocent = spawn_auction(330);
  CAF_REQUIRE(ingest(a, opened(130)).st == ingest_result::status::accepted);
  CAF_REQUIRE(ingest(b, opened(230)).st == ingest_result::status::accepted);
  CAF_REQUIRE(ingest(innocent, opened(330)).st == ingest_result::status::accepted);
  // All three reach the store before its group commit runs.
  self->send(a, atom::ingest_v, event(bid(130, 77)));
  self->send(b, atom::ingest_v, event(bid(230, 77)));
  self->send(innocent, atom::ingest_v, event(bid(330, 78)));
  drain();
  std::vector<ingest_result> got;
  for (int i = 0; i < 3; ++i)
    self->receive([&](ingest_result& r) { got.push_back(std::move(r)); });
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  int accepted = 0, conflicts = 0;
  for (auto& r : got) {
    if (r.st == ingest_result::status::accepted)
      ++accepted;
    else if (r.error == protocols::ingest_error::event_id_conflict)
      ++conflicts;
  }
  CAF_CHECK_EQUAL(accepted, 2);
  CAF_CHECK_EQUAL(conflicts, 1);
  CAF_CHECK_EQUAL(
      db.scalar("select count(*) from outbox where event_id = 'bid.placed-77'"), "1");
  CAF_CHECK_EQUAL(
      db.scalar("select count(*) from outbox where event_id = 'bid.placed-78'"), "1");
}

CAF_TEST(a duplicate with different content is counted and still a duplicate) {
  auto& differing = adapters::metrics::global().counter(
      "gavel_ingest_conflicting_duplicates_total",
      "Duplicates (same event_id) whose content differs from the stored event "
      "(a producer bug; still answered duplicate).");
  auto before = differing.value();
  auto a = spawn_auction(400);
  auto first = ingest(a, bid(400, 9));
  CAF_CHECK(ingest(a, bid(400, 9)).st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(differing.value(), before); // same content: not a producer bug
  auto changed = ingest(a, bid(400, 9, R"(,"bidder_name":"Someone Else")"));
  CAF_CHECK(changed.st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(changed.bid_sequence, first.bid_sequence);
  CAF_CHECK_EQUAL(differing.value(), before + 1);
  // Known after a restart too: the fingerprints come back with the state.
  anon_send_exit(a, caf::exit_reason::kill);
  drain();
  auto again = spawn_auction(400);
  CAF_CHECK(ingest(again, bid(400, 9, R"(,"bid_amount_note":"x")")).st ==
            ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(differing.value(), before + 2);
  CAF_CHECK(ingest(again, bid(400, 9)).st == ingest_result::status::duplicate);
  CAF_CHECK_EQUAL(differing.value(), before + 2);
  CAF_CHECK_EQUAL(
      db.scalar("select count(*) from outbox where event_id = 'bid.placed-9'"), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()
