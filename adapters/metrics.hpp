#pragma once

/// A small Prometheus metrics registry: counters, gauges and fixed-bucket
/// histograms rendered in the text exposition format (version 0.0.4).
///
/// Hot path: look a series up ONCE (by name and labels, under the registry's
/// mutex) and keep the returned reference; updating it is a relaxed atomic
/// operation, lock-free. References stay valid for the registry's lifetime
/// (series are never removed), and asking again for the same name and labels
/// returns the same series, so an actor that restarts simply looks its series
/// up again. Values are in base units (seconds, bytes, events).
///
///   auto& m = gavel::adapters::metrics::global();
///   auto& ok = m.counter("gavel_destination_deliveries_total", "Events delivered.",
///                        {{"destination", name}, {"outcome", "ok"}});
///   ok.inc(n);
///   auto& lat = m.histogram("gavel_delivery_latency_seconds", "Ack to delivery.",
///                           metrics::latency_buckets(), {{"destination", name}});
///   lat.observe(0.012);

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gavel::adapters::metrics {

/// Label pairs (name, value) of one series, e.g. {{"destination", "crm"}}.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count (name ends in `_total`).
class counter {
public:
  void inc(std::uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0};
};

/// Observations counted into fixed buckets (upper bounds, ascending; +Inf is
/// implicit), plus their sum and count.
class histogram {
public:
  explicit histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Non-cumulative count of bucket i (i == bounds().size() is +Inf).
  std::uint64_t bucket(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// Default buckets for latencies in seconds (1 ms .. 60 s).
const std::vector<double>& latency_buckets();
/// Default buckets for sizes/counts (1 .. 10,000).
const std::vector<double>& size_buckets();

/// A set of metric families. Thread-safe.
class registry {
public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// The series of a counter family (created on first use). Throws
  /// std::logic_error when `name` is already a family of another type or is
  /// not a valid metric name: a programming error, caught by any test.
  metrics::counter& counter(const std::string& name, const std::string& help,
                            const labels& ls = {});
  metrics::gauge& gauge(const std::string& name, const std::string& help,
                        const labels& ls = {});
  /// `bounds` is fixed by the first call for a family; later calls reuse it.
  metrics::histogram& histogram(const std::string& name, const std::string& help,
                                const std::vector<double>& bounds, const labels& ls = {});

  /// A gauge whose value is read at scrape time (e.g. a server's connection
  /// count); replaces an earlier callback of the same series. `fn` must be
  /// thread-safe and must not call back into the registry.
  void gauge_callback(const std::string& name, const std::string& help, const labels& ls,
                      std::function<double()> fn);
  /// Same for a counter read at scrape time (a value kept elsewhere).
  void counter_callback(const std::string& name, const std::string& help,
                        const labels& ls, std::function<double()> fn);

  /// The whole registry in the Prometheus text format, families sorted by
  /// name, series by labels.
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct family;
  family& family_for(const std::string& name, const std::string& help, kind k);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<family>> families_;
};

/// The process-wide registry that `GET /metrics` renders.
registry& global();

/// Escapes a label value for the text format (backslash, quote, newline).
std::string escape_label_value(const std::string& v);
/// Formats a sample value as the text format expects (+Inf, -Inf, NaN).
std::string format_value(double v);

} // namespace gavel::adapters::metrics
