#define CAF_SUITE actors.core
#include "actors/auction.hpp"
#include "actors/core.hpp"
#include "actors/store.hpp"
#include "pg_fixture.hpp"

#include <caf/test/dsl.hpp>

using namespace gavel;
using namespace gavel::actors;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

/// What the core supervisor told its dependents.
struct told {
  std::vector<store_actor> stores;        ///< to the destination
  std::vector<registry_actor> registries; ///< to the gateway (null: none now)
};

/// Stands in for a destination: records the stores it is handed.
destination_actor::behavior_type fake_destination(destination_actor::pointer,
                                                  std::shared_ptr<told> sink) {
  return {
      [](atom::status) { return destination_status{}; },
      [](atom::redrive, std::int64_t) { return std::uint64_t{0}; },
      [](atom::crash) {},
      [](atom::restart) {},
      [sink](atom::adopt, store_actor& store) { sink->stores.push_back(store); },
  };
}

/// Stands in for a destination worker's live feed.
feed_actor::behavior_type fake_feed() {
  return {
      [](atom::committed, record_batch&) {},
  };
}

/// Stands in for a gateway: records the registries it is handed.
registry_user_actor::behavior_type fake_gateway(std::shared_ptr<told> sink) {
  return {
      [sink](atom::adopt, registry_actor& r) { sink->registries.push_back(r); },
  };
}

struct fixture : test_coordinator_fixture<> {
  void drain() {
    while (consume_message())
      ;
  }

  test::fresh_database db;
  adapters::pg_store::options opts{db.url()};
  reader_actor rd;
  std::shared_ptr<told> sink = std::make_shared<told>();
  destination_actor dest;
  registry_user_actor gate;
  core_actor core;
  store_actor first_store;
  registry_actor first_registry;

  auction_deps base_deps() {
    auction_deps d;
    d.reader = rd;
    d.clock = [] { return protocols::unix_ms{1'780'000'000'000}; };
    return d;
  }

  core_factory factory() {
    core_factory f;
    // Not detached: under the test coordinator everything runs on one
    // thread, deterministically, against the real database.
    f.make_store = [this](std::uint64_t epoch) {
      store_settings s;
      s.epoch = epoch;
      return sys.spawn(store, opts, s, nullptr);
    };
    f.make_registry = [this](store_actor st, std::uint64_t epoch) {
      auto d = base_deps();
      d.store = std::move(st);
      d.epoch = epoch;
      return sys.spawn(registry, std::move(d));
    };
    return f;
  }

  void start(unsigned restart_limit = 5) {
    auto f = factory();
    first_store = f.make_store(0);
    first_registry = f.make_registry(first_store, 0);
    core_settings cs;
    cs.restart_limit = restart_limit;
    cs.restart_period = seconds{60};
    core =
        sys.spawn(core_supervisor, cs, f,
                  core_dependents{{dest}, {gate}, std::make_shared<std::atomic<bool>>()},
                  first_store, first_registry);
    drain();
  }

  fixture() {
    rd = sys.spawn(reader, opts);
    dest = sys.spawn(fake_destination, sink);
    gate = sys.spawn(fake_gateway, sink);
    drain();
  }

  ~fixture() {
    anon_send_exit(core, caf::exit_reason::kill);
    anon_send_exit(rd, caf::exit_reason::kill);
    anon_send_exit(dest, caf::exit_reason::kill);
    anon_send_exit(gate, caf::exit_reason::kill);
    drain();
  }

  core_status status() {
    self->send(core, atom::status_v);
    drain();
    core_status out;
    self->receive([&](core_status& s) { out = std::move(s); });
    return out;
  }

  static protocols::ingest_event bid(std::int64_t auction, std::int64_t bid_id) {
    auto v = protocols::json::parse(
        R"({"event_type":"bid.placed","data":{"auction_id":)" + std::to_string(auction) +
        R"(,"bid_id":)" + std::to_string(bid_id) +
        R"(,"bid_amount":"10.00","bid_timestamp":)"
        R"("2026-06-09T14:23:11Z"}})");
    CAF_REQUIRE(v.has_value());
    return std::move(*protocols::validate_event(*v));
  }

  /// Ingests through the registry the gateway was last handed.
  ingest_result ingest(std::int64_t auction, std::int64_t bid_id) {
    CAF_REQUIRE(!sink->registries.empty() && sink->registries.back());
    self->send(sink->registries.back(), atom::ingest_v, bid(auction, bid_id));
    drain();
    ingest_result out;
    self->receive([&](ingest_result& r) { out = std::move(r); });
    return out;
  }

