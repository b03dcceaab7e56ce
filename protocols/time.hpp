#pragma once

#include "protocols/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gavel::protocols {

/// Milliseconds since the Unix epoch, UTC.
using unix_ms = std::int64_t;

/// Formats as ISO-8601 UTC with millisecond precision and a `Z` suffix:
/// `2026-06-09T14:23:11.412Z`.
std::string format_iso8601_ms(unix_ms t);
void format_iso8601_ms(unix_ms t, std::string& out);

/// Parses the timestamp forms an auction platform sends: ISO-8601 with `T` or
/// a space between date and time, optional fractional seconds, and `Z`, a
/// `+HH:MM`/`-HH:MM` offset, or no zone (read as UTC, as WooCommerce stores
/// GMT dates). Error code "timestamp".
expected<unix_ms> parse_timestamp(std::string_view text);

} // namespace gavel::protocols
