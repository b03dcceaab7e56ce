#pragma once

/// The command-line options every destination emulator shares (sim eventhub,
/// hubspot, receive); the functions that register them are in emulator.hpp.

#include <cstdint>
#include <string>
#include <vector>

namespace gavel::sim {

/// Listening and logging options common to the emulators.
struct listen_args {
  std::string listen = "127.0.0.1:0";
  std::string tls_cert; ///< with tls_key: serve https
  std::string tls_key;
  std::string out = "arrivals.jsonl";
  unsigned threads = 1;
};

/// Fault injection options common to the emulators.
struct fault_args {
  double fail_rate = 0;             ///< fraction of API requests answered fail_status
  int fail_status = 503;            ///< 5xx status of injected failures
  std::string latency = "0ms";      ///< delay before every API response
  std::vector<std::string> outages; ///< START+DURATION windows after process start
  std::string outage_mode = "503";  ///< during an outage: "503" or "drop"
  double drop_after_accept = 0;     ///< fraction of accepted requests never answered
  std::uint64_t seed = 1;           ///< of the random choices above
  /// Events (by metadata.event_id) the destination refuses permanently
  /// (eventhub: 400 for the send; receive: 422). Not used by hubspot, which
  /// has --poison PROPERTY=VALUE.
  std::vector<std::string> poison_event_ids;
};

} // namespace gavel::sim
