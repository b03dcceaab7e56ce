#define CAF_SUITE protocols.admission
#include "protocols/admission.hpp"

#include <algorithm>
#include <caf/test/unit_test.hpp>
#include <deque>
#include <vector>

using namespace gavel::protocols;
using namespace std::chrono_literals;

namespace {

admission_settings settings() {
  admission_settings s;
  s.target_delay = 50ms;
  s.interval = 100ms;
  s.initial_limit = 1000;
  s.min_limit = 100;
  s.max_in_flight = 10000;
  // Backfill unpaced unless a test says otherwise.
  s.spare_rate_initial = s.spare_rate_max = 1e9;
  return s;
}

/// Admits `n` events at `t` (check, then acquire) and says whether it did.
bool admit(admission_controller& c, admission_time t, std::size_t n) {
  return c.check(t) == shed_reason::none && c.acquire(t, n) == shed_reason::none;
}

} // namespace

CAF_TEST(requests enter below the limit and are shed at it) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  CAF_CHECK_EQUAL(c.limit(), 1000u);
  for (int i = 0; i < 10; ++i)
    CAF_CHECK(admit(c, t0, 100));
  CAF_CHECK_EQUAL(c.in_flight(), 1000u);
  CAF_CHECK(c.check(t0) == shed_reason::queue_delay);
  c.release(t0 + 10ms, 100, t0);
  CAF_CHECK(c.check(t0 + 10ms) == shed_reason::none);
}

CAF_TEST(an empty pipeline takes a request larger than the limit) {
  auto s = settings();
  s.initial_limit = s.min_limit = 100;
  admission_time t0{};
  admission_controller c{s, t0};
  CAF_CHECK(admit(c, t0, 1000));
  CAF_CHECK(c.check(t0) == shed_reason::queue_delay);
}

CAF_TEST(the hard cap holds whatever the adaptive limit says) {
  auto s = settings();
  s.enabled = false;
  s.max_in_flight = 250;
  admission_time t0{};
  admission_controller c{s, t0};
  CAF_CHECK_EQUAL(c.limit(), 250u);
  CAF_CHECK(admit(c, t0, 100));
  CAF_CHECK(admit(c, t0, 100));
  CAF_CHECK(c.check(t0) == shed_reason::none);
  CAF_CHECK(c.acquire(t0, 100) == shed_reason::max_in_flight);
  CAF_CHECK_EQUAL(c.in_flight(), 200u);
  // Disabled: slow answers never move the limit.
  c.release(t0 + 5s, 100, t0);
  c.check(t0 + 6s);
  CAF_CHECK_EQUAL(c.limit(), 250u);
}

CAF_TEST(a standing queue cuts the limit in proportion and at most by half) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  // Every answer of the interval took 100 ms: twice the target.
  for (int i = 0; i < 5; ++i)
    CAF_REQUIRE(admit(c, t0, 100));
  for (int i = 0; i < 5; ++i)
    c.release(t0 + 100ms, 100, t0);
  c.check(t0 + 100ms);
  CAF_CHECK_EQUAL(c.limit(), 500u);
  CAF_CHECK(c.queue_delay() == 100ms);
  // Answers far beyond the target: the cut is capped at one half, and the
  // limit never goes below min_limit.
  for (int round = 1; round < 10; ++round) {
    auto t = t0 + round * 200ms;
    CAF_REQUIRE(admit(c, t, 10));
    c.release(t + 150ms, 10, t);
    c.check(t + 150ms);
  }
  CAF_CHECK_EQUAL(c.limit(), 100u);
}

CAF_TEST(one slow answer among fast ones is a burst and not a queue) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  for (int i = 0; i < 3; ++i)
    CAF_REQUIRE(admit(c, t0, 100));
  c.release(t0 + 10ms, 100, t0); // the fastest of the interval was quick...
  c.release(t0 + 20ms, 100, t0);
  c.release(t0 + 95ms, 100, t0); // ...whatever one slow commit took
  c.check(t0 + 100ms);
  CAF_CHECK_EQUAL(c.limit(), 1000u);
}

