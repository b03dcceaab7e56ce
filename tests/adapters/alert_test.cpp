#define CAF_SUITE adapters.alert
#include "adapters/alert.hpp"
#include "protocols/json.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel;
using namespace gavel::adapters;
using namespace std::chrono_literals;
using ds = gavel::protocols::destination_state;
using cs = gavel::protocols::core_state;

namespace {

constexpr protocols::unix_ms t0 = 1'780'000'000'000;

struct fixture {
  alerts_config cfg;
  std::unique_ptr<alert_engine> engine;
  health_input in;

  fixture() {
    cfg.interval = 5s;
    reset();
    in.now = t0;
    in.destinations.push_back({"crm", ds::ok, 0, 0, ""});
    in.destinations.push_back({"warehouse", ds::ok, 0, 0, ""});
  }

  void reset() { engine = std::make_unique<alert_engine>(cfg); }

  /// Advances the clock in steps of the evaluation interval up to `d`,
  /// evaluating each time; returns every notice.
  std::vector<alert_notice> run(std::chrono::milliseconds d) {
    std::vector<alert_notice> all;
    auto end = in.now + d.count();
    while (in.now < end) {
      in.now += cfg.interval.count();
      for (auto& n : engine->evaluate(in))
        all.push_back(std::move(n));
    }
    return all;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(alert_tests, fixture)

CAF_TEST(a healthy run sends nothing) {
  CAF_CHECK(run(1h).empty());
}

CAF_TEST(a failing destination alerts once after failing_for and recovers once) {
  in.destinations[0].state = ds::retrying;
  in.destinations[0].last_error = "HTTP 503 from https://api.example.com/x?token=abc";
  CAF_CHECK(run(55s).empty());
  auto n = run(10s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "destination_failing:crm");
  CAF_CHECK(!n[0].recovery);
  CAF_CHECK_NOT_EQUAL(n[0].subject.find("ALERT"), std::string::npos);
  CAF_CHECK_EQUAL(n[0].text.find("token=abc"), std::string::npos);
  // An hour more of the same outage: nothing more.
  CAF_CHECK(run(1h).empty());
  in.destinations[0].state = ds::ok;
  n = run(1min);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
  CAF_CHECK_EQUAL(n[0].key, "destination_failing:crm");
  CAF_CHECK(run(1h).empty());
}

CAF_TEST(a short failure below the threshold is no incident) {
  in.destinations[1].state = ds::circuit_open;
  CAF_CHECK(run(30s).empty());
  in.destinations[1].state = ds::ok;
  CAF_CHECK(run(10min).empty());
}

CAF_TEST(a flapping destination stays one incident) {
  in.destinations[0].state = ds::retrying;
  CAF_CHECK_EQUAL(run(65s).size(), 1u);
  for (int i = 0; i < 20; ++i) {
    in.destinations[0].state = ds::ok;
    CAF_CHECK(run(5s).empty()); // recovery needs 2 intervals of ok
    in.destinations[0].state = ds::retrying;
    CAF_CHECK(run(5s).empty());
  }
  CAF_CHECK_EQUAL(engine->open_incidents().size(), 1u);
}

CAF_TEST(a failed supervisor alerts at once) {
  in.destinations[0].state = ds::failed;
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "restart_intensity:crm");
  // ... and the failing rule joins after failing_for.
  n = run(60s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "destination_failing:crm");
}

CAF_TEST(a failed core supervisor alerts once and recovers once) {
  in.core_state = cs::restarting;
  CAF_CHECK(run(30s).empty()); // restarts are the supervisor's business
  in.core_state = cs::failed;
  in.core_error = "store failed: error(3, 'gavel', (\"crash\"))";
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "restart_intensity:core");
  CAF_CHECK(!n[0].recovery);
  CAF_CHECK(n[0].text.find("/v1/components/core/restart") != std::string::npos);
  CAF_CHECK(run(60s).empty()); // one alert per incident
  in.core_state = cs::ok;
  n = run(30s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(an embedded database restarted past its limit alerts once and recovers) {
  in.database_over_limit = true;
  in.database_error = "postmaster (pid 4242) exited";
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "restart_intensity:database");
  CAF_CHECK(!n[0].recovery);
  CAF_CHECK(n[0].text.find("database.restart_limit") != std::string::npos);
  CAF_CHECK(n[0].text.find("pid 4242") != std::string::npos);
  CAF_CHECK(run(60s).empty()); // one alert per incident
  in.database_over_limit = false;
  n = run(30s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(storage refusing writes alerts at once and recovers once) {
  in.storage_refusing = true;
  in.storage_error = "commit: ERROR:  could not extend file: No space left on device";
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "storage");
  CAF_CHECK(!n[0].recovery);
  CAF_CHECK(n[0].text.find("No space left on device") != std::string::npos);
  CAF_CHECK(run(60s).empty()); // one alert per incident
  in.storage_refusing = false;
  n = run(30s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(lag above the threshold alerts once) {
  in.destinations[1].lag_seconds = 45;
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "lag:warehouse");
  CAF_CHECK(run(10min).empty());
  in.destinations[1].lag_seconds = 1;
  n = run(15s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(new dead letters alert once and recover after a quiet min_interval) {
  run(5s); // baseline
  in.destinations[0].dead_letters = 1;
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "dead_letters:crm");
  for (int i = 2; i < 30; ++i) {
    in.destinations[0].dead_letters = static_cast<std::uint64_t>(i);
    CAF_CHECK(run(5s).empty());
  }
  n = run(4min);
  CAF_CHECK(n.empty());
  n = run(2min);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(a dead letter made before the first evaluation alerts too) {
  in.destinations[0].dead_letters = 1;
  auto n = run(5s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "dead_letters:crm");
}

CAF_TEST(the database rule waits for its threshold) {
  in.database_up = false;
  CAF_CHECK(run(5s).empty());
  auto n = run(10s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK_EQUAL(n[0].key, "database_unreachable");
  in.database_up = true;
  n = run(15s);
  CAF_REQUIRE_EQUAL(n.size(), 1u);
  CAF_CHECK(n[0].recovery);
}

CAF_TEST(an incident reopened within min_interval is not announced again) {
  in.destinations[0].state = ds::failed;
  CAF_CHECK_EQUAL(run(5s).size(), 1u);
  in.destinations[0].state = ds::ok;
  CAF_CHECK_EQUAL(run(15s).size(), 1u); // recovery
  in.destinations[0].state = ds::failed;
  CAF_CHECK(run(5s).empty()); // within min_interval: held back
  CAF_CHECK_EQUAL(engine->suppressed(), 1u);
  in.destinations[0].state = ds::ok;
  CAF_CHECK(run(15s).empty()); // its recovery is not announced either
}

CAF_TEST(the hourly cap holds back a storm) {
  cfg.max_per_hour = 3;
  reset();
  for (int i = 0; i < 10; ++i)
    in.destinations.push_back({"d" + std::to_string(i), ds::failed, 0, 0, ""});
  auto n = run(5s);
  CAF_CHECK_EQUAL(n.size(), 3u);
  CAF_CHECK_GREATER_OR_EQUAL(engine->suppressed(), 7u);
}

CAF_TEST(alert text is scrubbed of addresses credentials and query strings) {
  auto s = scrub_for_alert("bad record for jane@example.com, Authorization: Bearer "
                           "pat-na1-secret url https://h.example/p?sig=abc&se=1 "
                           "whsec_abc password=hunter2");
  CAF_CHECK_EQUAL(s.find("jane"), std::string::npos);
  CAF_CHECK_EQUAL(s.find("pat-na1-secret"), std::string::npos);
  CAF_CHECK_EQUAL(s.find("sig=abc"), std::string::npos);
  CAF_CHECK_EQUAL(s.find("whsec_abc"), std::string::npos);
  CAF_CHECK_EQUAL(s.find("hunter2"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(s.find("https://h.example/p?[redacted]"), std::string::npos);
  CAF_CHECK_EQUAL(scrub_for_alert(std::string(1000, 'x'), 10), "xxxxxxxxxx...");
}

CAF_TEST(the Teams body is an Adaptive Card message) {
  alert_notice n{"lag:crm", false, "[gavel] ALERT: x \"quoted\"", "line 1\nline 2"};
  auto body = teams_card_json(n, "prod");
  auto v = protocols::json::parse(body);
  CAF_REQUIRE(v);
  CAF_CHECK_NOT_EQUAL(body.find(R"("type":"message")"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(body.find("application/vnd.microsoft.card.adaptive"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(body.find(R"("type":"AdaptiveCard")"), std::string::npos);
}

CAF_TEST(the email is an RFC 5322 message with CRLF lines) {
  cfg.email_from = "gavel@example.com";
  cfg.email_to = {"a@example.com", "b@example.com"};
  alert_notice n{"lag:crm", true, "[gavel] RECOVERED: x", "one\ntwo\n"};
  auto m = email_message(n, cfg, t0);
  CAF_CHECK_EQUAL(m.rfind("Date: ", 0), 0u);
  CAF_CHECK_NOT_EQUAL(m.find("\r\nTo: a@example.com, b@example.com\r\n"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(m.find("\r\nSubject: [gavel] RECOVERED: x\r\n"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(m.find("\r\n\r\none\r\ntwo\r\n"), std::string::npos);
  CAF_CHECK_EQUAL(m.find("\n\n"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
