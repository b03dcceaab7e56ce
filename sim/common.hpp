#pragma once

// Small helpers shared by the sim subcommands: clocks, number formatting,
// percentiles, durations, hashing, signal handling.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gavel::sim {

/// Wall-clock time since the Unix epoch in milliseconds, with sub-ms fraction.
double now_unix_ms();

/// Monotonic time in milliseconds (arbitrary origin).
double now_mono_ms();

/// ISO-8601 UTC with millisecond precision and `Z`: `2026-06-09T14:23:11.412Z`.
void append_iso8601_ms(std::int64_t unix_ms, std::string& out);
std::string iso8601_ms(std::int64_t unix_ms);
/// ISO-8601 UTC with second precision and `Z`: `2026-06-09T14:23:11Z`.
void append_iso8601_s(std::int64_t unix_ms, std::string& out);
/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the forms written above).
std::optional<std::int64_t> parse_iso8601(std::string_view s);

void append_int(std::int64_t v, std::string& out);
/// Fixed-point formatting with `decimals` digits after the point.
void append_fixed(double v, int decimals, std::string& out);
/// Integer cents as a decimal string with two decimals: 87510 -> "875.10".
void append_cents(std::int64_t cents, std::string& out);
/// `s` as a quoted, escaped JSON string.
void append_json_string(std::string_view s, std::string& out);

/// Durations exactly as Gavel reads them (protocols/duration.hpp): a whole
/// number and a unit, "250ms", "5s", "2m", "1h", "1d"; "0s" for none.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Lower-case hex of the SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

struct percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
  double p999 = 0; ///< 99.9th
  std::size_t count = 0;
};
/// Nearest-rank percentiles; sorts `values` in place.
percentiles compute_percentiles(std::vector<double>& values);

/// Blocks SIGINT and SIGTERM in the calling thread (call before starting
/// other threads so they inherit the mask).
void block_termination_signals();
/// Waits up to `timeout` for SIGINT/SIGTERM; returns true when one arrived.
bool wait_termination_signal(std::chrono::milliseconds timeout);

/// splitmix64: a good 64-bit mixer to derive independent seeds.
std::uint64_t mix64(std::uint64_t x);

} // namespace gavel::sim
