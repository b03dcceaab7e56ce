#define CAF_SUITE actors.alerts
#include "actors/alerts.hpp"

#include <caf/test/dsl.hpp>

using namespace gavel;
using namespace gavel::actors;
using namespace std::chrono_literals;

namespace {

/// Records what the alerts actor sends.
struct recording_sender : adapters::alert_sender {
  std::shared_ptr<std::vector<adapters::alert_notice>> sent =
      std::make_shared<std::vector<adapters::alert_notice>>();
  const char* name() const noexcept override { return "recording"; }
  protocols::expected<bool> send(const adapters::alert_notice& n) override {
    sent->push_back(n);
    return true;
  }
};

/// A destination that reports whatever state the test sets.
destination_actor::behavior_type
stub_destination(destination_actor::pointer, std::shared_ptr<destination_status> st) {
  return {
      [](atom::committed, record_batch&) {},
      [st](atom::status) { return *st; },
      [](atom::redrive, std::int64_t) { return std::uint64_t{0}; },
      [](atom::crash) {},
      [](atom::restart) {},
      [](atom::subscribe, caf::actor&) {},
  };
}

/// The outbox facts of an outbox whose head is `head`.
maintenance_actor::behavior_type stub_maintenance(maintenance_actor::pointer,
                                                  std::int64_t head) {
  return {
      [head](atom::health, std::vector<std::int64_t>& positions,
             std::vector<std::int64_t>&) {
        adapters::pg_store::outbox_facts f;
        f.head_position = head;
        f.first_after_ms.assign(positions.size(), 0);
        return f;
      },
      [](atom::prune, bool) {
        return std::vector<adapters::pg_store::outbox_partition>{};
      },
      [](atom::tick) {},
  };
}

struct fixture : test_coordinator_fixture<> {
  /// Runs every pending message; unlike run(), never fires a timer (the
  /// alerts actor re-arms its tick forever), so time moves only in ticks().
  void drain() {
    while (consume_message())
      ;
  }

  std::shared_ptr<destination_status> status = std::make_shared<destination_status>();
  std::shared_ptr<protocols::unix_ms> now =
      std::make_shared<protocols::unix_ms>(1'780'000'000'000);
  std::shared_ptr<std::vector<adapters::alert_notice>> sent;
  alerts_actor alerter;

  fixture() {
    status->name = "crm";
    status->state = "ok";
    auto src = std::make_shared<health_sources>();
    src->destinations.push_back(sys.spawn(stub_destination, status));
    src->names = {"crm"};
    src->kinds = {"hubspot"};
    src->maintenance = sys.spawn(stub_maintenance, std::int64_t{0});
    src->db_healthy = std::make_shared<std::atomic<bool>>(true);
    src->clock = [n = now] { return *n; };
    adapters::alerts_config cfg;
    cfg.interval = 1s;
    cfg.failing_for = 3s;
    auto sender = std::make_shared<recording_sender>();
    sent = sender->sent;
    alerter = sys.spawn(alerts, src, cfg,
                        std::vector<std::shared_ptr<adapters::alert_sender>>{sender});
    drain();
  }

  ~fixture() {
    // The alerts actor re-arms its timer forever: end it before the base
    // fixture runs what is left.
    anon_send_exit(alerter, caf::exit_reason::kill);
    drain();
  }

  /// One evaluation `seconds` times, the clock moving a second each.
  void ticks(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      *now += 1000;
      anon_send(alerter, atom::tick_v);
      drain();
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(alerts_tests, fixture)

CAF_TEST(a healthy pipeline sends nothing) {
  ticks(60);
  CAF_CHECK(sent->empty());
}

CAF_TEST(a destination whose supervisor gave up raises one alert and one recovery) {
  status->state = "failed";
  status->last_error = "HTTP 400 for bidder jane@example.com";
  ticks(1);
  CAF_REQUIRE_EQUAL(sent->size(), 1u);
  CAF_CHECK_EQUAL(sent->at(0).key, "restart_intensity:crm");
  CAF_CHECK_EQUAL(sent->at(0).text.find("jane"), std::string::npos);
  ticks(3); // not ok for failing_for: the failing incident too
  CAF_REQUIRE_EQUAL(sent->size(), 2u);
  CAF_CHECK_EQUAL(sent->at(1).key, "destination_failing:crm");
  ticks(60);
  CAF_CHECK_EQUAL(sent->size(), 2u);
  status->state = "ok";
  ticks(5);
  CAF_REQUIRE_EQUAL(sent->size(), 4u);
  CAF_CHECK(sent->at(2).recovery && sent->at(3).recovery);
}

CAF_TEST(a new dead letter raises an alert) {
  ticks(1);
  status->dead_letters = 3;
  ticks(1);
  CAF_REQUIRE_EQUAL(sent->size(), 1u);
  CAF_CHECK_EQUAL(sent->at(0).key, "dead_letters:crm");
  CAF_CHECK_NOT_EQUAL(sent->at(0).text.find("New dead letters: 3"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
