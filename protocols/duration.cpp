#include "protocols/duration.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

namespace gavel::protocols {

namespace {

struct unit {
  std::string_view name;
  std::int64_t ms;
};

// Largest first: format_duration picks the first that divides exactly.
constexpr std::array<unit, 5> units{unit{"d", 86'400'000}, unit{"h", 3'600'000},
                                    unit{"m", 60'000}, unit{"s", 1000}, unit{"ms", 1}};

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

error duration_error(std::string message) {
  return error{"duration", {}, std::move(message)};
}

} // namespace

expected<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return duration_error("expected a duration with a unit (ms, s, m, h or d) such as "
                          "\"250ms\", \"5s\", \"5m\" or \"1h\", got " +
                          quoted(text));
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits == text.size())
    return bad();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc{} || end != text.data() + digits)
    return bad();
  auto suffix = text.substr(digits);
  std::int64_t scale = 0;
  for (const auto& u : units)
    if (u.name == suffix)
      scale = u.ms;
  if (scale == 0)
    return bad();
  // A year is far beyond any sensible setting and far from overflow.
  constexpr std::int64_t max_ms = 366LL * 24 * 3'600'000;
  if (value > max_ms / scale)
    return duration_error("duration " + quoted(text) + " is too long (at most 366 days)");
  return std::chrono::milliseconds{value * scale};
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  for (const auto& u : units)
    if (ms != 0 && ms % u.ms == 0)
      return std::to_string(ms / u.ms) + std::string{u.name};
  return std::to_string(ms) + "ms";
}

} // namespace gavel::protocols
