#pragma once

// What the destination emulators (`sim receive`, `sim eventhub`, `sim
// hubspot`) share: listening (plain or TLS), fault injection (error rate,
// latency, outage windows, responses dropped after accepting), the
// `/_sim/...` control endpoints and the buffered arrival log.

#include "adapters/http/http.hpp"
#include "sim/emulator_args.hpp"
#include "sim/emulator_rules.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gavel::sim {

/// Adds --poison-event-id (repeatable); `what` says what the emulator does
/// with such an event.
void add_poison_event_option(CLI::App& cmd, fault_args& args, std::string_view what);
/// Adds --listen, --tls-cert, --tls-key, --out, --threads.
void add_listen_options(CLI::App& cmd, listen_args& args);
/// Adds --fail-rate, --fail-status, --latency, --outage (repeatable),
/// --outage-mode, --drop-after-accept, --seed.
void add_fault_options(CLI::App& cmd, fault_args& args);

/// Runs one emulator: owns the I/O runtime, the server, the fault state and
/// the arrival log. The emulator's own logic plugs in as an API handler
/// (every request not under `/_sim/`) and a stats function.
class emulator_host {
public:
  emulator_host(std::string name, listen_args listen, fault_args faults);
  ~emulator_host();
  emulator_host(const emulator_host&) = delete;
  emulator_host& operator=(const emulator_host&) = delete;

  /// Validates the fault options; empty when fine, else the reason.
  std::string configure();

  using api_handler =
      std::function<void(adapters::http_request&&, adapters::http_responder)>;
  /// Handles a `/_sim/...` request the host does not know; false: not handled.
  using control_handler =
      std::function<bool(const adapters::http_request&, adapters::http_responder&)>;

  /// Listens, prints `listening on HOST:PORT` (`https://` prefixed hosts are
  /// not printed: the line is the same for both), serves until SIGTERM or
  /// SIGINT, flushes the log. Returns the exit code (2 on setup errors).
  int run(api_handler api, std::function<std::string()> stats_json,
          control_handler control = {}, std::size_t max_body_bytes = 8 * 1024 * 1024);

  // -- for the API handlers (any I/O thread) --

  /// Milliseconds since the host was created (the origin of --outage).
  std::int64_t elapsed_ms() const;
  /// Whether an outage (scheduled or started by POST /_sim/outage) is on.
  bool in_outage();
  /// Answers a request that arrived during an outage: `res` (a 503 in the
  /// service's shape) or, in drop mode, a closed connection. Counted.
  void outage_reply(adapters::http_responder respond, adapters::http_response res);
  /// Rolls --fail-rate; true: answer fail_status (counted).
  bool roll_failure();
  int fail_status();
  /// Rolls --drop-after-accept; true: the caller should reply with
  /// drop_connection after recording (counted).
  bool roll_drop();
  /// Whether the event id is poisoned (--poison-event-id, POST
  /// /_sim/poison?event_id=X; DELETE /_sim/poison clears).
  bool is_poison_event(std::string_view event_id);
  /// Sends `res` after --latency.
  void reply(adapters::http_responder respond, adapters::http_response res);
  /// Appends lines to the arrival log (in call order).
  void record(const std::string& lines);

  /// `"injected_failures":N,"outage_rejections":N,"dropped_after_accept":N,
  /// "outage_active":B` (no braces), for the emulators' stats.
  std::string fault_stats_json();

  const std::string& name() const { return name_; }

private:
  void handle(adapters::http_request&& req, adapters::http_responder respond);
  /// `POST
  /// /_sim/faults?fail_rate=&fail_status=&drop_after_accept=&latency=&outage_mode=`.
  adapters::http_response set_faults(std::string_view target);
  void flush();

  std::string name_;
  listen_args listen_;
  fault_args faults_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::milliseconds latency_{0};
  std::vector<outage_window> outages_;
  std::unique_ptr<adapters::io_runtime> io_;
  api_handler api_;
  std::function<std::string()> stats_;
  control_handler control_;
  std::FILE* out_ = nullptr;

  std::mutex log_mtx_;
  std::string buf_;
  std::string spare_;

  std::mutex fault_mtx_;
  std::mt19937_64 rng_;
  std::int64_t manual_outage_until_ =
      -1; ///< elapsed ms; -1: none, INT64_MAX: until DELETE
  std::int64_t scheduled_cleared_until_ = -1; ///< DELETE ended a scheduled window

  std::atomic<std::int64_t> injected_failures_{0};
  std::atomic<std::int64_t> outage_rejections_{0};
  std::atomic<std::int64_t> dropped_after_accept_{0};
};

/// A random-looking id for correlationId/TrackingId fields.
std::string make_tracking_id();

/// Options of `sim eventhub` (sim/eventhub.cpp).
struct eventhub_args {
  listen_args listen;
  fault_args faults;
  /// Expected host of the token's resource URI: a bare name means
  /// `<name>.servicebus.windows.net`, anything with a dot or colon is the host
  /// itself; empty: the request's Host header (what the client connected to).
  std::string namespace_name;
  std::string hub;
  std::string key_name;
  std::string key;
  std::uint32_t partitions = 4;
};
int run_eventhub(const eventhub_args& args);

/// Options of `sim hubspot` (sim/hubspot.cpp).
struct hubspot_args {
  listen_args listen;
  fault_args faults;
  std::string token;
  std::string rate_limit = "100/10s";
  std::string fail_ids_file;            ///< one input id per line: rejected records
  std::vector<std::string> poison;      ///< PROPERTY=VALUE: rejected records
  std::string conflict_mode = "record"; ///< record: 207 per record; batch: 409
};
int run_hubspot(const hubspot_args& args);

/// The subcommands `sim eventhub` and `sim hubspot` (sim/eventhub.cpp,
/// sim/hubspot.cpp): register them on the app, then run the chosen one.
struct emulator_commands;
std::shared_ptr<emulator_commands> add_emulator_commands(CLI::App& app);
/// The exit code of the chosen emulator, or nullopt when none was chosen.
std::optional<int> run_emulator_commands(const emulator_commands& cmds);

} // namespace gavel::sim
