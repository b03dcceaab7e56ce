#pragma once

/// The states components report (to /v1/pipeline, /metrics and alerts).
/// They travel as enums; the names below are the only spelling, used where
/// a state becomes JSON, a metric label or log text.

#include "protocols/resilience.hpp"

#include <cstdint>
#include <string_view>

namespace gavel::protocols {

/// A destination as its supervisor and worker see it.
enum class destination_state : std::uint8_t {
  ok,           ///< live, nothing waiting for a retry
  retrying,     ///< some auction backs off after a transient failure
  circuit_open, ///< the circuit breaker stopped (or probes) sending
  catching_up,  ///< reading from the outbox instead of the live feed
  restarting,   ///< the worker is down and will be started again
  failed,       ///< over the restart limit; waits for an operator's restart
  unknown,      ///< it did not answer in time
};

/// The core (store and registry) as its supervisor sees it.
enum class core_state : std::uint8_t { ok, restarting, failed };

constexpr std::string_view to_string(destination_state s) noexcept {
  switch (s) {
  case destination_state::ok:
    return "ok";
  case destination_state::retrying:
    return "retrying";
  case destination_state::circuit_open:
    return "circuit-open";
  case destination_state::catching_up:
    return "catching-up";
  case destination_state::restarting:
    return "restarting";
  case destination_state::failed:
    return "failed";
  case destination_state::unknown:
    break;
  }
  return "unknown";
}

constexpr std::string_view to_string(core_state s) noexcept {
  switch (s) {
  case core_state::ok:
    return "ok";
  case core_state::restarting:
    return "restarting";
  case core_state::failed:
    break;
  }
  return "failed";
}

constexpr std::string_view to_string(circuit_breaker::state s) noexcept {
  switch (s) {
  case circuit_breaker::state::closed:
    return "closed";
  case circuit_breaker::state::open:
    return "open";
  case circuit_breaker::state::half_open:
    break;
  }
  return "half-open";
}

} // namespace gavel::protocols
