#pragma once

#include <cstdint>
#include <string_view>

namespace gavel::protocols {

/// Why an event (or a whole ingest request) was not taken. Actors report
/// these; only the HTTP edge (actors/api/) turns them into status codes and
/// error strings, so the actor code knows nothing of HTTP.
enum class ingest_error : std::uint8_t {
  none,              ///< taken: accepted or duplicate
  invalid,           ///< fails the event schema (a field is named)
  closed,            ///< its auction is closed
  event_id_conflict, ///< its event_id is already stored for another auction
  unavailable,       ///< cannot be made durable now (database, restart, deadline)
  overloaded,        ///< shed at admission: too much in flight
  shutting_down,     ///< Gavel is draining before it stops
  source_disabled,   ///< its source's flag is off (the operator's switch)
};

/// The snake_case name, as metrics and logs spell it.
constexpr std::string_view to_string(ingest_error e) noexcept {
  switch (e) {
  case ingest_error::none:
    return "none";
  case ingest_error::invalid:
    return "invalid";
  case ingest_error::closed:
    return "closed";
  case ingest_error::event_id_conflict:
    return "event_id_conflict";
  case ingest_error::unavailable:
    return "unavailable";
  case ingest_error::overloaded:
    return "overloaded";
  case ingest_error::shutting_down:
    return "shutting_down";
  case ingest_error::source_disabled:
    return "source_disabled";
  }
  return "unknown";
}

/// Whether the producer should send the same event again later.
constexpr bool retryable(ingest_error e) noexcept {
  return e == ingest_error::unavailable || e == ingest_error::overloaded ||
         e == ingest_error::shutting_down || e == ingest_error::source_disabled;
}

} // namespace gavel::protocols