  /// Lets the restart backoff pass (simulated time), then runs what follows.
  void wait_restart() {
    for (int i = 0; i < 40; ++i) {
      advance_time(milliseconds{250});
      drain();
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(core_tests, fixture)

CAF_TEST(a failed registry is restarted behind an epoch fence and sequencing continues) {
  start();
  sink->registries.push_back(first_registry);
  CAF_CHECK_EQUAL(ingest(7, 1).bid_sequence, 2); // opened implicitly at 1
  CAF_CHECK_EQUAL(ingest(7, 2).bid_sequence, 3);
  self->send(core, atom::crash_v, std::string{"registry"});
  drain();
  auto s = status();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(s.state)}, "restarting");
  CAF_CHECK(s.last_error.find("registry failed") != std::string::npos);
  // The gateway was told at once that there is no registry (ingest: 503).
  CAF_REQUIRE(!sink->registries.empty());
  CAF_CHECK(!sink->registries.back());
  wait_restart();
  s = status();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(s.state)}, "ok");
  CAF_CHECK_EQUAL(s.epoch, 1u);
  CAF_CHECK_EQUAL(s.registry_restarts, 1u);
  CAF_CHECK_EQUAL(s.store_restarts, 0u);
  CAF_REQUIRE(sink->registries.back());
  CAF_CHECK_NOT_EQUAL(sink->registries.back(), first_registry);
  CAF_CHECK(sink->stores.empty()); // the store stayed: destinations keep theirs
  // The new auction actor restores state from the database.
  CAF_CHECK_EQUAL(ingest(7, 3).bid_sequence, 4);
  CAF_CHECK(ingest(7, 1).st == ingest_result::status::duplicate);
  // An auction actor of the old registry can no longer commit.
  persist_request stale;
  stale.epoch = 0;
  stale.auction.auction_id = 7;
  self->send(first_store, atom::persist_v, std::move(stale));
  drain();
  bool refused = false;
  self->receive([&](persist_reply&) {}, [&](caf::error&) { refused = true; });
  CAF_CHECK(refused);
}

CAF_TEST(a failed store takes the registry down and both come back with the next epoch) {
  start();
  sink->registries.push_back(first_registry);
  CAF_CHECK_EQUAL(ingest(9, 1).bid_sequence, 2);
  CAF_CHECK_EQUAL(ingest(9, 2).bid_sequence, 3);
  self->send(core, atom::crash_v, std::string{"store"});
  drain();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(status().state)}, "restarting");
  CAF_CHECK(!sink->registries.back());
  wait_restart();
  auto s = status();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(s.state)}, "ok");
  CAF_CHECK_EQUAL(s.store_restarts, 1u);
  CAF_CHECK_EQUAL(s.registry_restarts, 1u);
  CAF_CHECK_EQUAL(s.epoch, 1u);
  // The destinations were handed the new store; it tells a subscriber the
  // outbox head the old one left (3 rows), which the subscriber reads from
  // the outbox, so nothing committed before the crash is skipped.
  CAF_REQUIRE_EQUAL(sink->stores.size(), 1u);
  auto fresh = sink->stores.back();
  CAF_CHECK_NOT_EQUAL(fresh, first_store);
  self->send(fresh, atom::subscribe_v, sys.spawn(fake_feed));
  drain();
  std::int64_t head = -1;
  self->receive([&](std::int64_t h) { head = h; }, [&](caf::error&) {});
  CAF_CHECK_EQUAL(head, 3);
  CAF_CHECK_EQUAL(ingest(9, 3).bid_sequence, 4);
  CAF_CHECK(ingest(9, 2).st == ingest_result::status::duplicate);
}

CAF_TEST(over the restart limit the core is failed until an operator restarts it) {
  start(2);
  sink->registries.push_back(first_registry);
  for (int i = 0; i < 2; ++i) {
    self->send(core, atom::crash_v, std::string{"registry"});
    drain();
    wait_restart();
    CAF_CHECK_EQUAL(std::string{protocols::to_string(status().state)}, "ok");
  }
  self->send(core, atom::crash_v, std::string{"registry"});
  drain();
  wait_restart();
  auto s = status();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(s.state)}, "failed");
  CAF_CHECK_EQUAL(s.registry_restarts, 2u);
  CAF_CHECK(!sink->registries.back()); // ingest answers 503
  self->send(core, atom::restart_v);
  drain();
  s = status();
  CAF_CHECK_EQUAL(std::string{protocols::to_string(s.state)}, "ok");
  CAF_CHECK_EQUAL(s.registry_restarts, 3u);
  CAF_CHECK_EQUAL(ingest(11, 1).bid_sequence, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
