#include "protocols/time.hpp"

#include <algorithm>
#include <chrono>

namespace gavel::protocols {

unix_ms unix_now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

using namespace std::chrono;

// The calendar range ISO-8601 writes with four-digit years. Formatting clamps
// to it, so absurd inputs give a well-formed boundary date instead of
// overflowing the civil-date arithmetic.
constexpr unix_ms min_ms = -62'167'219'200'000; // 0000-01-01T00:00:00.000Z
constexpr unix_ms max_ms = 253'402'300'799'999; // 9999-12-31T23:59:59.999Z
constexpr std::int64_t ms_per_day = 86'400'000;

void append_digits(std::string& out, std::int64_t v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

/// A tiny cursor over the input; every read checks bounds.
class cursor {
public:
  explicit cursor(std::string_view s) : s_(s) {}

  bool at_end() const noexcept { return i_ == s_.size(); }
  char peek() const noexcept { return at_end() ? '\0' : s_[i_]; }

  bool accept(char c) noexcept {
    if (peek() != c)
      return false;
    ++i_;
    return true;
  }

  /// Reads exactly `n` decimal digits.
  bool digits(int n, int& out) noexcept {
    int v = 0;
    for (int k = 0; k < n; ++k) {
      char c = peek();
      if (c < '0' || c > '9')
        return false;
      v = v * 10 + (c - '0');
      ++i_;
    }
    out = v;
    return true;
  }

  /// Reads one or more digits as milliseconds, truncating beyond the third.
  bool fraction_ms(int& ms) noexcept {
    int v = 0;
    int n = 0;
    while (peek() >= '0' && peek() <= '9') {
      if (n < 3)
        v = v * 10 + (peek() - '0');
      ++n;
      ++i_;
    }
    for (int k = n; k < 3; ++k)
      v *= 10;
    ms = v;
    return n > 0;
  }

private:
  std::string_view s_;
  std::size_t i_ = 0;
};

error bad(std::string_view text, std::string_view why) {
  // The value comes from the client; quote it only when short and printable.
  std::string msg{why};
  if (text.size() <= 64 && std::all_of(text.begin(), text.end(),
                                       [](char c) { return c >= 0x20 && c < 0x7f; })) {
    msg += " (got \"";
    msg += text;
    msg += "\")";
  }
  return error{"timestamp", "", std::move(msg)};
}

} // namespace

void format_iso8601_ms(unix_ms t, std::string& out) {
  t = std::clamp(t, min_ms, max_ms);
  // Floor division: pre-1970 instants belong to the previous day.
  std::int64_t day = t / ms_per_day;
  std::int64_t rem = t % ms_per_day;
  if (rem < 0) {
    rem += ms_per_day;
    --day;
  }
  year_month_day ymd{sys_days{days{day}}};
  append_digits(out, static_cast<int>(ymd.year()), 4);
  out += '-';
  append_digits(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_digits(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  append_digits(out, rem / 3'600'000, 2);
  out += ':';
  append_digits(out, rem / 60'000 % 60, 2);
  out += ':';
  append_digits(out, rem / 1000 % 60, 2);
  out += '.';
  append_digits(out, rem % 1000, 3);
  out += 'Z';
}

std::string format_iso8601_ms(unix_ms t) {
  std::string out;
  out.reserve(24);
  format_iso8601_ms(t, out);
  return out;
}

expected<unix_ms> parse_timestamp(std::string_view text) {
  cursor in{text};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  if (!in.digits(4, y) || !in.accept('-') || !in.digits(2, mo) || !in.accept('-') ||
      !in.digits(2, d))
    return bad(text, "expected YYYY-MM-DD");
  if (!in.accept('T'))
    return bad(text, "expected 'T' between date and time");
  if (!in.digits(2, h) || !in.accept(':') || !in.digits(2, mi) || !in.accept(':') ||
      !in.digits(2, s))
    return bad(text, "expected hh:mm:ss");
  if (in.accept('.') && !in.fraction_ms(ms))
    return bad(text, "expected digits after '.'");
  int offset_minutes = 0;
  if (in.accept('Z')) {
    // UTC
  } else if (in.peek() == '+' || in.peek() == '-') {
    int sign = in.peek() == '-' ? -1 : 1;
    in.accept(in.peek());
    int oh = 0, om = 0;
    if (!in.digits(2, oh) || !in.accept(':') || !in.digits(2, om))
      return bad(text, "expected a zone offset +hh:mm or -hh:mm");
    if (oh > 23 || om > 59)
      return bad(text, "zone offset out of range");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return bad(text, "expected a zone, 'Z' or +hh:mm/-hh:mm");
  }
  if (!in.at_end())
    return bad(text, "unexpected characters after the zone");
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                     day{static_cast<unsigned>(d)}};
  if (!ymd.ok())
    return bad(text, "no such date");
  if (h > 23 || mi > 59 || s > 59)
    return bad(text, "time of day out of range");
  std::int64_t days_since_epoch = sys_days{ymd}.time_since_epoch().count();
  return days_since_epoch * ms_per_day + (h * 3600LL + mi * 60LL + s) * 1000 + ms -
         offset_minutes * 60'000LL;
}

} // namespace gavel::protocols