CAF_TEST(answers of requests admitted before a cut do not cut again) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  for (int i = 0; i < 10; ++i)
    CAF_REQUIRE(admit(c, t0, 100));
  c.release(t0 + 100ms, 100, t0);
  c.check(t0 + 100ms);
  CAF_CHECK_EQUAL(c.limit(), 500u);
  // The queue admitted under the old limit drains slowly: not the new
  // limit's fault, so no further cut until a newly admitted request answers.
  for (int i = 1; i < 9; ++i)
    c.release(t0 + 100ms + i * 100ms, 100, t0);
  c.check(t0 + 1000ms);
  CAF_CHECK_EQUAL(c.limit(), 500u);
}

CAF_TEST(the limit grows while answers are on time and it holds the load back) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  auto t = t0;
  for (int round = 0; round < 10; ++round) {
    while (admit(c, t, 100)) {
    }
    // All of them answered within 10 ms, then the interval ends.
    auto n = c.in_flight();
    c.release(t + 10ms, n, t);
    t += 100ms;
    c.check(t);
  }
  CAF_CHECK_GREATER(c.limit(), 2000u);
  // Idle with the limit unused: no growth (it would only let a later surge in).
  auto before = c.limit();
  for (int round = 0; round < 10; ++round) {
    CAF_REQUIRE(admit(c, t, 10));
    c.release(t + 5ms, 10, t);
    t += 100ms;
    c.check(t);
  }
  CAF_CHECK_EQUAL(c.limit(), before);
  CAF_CHECK(c.queue_delay() == 5ms);
}

// A simulated server: one FIFO that completes `rate` events per millisecond,
// in group commits, and 2,000 clients sending batches of 100 as fast as
// answers come back (each shed client retries after 1 s): about 5x what it
// can take at once within the target. The admitted requests must wait near
// the target, not seconds, while the server stays busy.
CAF_TEST(under five times overload admitted requests wait near the target) {
  auto s = settings();
  s.max_in_flight = 100000;
  admission_time t0{};
  admission_controller c{s, t0};
  constexpr std::size_t rate = 25; // events per ms: 25,000 events/s
  constexpr std::size_t batch = 100;
  struct request {
    admission_time admitted;
    std::size_t left;
  };
  std::deque<request> queue;
  std::vector<admission_time> next_try(2000, t0);
  std::vector<double> waits;
  std::size_t done_events = 0, shed = 0;
  const auto end = t0 + 30s;
  for (auto t = t0; t < end; t += 1ms) {
    for (auto& when : next_try) {
      if (when > t)
        continue;
      if (admit(c, t, batch)) {
        queue.push_back({t, batch});
        when = admission_time::max(); // waits for its answer
      } else {
        ++shed;
        when = t + 1s;
      }
    }
    std::size_t budget = rate;
    while (budget > 0 && !queue.empty()) {
      auto take = std::min(budget, queue.front().left);
      queue.front().left -= take;
      budget -= take;
      if (queue.front().left == 0) {
        c.release(t, batch, queue.front().admitted);
        if (t > t0 + 5s) {
          waits.push_back(
              std::chrono::duration<double, std::milli>(t - queue.front().admitted)
                  .count());
          done_events += batch;
        }
        queue.pop_front();
        // The client sends its next batch at once.
        for (auto& when : next_try)
          if (when == admission_time::max()) {
            when = t + 1ms;
            break;
          }
      }
    }
  }
  std::sort(waits.begin(), waits.end());
  auto p99 = waits[waits.size() * 99 / 100];
  CAF_MESSAGE("p99 wait " << p99 << " ms, limit " << c.limit() << ", throughput "
                          << done_events / 25 << " events/s, shed " << shed);
  CAF_CHECK_LESS(p99, 250.0);                  // not seconds
  CAF_CHECK_GREATER(done_events / 25, 20000u); // and the server kept busy
  CAF_CHECK_GREATER(shed, 0u);
}

