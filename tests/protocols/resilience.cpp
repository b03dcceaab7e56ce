#define CAF_SUITE protocols.resilience
#include "protocols/resilience.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::protocols;
using namespace std::chrono_literals;

CAF_TEST(statuses are classified as delivered or transient or permanent) {
  CAF_CHECK(classify_status(201) == failure_class::none);
  CAF_CHECK(classify_status(204) == failure_class::none);
  for (int s : {0, 408, 429, 500, 502, 503, 504})
    CAF_CHECK(classify_status(s) == failure_class::transient);
  for (int s : {400, 401, 403, 404, 409, 410, 413, 422})
    CAF_CHECK(classify_status(s) == failure_class::permanent);
}

CAF_TEST(retry after is read as delta seconds only) {
  CAF_CHECK(parse_retry_after("7") == std::optional<milliseconds>{7000ms});
  CAF_CHECK(parse_retry_after(" 0 ") == std::optional<milliseconds>{0ms});
  CAF_CHECK(!parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CAF_CHECK(!parse_retry_after(""));
  CAF_CHECK(!parse_retry_after("-1"));
}

CAF_TEST(backoff grows exponentially up to the cap with half of it jittered) {
  CAF_CHECK_EQUAL(backoff_delay(100ms, 30s, 2.0, 1, 0.0).count(), 50);
  CAF_CHECK_EQUAL(backoff_delay(100ms, 30s, 2.0, 1, 1.0).count(), 100);
  CAF_CHECK_EQUAL(backoff_delay(100ms, 30s, 2.0, 4, 0.0).count(), 400);
  CAF_CHECK_EQUAL(backoff_delay(100ms, 30s, 2.0, 40, 0.0).count(), 15000);
  CAF_CHECK_EQUAL(backoff_delay(100ms, 30s, 2.0, 40, 0.999).count(), 29985);
}

CAF_TEST(restart intensity counts the restarts within its period only) {
  steady_time t0{};
  restart_intensity ri{2, 10s};
  CAF_CHECK_EQUAL(ri.record(t0), 1u);
  CAF_CHECK_EQUAL(ri.record(t0 + 1s), 2u);
  CAF_CHECK(!ri.exceeded(t0 + 1s));
  CAF_CHECK_EQUAL(ri.record(t0 + 2s), 3u);
  CAF_CHECK(ri.exceeded(t0 + 2s));
  // The first falls out of the window at t0 + 10 s: back within the limit.
  CAF_CHECK(!ri.exceeded(t0 + 10s));
  CAF_CHECK_EQUAL(ri.recent(t0 + 12s), 0u);
  ri.record(t0 + 13s);
  ri.clear();
  CAF_CHECK_EQUAL(ri.recent(t0 + 13s), 0u);
}

CAF_TEST(the restart policy backs off over the crashes in its period and gives up past the
             limit) {
  steady_time t0{};
  restart_policy p{2, 10s, 100ms, 30s};
  auto d1 = p.on_crash(t0, 0.0);
  CAF_CHECK_EQUAL(d1.crashes, 1u);
  CAF_CHECK(!d1.over_limit);
  CAF_CHECK_EQUAL(d1.delay.count(), 50); // equal jitter: half of 100 ms at unit 0
  auto d2 = p.on_crash(t0 + 1s, 1.0);
  CAF_CHECK_EQUAL(d2.crashes, 2u);
  CAF_CHECK(!d2.over_limit);
  CAF_CHECK_EQUAL(d2.delay.count(), 200);
  auto d3 = p.on_crash(t0 + 2s, 0.0);
  CAF_CHECK(d3.over_limit);
  CAF_CHECK_EQUAL(d3.delay.count(), 30000); // over the limit: the maximum
  CAF_CHECK(p.exceeded(t0 + 2s));
  // The window forgets: 10 s after the first crash only two remain.
  CAF_CHECK(!p.exceeded(t0 + 10s));
  auto d4 = p.on_crash(t0 + 15s, 0.0);
  CAF_CHECK_EQUAL(d4.crashes, 1u); // t0+1s and t0+2s fell out too
  CAF_CHECK(!d4.over_limit);
  p.reset();
  CAF_CHECK(!p.exceeded(t0 + 15s));
  CAF_CHECK_EQUAL(p.on_crash(t0 + 15s, 0.0).crashes, 1u);
}

CAF_TEST(the circuit opens after the threshold and probes once when half open) {
  steady_time t0{};
  circuit_breaker cb{3, 1000ms, 8000ms};
  CAF_CHECK(cb.allow(t0));
  cb.on_failure(t0);
  cb.on_failure(t0);
  CAF_CHECK(cb.current(t0) == circuit_breaker::state::closed);
  cb.on_failure(t0);
  CAF_CHECK(cb.current(t0) == circuit_breaker::state::open);
  CAF_CHECK(!cb.allow(t0 + 999ms));
  // Half-open: exactly one probe.
  CAF_CHECK(cb.allow(t0 + 1000ms));
  CAF_CHECK(!cb.allow(t0 + 1001ms));
  // The probe fails: open twice as long.
  cb.on_failure(t0 + 1100ms);
  CAF_CHECK(!cb.allow(t0 + 3000ms));
  CAF_CHECK(cb.allow(t0 + 3100ms));
  cb.on_success();
  CAF_CHECK(cb.current(t0 + 3200ms) == circuit_breaker::state::closed);
  CAF_CHECK(cb.allow(t0 + 3200ms));
  CAF_CHECK(cb.allow(t0 + 3200ms));
  CAF_CHECK_EQUAL(cb.times_opened(), 2u);
}

CAF_TEST(the open time doubles per failed probe up to its maximum) {
  steady_time t{};
  circuit_breaker cb{1, 1000ms, 3000ms};
  cb.on_failure(t); // open 1 s
  t += 1000ms;
  CAF_CHECK(cb.allow(t));
  cb.on_failure(t); // open 2 s
  CAF_CHECK(!cb.allow(t + 1999ms));
  t += 2000ms;
  CAF_CHECK(cb.allow(t));
  cb.on_failure(t); // open 3 s (capped)
  CAF_CHECK(!cb.allow(t + 2999ms));
  CAF_CHECK(cb.allow(t + 3000ms));
}

CAF_TEST(the rate window spaces starts evenly and admits at most limit per interval) {
  steady_time t0{};
  rate_window w{4, 10000ms};
  CAF_CHECK_EQUAL(w.acquire(t0).count(), 0);
  // 2.5 s apart.
  CAF_CHECK_EQUAL(w.acquire(t0 + 1000ms).count(), 1500);
  CAF_CHECK_EQUAL(w.acquire(t0 + 2500ms).count(), 0);
  CAF_CHECK_EQUAL(w.acquire(t0 + 5000ms).count(), 0);
  CAF_CHECK_EQUAL(w.acquire(t0 + 7500ms).count(), 0);
  // Four in the window: the next when the first leaves it.
  CAF_CHECK_EQUAL(w.acquire(t0 + 9999ms).count(), 1);
  CAF_CHECK_EQUAL(w.acquire(t0 + 10000ms).count(), 0);
  // Simulate an hour of greedy callers: never more than 3 in any 10 s.
  rate_window g{3, 10000ms};
  std::vector<steady_time> starts;
  for (auto t = t0; t < t0 + 3600s; t += 100ms)
    if (g.acquire(t).count() == 0)
      starts.push_back(t);
  bool ok = true;
  for (std::size_t i = 3; i < starts.size(); ++i)
    ok = ok && starts[i] - starts[i - 3] >= 10000ms;
  CAF_CHECK(ok);
  CAF_CHECK_GREATER_OR_EQUAL(starts.size(), 1000u);
  CAF_CHECK_LESS_OR_EQUAL(starts.size(), 1080u);
}

CAF_TEST(the rate window follows the server headers and pauses) {
  steady_time t0{};
  rate_window w{100, 10000ms};
  w.observe(10, 9, 10000ms, t0);
  CAF_CHECK_EQUAL(w.limit(), 10u);
  w.observe(std::nullopt, 0, std::nullopt, t0);
  CAF_CHECK_EQUAL(w.acquire(t0 + 1ms).count(), 9999);
  CAF_CHECK_EQUAL(w.acquire(t0 + 10000ms).count(), 0);
  w.pause_until(t0 + 20000ms);
  CAF_CHECK_EQUAL(w.acquire(t0 + 15000ms).count(), 5000);
  CAF_CHECK_EQUAL(w.acquire(t0 + 20000ms).count(), 0);
  // A server may not raise our configured limit.
  w.observe(1000, 999, std::nullopt, t0);
  CAF_CHECK_EQUAL(w.limit(), 100u);
}
