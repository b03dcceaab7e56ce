#include "adapters/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace gavel::adapters::metrics {

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) noexcept {
  // Buckets are few (≤ 20): a linear scan beats a binary search here.
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,   1,      2.5,   5,    10,    30,   60};
  return b;
}

const std::vector<double>& size_buckets() {
  static const std::vector<double> b{1,   2,   5,    10,   20,   50,   100,
                                     200, 500, 1000, 2000, 5000, 10000};
  return b;
}

struct registry::family {
  std::string help;
  kind k;
  std::vector<double> bounds;
  struct series {
    std::unique_ptr<metrics::counter> c;
    std::unique_ptr<metrics::gauge> g;
    std::unique_ptr<metrics::histogram> h;
    std::function<double()> fn;
  };
  std::map<labels, series> members;
};

registry::registry() = default;
registry::~registry() = default;

namespace {

bool valid_name(const std::string& n) {
  if (n.empty())
    return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

void check_labels(const labels& ls) {
  for (const auto& [k, v] : ls)
    if (!valid_name(k) || k.find(':') != std::string::npos || k == "le")
      throw std::logic_error("metrics: bad label name " + k);
}

std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void append_labels(std::string& out, const labels& ls, const char* le = nullptr) {
  if (ls.empty() && le == nullptr)
    return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : ls) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  if (le != nullptr) {
    if (!first)
      out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

} // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  // Integers (counts) print without exponent or fraction.
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    return std::to_string(static_cast<long long>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

registry::family& registry::family_for(const std::string& name, const std::string& help,
                                       kind k) {
  if (!valid_name(name))
    throw std::logic_error("metrics: bad metric name " + name);
  auto& f = families_[name];
  if (!f) {
    f = std::make_unique<family>();
    f->help = help;
    f->k = k;
  } else if (f->k != k) {
    throw std::logic_error("metrics: " + name + " registered with another type");
  }
  return *f;
}

metrics::counter& registry::counter(const std::string& name, const std::string& help,
                                    const labels& ls) {
  check_labels(ls);
  std::lock_guard guard{mutex_};
  auto& s = family_for(name, help, kind::counter).members[ls];
  if (!s.c)
    s.c = std::make_unique<metrics::counter>();
  return *s.c;
}

metrics::gauge& registry::gauge(const std::string& name, const std::string& help,
                                const labels& ls) {
  check_labels(ls);
  std::lock_guard guard{mutex_};
  auto& s = family_for(name, help, kind::gauge).members[ls];
  if (!s.g)
    s.g = std::make_unique<metrics::gauge>();
  return *s.g;
}

metrics::histogram& registry::histogram(const std::string& name, const std::string& help,
                                        const std::vector<double>& bounds,
                                        const labels& ls) {
  check_labels(ls);
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
    throw std::logic_error("metrics: buckets of " + name + " must ascend");
  std::lock_guard guard{mutex_};
  auto& f = family_for(name, help, kind::histogram);
  if (f.members.empty() && f.bounds.empty())
    f.bounds = bounds;
  auto& s = f.members[ls];
  if (!s.h)
    s.h = std::make_unique<metrics::histogram>(f.bounds);
  return *s.h;
}

void registry::gauge_callback(const std::string& name, const std::string& help,
                              const labels& ls, std::function<double()> fn) {
  check_labels(ls);
  std::lock_guard guard{mutex_};
  family_for(name, help, kind::gauge).members[ls].fn = std::move(fn);
}

void registry::counter_callback(const std::string& name, const std::string& help,
                                const labels& ls, std::function<double()> fn) {
  check_labels(ls);
  std::lock_guard guard{mutex_};
  family_for(name, help, kind::counter).members[ls].fn = std::move(fn);
}

std::string registry::render() const {
  std::string out;
  std::lock_guard guard{mutex_};
  for (const auto& [name, f] : families_) {
    if (f->members.empty())
      continue;
    out += "# HELP " + name + ' ' + escape_help(f->help) + '\n';
    out += "# TYPE " + name + ' ';
    out += f->k == kind::counter ? "counter"
           : f->k == kind::gauge ? "gauge"
                                 : "histogram";
    out += '\n';
    for (const auto& [ls, s] : f->members) {
      if (f->k == kind::histogram) {
        const auto& h = *s.h;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          out += name + "_bucket";
          append_labels(out, ls, format_value(h.bounds()[i]).c_str());
          out += ' ' + std::to_string(cumulative) + '\n';
        }
        cumulative += h.bucket(h.bounds().size());
        out += name + "_bucket";
        append_labels(out, ls, "+Inf");
        // The count is read separately from the buckets; report the bucket
        // total so that _count always equals the +Inf bucket.
        out += ' ' + std::to_string(cumulative) + '\n';
        out += name + "_sum";
        append_labels(out, ls);
        out += ' ' + format_value(h.sum()) + '\n';
        out += name + "_count";
        append_labels(out, ls);
        out += ' ' + std::to_string(cumulative) + '\n';
        continue;
      }
      double v = s.fn  ? s.fn()
                 : s.c ? static_cast<double>(s.c->value())
                 : s.g ? s.g->value()
                       : 0.0;
      out += name;
      append_labels(out, ls);
      out += ' ' + format_value(v) + '\n';
    }
  }
  return out;
}

registry& global() {
  static registry r;
  return r;
}

} // namespace gavel::adapters::metrics