CAF_TEST(a backfill batch takes only spare capacity and never moves the limit) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  // An empty pipeline takes a batch of any size.
  CAF_CHECK(c.acquire_spare(t0, 800) == shed_reason::none);
  CAF_CHECK(c.acquire_spare(t0, 100) == shed_reason::queue_delay); // past half the limit
  c.release_spare(t0 + 10ms, 800);
  CAF_CHECK(c.acquire_spare(t0 + 10ms, 400) == shed_reason::none);
  // Live events fill the other half: a second backfill batch must wait.
  CAF_CHECK(admit(c, t0 + 10ms, 400));
  CAF_CHECK(c.acquire_spare(t0 + 10ms, 50) == shed_reason::queue_delay);
  // A slow backfill answer is not a sample: the limit stays where it was.
  c.release(t0 + 20ms, 400, t0 + 10ms);
  c.release_spare(t0 + 900ms, 400);
  c.check(t0 + 1s);
  CAF_CHECK_EQUAL(c.limit(), 1000u);
  // A standing queue of live requests (their fastest answer over a quarter of the
  // target) turns backfill away while anything is in flight.
  CAF_CHECK(admit(c, t0 + 1s, 10));
  c.release(t0 + 1s + 40ms, 10, t0 + 1s);
  CAF_CHECK(admit(c, t0 + 1100ms, 10));
  c.check(t0 + 1200ms);
  CAF_CHECK(c.queue_delay() == 40ms);
  CAF_CHECK(c.acquire_spare(t0 + 1200ms, 10) == shed_reason::queue_delay);
}

CAF_TEST(backfill events in flight never shed a live request even after a cut) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  CAF_CHECK(c.acquire_spare(t0, 500) == shed_reason::none); // half the limit
  // Live answers twice the target: the limit is cut to half (500), which
  // the backfill batch alone fills.
  CAF_CHECK(admit(c, t0, 100));
  c.release(t0 + 100ms, 100, t0);
  CAF_CHECK(c.check(t0 + 100ms) == shed_reason::none);
  CAF_CHECK_EQUAL(c.limit(), 500u);
  CAF_CHECK_EQUAL(c.in_flight(), 500u);
  // Live requests still enter up to the limit of their own.
  for (int i = 0; i < 4; ++i)
    CAF_CHECK(admit(c, t0 + 110ms, 100));
  CAF_CHECK(c.check(t0 + 110ms) == shed_reason::none);
  CAF_CHECK(admit(c, t0 + 110ms, 100));
  CAF_CHECK(c.check(t0 + 110ms) == shed_reason::queue_delay); // 500 live
  // And backfill waits while live traffic holds the room.
  CAF_CHECK(c.acquire_spare(t0 + 110ms, 1) == shed_reason::queue_delay);
  c.release_spare(t0 + 120ms, 500);
  CAF_CHECK_EQUAL(c.in_flight(), 500u);
}

CAF_TEST(a live queue that is gone stops holding backfill back) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  // Live answers of 40 ms: a queue, backfill waits.
  CAF_CHECK(admit(c, t0, 10));
  CAF_CHECK(c.acquire_spare(t0, 100) == shed_reason::none);
  c.release(t0 + 40ms, 10, t0);
  c.check(t0 + 100ms);
  CAF_CHECK(c.queue_delay() == 40ms);
  CAF_CHECK(c.acquire_spare(t0 + 100ms, 100) == shed_reason::queue_delay);
  // The live traffic stops; the backfill batch taken at t0 is still in
  // flight. One interval without live answers clears the old measurement.
  c.check(t0 + 200ms);
  CAF_CHECK(c.queue_delay() == 0ms);
  CAF_CHECK(c.acquire_spare(t0 + 200ms, 100) == shed_reason::none);
}

