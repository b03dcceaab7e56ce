#include "sim/common.hpp"

#include "protocols/duration.hpp"
#include "protocols/json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <openssl/evp.h>

namespace gavel::sim {

double now_unix_ms() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return static_cast<double>(ns) / 1e6;
}

double now_mono_ms() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now().time_since_epoch())
                .count();
  return static_cast<double>(ns) / 1e6;
}

namespace {

// Howard Hinnant's civil-from-days / days-from-civil.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void append_digits(std::int64_t v, int width, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  auto len = static_cast<int>(res.ptr - buf);
  for (int i = len; i < width; ++i)
    out.push_back('0');
  out.append(buf, res.ptr);
}

void append_iso(std::int64_t unix_ms, bool with_ms, std::string& out) {
  std::int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  std::int64_t ms = unix_ms - secs * 1000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t sod = secs - days * 86400;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  append_digits(y, 4, out);
  out.push_back('-');
  append_digits(m, 2, out);
  out.push_back('-');
  append_digits(d, 2, out);
  out.push_back('T');
  append_digits(sod / 3600, 2, out);
  out.push_back(':');
  append_digits(sod / 60 % 60, 2, out);
  out.push_back(':');
  append_digits(sod % 60, 2, out);
  if (with_ms) {
    out.push_back('.');
    append_digits(ms, 3, out);
  }
  out.push_back('Z');
}

bool read_num(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size())
    return false;
  auto res = std::from_chars(s.data() + pos, s.data() + pos + len, out);
  return res.ec == std::errc{} && res.ptr == s.data() + pos + len;
}

} // namespace

void append_iso8601_ms(std::int64_t unix_ms, std::string& out) {
  append_iso(unix_ms, true, out);
}

std::string iso8601_ms(std::int64_t unix_ms) {
  std::string s;
  append_iso(unix_ms, true, s);
  return s;
}

void append_iso8601_s(std::int64_t unix_ms, std::string& out) {
  append_iso(unix_ms, false, out);
}

std::optional<std::int64_t> parse_iso8601(std::string_view s) {
  int y, mo, d, h, mi, se, ms = 0;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (!read_num(s, 0, 4, y) || !read_num(s, 5, 2, mo) || !read_num(s, 8, 2, d) ||
      !read_num(s, 11, 2, h) || !read_num(s, 14, 2, mi) || !read_num(s, 17, 2, se))
    return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
      ++pos;
    std::string frac(s.substr(start, pos - start));
    frac.resize(3, '0');
    if (!read_num(frac, 0, 3, ms))
      return std::nullopt;
  }
  if (pos + 1 != s.size() || s[pos] != 'Z')
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return std::nullopt;
  auto days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 86400 + h * 3600 + mi * 60 + se) * 1000) + ms;
}

void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_fixed(double v, int decimals, std::string& out) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  out.append(buf, res.ptr);
}

void append_cents(std::int64_t cents, std::string& out) {
  if (cents < 0) {
    out.push_back('-');
    cents = -cents;
  }
  append_int(cents / 100, out);
  out.push_back('.');
  append_digits(cents % 100, 2, out);
}

void append_json_string(std::string_view s, std::string& out) {
  protocols::json::dump_string(s, out);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto d = protocols::parse_duration(text);
  if (!d)
    return std::nullopt;
  return *d;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

percentiles compute_percentiles(std::vector<double>& values) {
  percentiles p;
  p.count = values.size();
  if (values.empty())
    return p;
  std::sort(values.begin(), values.end());
  auto rank = [&](double q) {
    auto n = values.size();
    auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    if (idx == 0)
      idx = 1;
    return values[std::min(idx, n) - 1];
  };
  p.p50 = rank(0.50);
  p.p95 = rank(0.95);
  p.p99 = rank(0.99);
  p.p999 = rank(0.999);
  p.max = values.back();
  return p;
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer closing a socket must never kill the process.
  std::signal(SIGPIPE, SIG_IGN);
}

bool wait_termination_signal(std::chrono::milliseconds timeout) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000) * 1'000'000L;
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

} // namespace gavel::sim
