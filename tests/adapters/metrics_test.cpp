#define CAF_SUITE adapters.metrics
#include "adapters/metrics.hpp"

#include <caf/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

using namespace gavel::adapters;

CAF_TEST(a counter renders with HELP and TYPE lines and its labels) {
  metrics::registry r;
  auto& c = r.counter("gavel_ingest_events_total", "Events ingested.",
                      {{"status", "accepted"}});
  c.inc();
  c.inc(41);
  CAF_CHECK_EQUAL(r.render(), "# HELP gavel_ingest_events_total Events ingested.\n"
                              "# TYPE gavel_ingest_events_total counter\n"
                              "gavel_ingest_events_total{status=\"accepted\"} 42\n");
}

CAF_TEST(the same name and labels give the same series) {
  metrics::registry r;
  auto& a = r.counter("x_total", "h", {{"k", "v"}});
  auto& b = r.counter("x_total", "h", {{"k", "v"}});
  auto& c = r.counter("x_total", "h", {{"k", "w"}});
  CAF_CHECK_EQUAL(&a, &b);
  CAF_CHECK_NOT_EQUAL(&a, &c);
}

CAF_TEST(label values are escaped and help text too) {
  metrics::registry r;
  r.gauge("g", "line one\nback\\slash", {{"name", "a\"b\\c\nd"}}).set(1.5);
  CAF_CHECK_EQUAL(r.render(), "# HELP g line one\\nback\\\\slash\n"
                              "# TYPE g gauge\n"
                              "g{name=\"a\\\"b\\\\c\\nd\"} 1.5\n");
}

CAF_TEST(a histogram renders cumulative buckets sum and count) {
  metrics::registry r;
  auto& h = r.histogram("lat_seconds", "Latency.", {0.1, 1}, {{"d", "x"}});
  h.observe(0.05);
  h.observe(0.1); // on the bound: le is inclusive
  h.observe(0.5);
  h.observe(3);
  CAF_CHECK_EQUAL(r.render(), "# HELP lat_seconds Latency.\n"
                              "# TYPE lat_seconds histogram\n"
                              "lat_seconds_bucket{d=\"x\",le=\"0.1\"} 2\n"
                              "lat_seconds_bucket{d=\"x\",le=\"1\"} 3\n"
                              "lat_seconds_bucket{d=\"x\",le=\"+Inf\"} 4\n"
                              "lat_seconds_sum{d=\"x\"} 3.65\n"
                              "lat_seconds_count{d=\"x\"} 4\n");
}

CAF_TEST(an unlabelled histogram has only le labels) {
  metrics::registry r;
  r.histogram("b", "Sizes.", {10}).observe(20);
  CAF_CHECK_EQUAL(r.render(), "# HELP b Sizes.\n# TYPE b histogram\n"
                              "b_bucket{le=\"10\"} 0\nb_bucket{le=\"+Inf\"} 1\n"
                              "b_sum 20\nb_count 1\n");
}

CAF_TEST(families are sorted by name and callbacks read at scrape time) {
  metrics::registry r;
  double v = 1;
  r.gauge_callback("z_gauge", "Z.", {}, [&v] { return v; });
  r.counter("a_total", "A.").inc();
  v = 7;
  auto text = r.render();
  CAF_CHECK_LESS(text.find("a_total"), text.find("z_gauge"));
  CAF_CHECK_NOT_EQUAL(text.find("z_gauge 7\n"), std::string::npos);
}

CAF_TEST(special values use the text format spelling) {
  CAF_CHECK_EQUAL(metrics::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  CAF_CHECK_EQUAL(metrics::format_value(-std::numeric_limits<double>::infinity()),
                  "-Inf");
  CAF_CHECK_EQUAL(metrics::format_value(std::nan("")), "NaN");
  CAF_CHECK_EQUAL(metrics::format_value(0.25), "0.25");
  CAF_CHECK_EQUAL(metrics::format_value(-3), "-3");
}

namespace {

template <class F> bool throws_logic_error(F f) {
  try {
    f();
  } catch (const std::logic_error&) {
    return true;
  }
  return false;
}

} // namespace

CAF_TEST(a name used with two types or a bad name is a programming error) {
  metrics::registry r;
  r.counter("dup_total", "h");
  CAF_CHECK(throws_logic_error([&] { r.gauge("dup_total", "h"); }));
  CAF_CHECK(throws_logic_error([&] { r.counter("1bad", "h"); }));
  metrics::labels le{{"le", "1"}};
  CAF_CHECK(throws_logic_error([&] { r.counter("ok_total", "h", le); }));
}

CAF_TEST(concurrent updates are not lost) {
  metrics::registry r;
  auto& c = r.counter("c_total", "h");
  auto& h = r.histogram("h_seconds", "h", {1});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  for (auto& t : ts)
    t.join();
  CAF_CHECK_EQUAL(c.value(), 40000u);
  CAF_CHECK_EQUAL(h.count(), 40000u);
  CAF_CHECK_EQUAL(h.sum(), 20000.0);
}