CAF_TEST(beside live traffic backfill has one batch in flight at a time) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  // No live traffic: two batches fit in half the limit.
  CAF_CHECK(c.acquire_spare(t0, 200) == shed_reason::none);
  CAF_CHECK(c.acquire_spare(t0, 200) == shed_reason::none);
  c.release_spare(t0 + 10ms, 200);
  c.release_spare(t0 + 10ms, 200);
  // A live request comes and goes, answered on time: one batch only (after
  // the pause the last 10 ms of backfill earned: 30 ms).
  CAF_CHECK(admit(c, t0 + 20ms, 1));
  c.release(t0 + 22ms, 1, t0 + 20ms);
  CAF_CHECK(c.acquire_spare(t0 + 50ms, 200) == shed_reason::none);
  CAF_CHECK(c.acquire_spare(t0 + 50ms, 200) == shed_reason::queue_delay);
  // Still in the next interval (live traffic is bursty between requests).
  CAF_CHECK(c.acquire_spare(t0 + 150ms, 200) == shed_reason::queue_delay);
  // A whole interval without live requests (the one that began at 150 ms):
  // backfill takes its share again.
  CAF_CHECK(c.acquire_spare(t0 + 260ms, 200) == shed_reason::none);
}

CAF_TEST(beside live traffic backfill takes at most a quarter of the time) {
  admission_time t0{};
  admission_controller c{settings(), t0};
  CAF_CHECK(admit(c, t0, 1)); // live traffic flows (its request stays in flight)
  CAF_CHECK(c.acquire_spare(t0, 200) == shed_reason::none);
  c.release_spare(t0 + 40ms, 200); // the batch took 40 ms
  // The next waits three times as long.
  CAF_CHECK(c.acquire_spare(t0 + 100ms, 200) == shed_reason::queue_delay);
  CAF_CHECK(c.acquire_spare(t0 + 159ms, 200) == shed_reason::queue_delay);
  CAF_CHECK(c.acquire_spare(t0 + 160ms, 200) == shed_reason::none);
  c.release_spare(t0 + 170ms, 200);
  // Without live traffic no pause: the live request is answered, and an
  // interval later backfill goes at once.
  c.release(t0 + 171ms, 1, t0);
  CAF_CHECK(c.acquire_spare(t0 + 175ms, 200) == shed_reason::queue_delay);
  c.check(t0 + 300ms);
  c.check(t0 + 400ms);
  CAF_CHECK(c.acquire_spare(t0 + 400ms, 200) == shed_reason::none);
  c.release_spare(t0 + 500ms, 200);
  CAF_CHECK(c.acquire_spare(t0 + 500ms, 200) == shed_reason::none);
}

CAF_TEST(beside live traffic backfill is paced at its rate) {
  auto s = settings();
  s.spare_rate_initial = 1000;
  s.spare_rate_max = 10000;
  admission_time t0{};
  admission_controller c{s, t0};
  CAF_CHECK(admit(c, t0, 1)); // live traffic flows (its request stays in flight)
  CAF_CHECK(c.acquire_spare(t0, 200) == shed_reason::none);
  c.release_spare(t0 + 1ms, 200);
  // 200 events at 1,000/s: the next batch 200 ms after this one, though
  // the quarter of the time would allow it after 4 ms.
  CAF_CHECK(c.acquire_spare(t0 + 100ms, 200) == shed_reason::queue_delay);
  CAF_CHECK(c.acquire_spare(t0 + 199ms, 200) == shed_reason::queue_delay);
  CAF_CHECK(c.acquire_spare(t0 + 200ms, 200) == shed_reason::none);
  c.release_spare(t0 + 201ms, 200);
  // Without live traffic backfill is not paced.
  c.release(t0 + 202ms, 1, t0 + 201ms);
  c.check(t0 + 350ms);
  c.check(t0 + 450ms);
  CAF_CHECK(c.acquire_spare(t0 + 450ms, 200) == shed_reason::none);
  c.release_spare(t0 + 451ms, 200);
  CAF_CHECK(c.acquire_spare(t0 + 451ms, 200) == shed_reason::none);
}

