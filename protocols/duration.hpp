#pragma once

#include "protocols/expected.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace gavel::protocols {

/// Parses a duration written as a whole number and one unit: `250ms`, `5s`,
/// `5m`, `1h`, `30d` (no sign, space, fraction or compound such as `1h30m`),
/// at most 366 days. Error code "duration"; the message says what was
/// expected and quotes the text, so a caller can prefix it with its key.
expected<std::chrono::milliseconds> parse_duration(std::string_view text);

/// The shortest text parse_duration reads back as `d`, in the largest unit
/// that divides it exactly: `"5m"`, `"90s"`, `"250ms"`, `"0ms"`.
std::string format_duration(std::chrono::milliseconds d);

} // namespace gavel::protocols
