#pragma once

#include "protocols/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace gavel::protocols {

/// Milliseconds since the Unix epoch, UTC.
using unix_ms = std::int64_t;

/// Now, by the system clock (wall time), in milliseconds since the epoch.
unix_ms unix_now_ms() noexcept;

/// Formats as ISO-8601 UTC with millisecond precision and a `Z` suffix:
/// `2026-06-09T14:23:11.412Z`.
std::string format_iso8601_ms(unix_ms t);
void format_iso8601_ms(unix_ms t, std::string& out);

/// Parses an RFC 3339 date-time, the one form Gavel accepts on ingest
/// (docs/ingest.md): `YYYY-MM-DDThh:mm:ss`, an optional fraction of any length
/// (truncated to milliseconds), and a zone, `Z` or `±hh:mm`. Upper-case `T`
/// and `Z` only (the profile RFC 3339 §5.6 allows), no space separator, no
/// missing seconds or zone, no `±hhmm`, no leap second (`:60`): each of those
/// is read differently by some consumer, so none is guessed at. Error code
/// "timestamp", the message says what was expected.
expected<unix_ms> parse_timestamp(std::string_view text);

} // namespace gavel::protocols