/// One second of live traffic from `t`, in time order: `answers` requests
/// of one event, the first `slow` answered in `slow_took` and the rest in 2 ms, and a
/// backfill batch of 100 asked for every 10 ms (answered at once); then the second is
/// rolled. Returns the batches admitted.
int live_second(admission_controller& c, admission_time t, int answers, int slow,
                std::chrono::microseconds slow_took = 20ms) {
  struct step {
    std::chrono::microseconds at;
    int kind; // 0: answer, 1: live request, 2: backfill batch
    admission_time admitted;
  };
  std::vector<step> steps;
  for (int i = 0; i < answers; ++i)
    steps.push_back({std::chrono::microseconds{i * 1'000'000 / answers}, 1, {}});
  for (int ms = 5; ms < 1000; ms += 10)
    steps.push_back({std::chrono::milliseconds{ms}, 2, {}});
  int admitted = 0, live = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    std::sort(steps.begin() + static_cast<std::ptrdiff_t>(i), steps.end(),
              [](const step& a, const step& b) { return a.at < b.at; });
    auto now = t + steps[i].at;
    if (steps[i].kind == 0) {
      c.release(now, 1, steps[i].admitted);
    } else if (steps[i].kind == 1) {
      CAF_REQUIRE(admit(c, now, 1));
      steps.push_back({steps[i].at + (live++ < slow ? slow_took : 2ms), 0, now});
    } else if (c.acquire_spare(now, 100) == shed_reason::none) {
      ++admitted;
      c.release_spare(now, 100);
    }
  }
  c.check(t + 1000ms);
  return admitted;
}

CAF_TEST(backfill pace follows live p99 against a baseline measured without it) {
  auto s = settings();
  s.spare_rate_initial = 1000;
  s.spare_rate_min = 100;
  s.spare_rate_max = 2000;
  admission_time t0{};
  admission_controller c{s, t0};
  auto second = [&](int i, int slow, int answers = 200,
                    std::chrono::microseconds slow_took = 20ms) {
    return live_second(c, t0 + std::chrono::seconds{i}, answers, slow, slow_took);
  };
  // No baseline yet: paced at the start (200 ms per batch of 100 at 1,000/s
  // is ten batches; the first at once).
  CAF_CHECK_EQUAL(second(0, 0), 10);
  // Then two seconds without backfill: one drains, one is measured (p99
  // 2 ms).
  CAF_CHECK_EQUAL(second(1, 0), 0);
  CAF_CHECK_EQUAL(second(2, 0), 0);
  CAF_CHECK_EQUAL(c.spare_rate(), 1000.0);
  // Live p99 within 1.1 times the baseline plus 0.5 ms (2.7 ms) while the
  // pace held backfill back: a quarter more each second (one slow answer in
  // 200 is not the p99).
  CAF_CHECK(second(3, 1) > 0);
  CAF_CHECK_EQUAL(c.spare_rate(), 1250.0);
  second(4, 2, 200, 2600us);
  CAF_CHECK_EQUAL(c.spare_rate(), 1562.5);
  // Two slow answers in 200 are the p99: 3 ms against a 2 ms baseline
  // (1.5 times) is over the line and halves the pace.
  second(5, 2, 200, 3ms);
  CAF_CHECK_EQUAL(c.spare_rate(), 781.25);
  for (int i = 6; i < 13; ++i)
    second(i, 3);
  CAF_CHECK_EQUAL(c.spare_rate(), 100.0); // its floor
  // Ten measured seconds with backfill: the next two are kept free of it.
  CAF_CHECK_EQUAL(second(13, 0), 0);
  CAF_CHECK_EQUAL(second(14, 0), 0);
  CAF_CHECK(second(15, 0) > 0);
  CAF_CHECK_EQUAL(c.spare_rate(), 125.0);
  // Live traffic too thin to measure changes nothing, and never keeps
  // backfill waiting for a measurement.
  for (int i = 16; i < 26; ++i)
    CAF_CHECK(second(i, 5, 5) > 0);
  CAF_CHECK_EQUAL(c.spare_rate(), 125.0);
}
