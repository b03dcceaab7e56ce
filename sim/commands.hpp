#pragma once

// The sim subcommands: their options (filled from the command line by
// main.cpp) and entry points. Each returns the process exit code.

#include "sim/emulator_args.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gavel::sim {

struct send_options;

/// `sim receive`: a Standard Webhooks receiver with the emulators' listening
/// and fault options (sim/emulator.hpp), plus its own.
struct receive_args {
  listen_args listen = [] {
    listen_args l;
    l.listen = "127.0.0.1:9000";
    return l;
  }();
  fault_args faults;
  std::string secret;
  unsigned latency_ms = 0; ///< older spelling of --latency, used when that is 0
  /// Outages apply only to events of these auctions (empty: to every request).
  std::vector<std::int64_t> outage_auctions;
};
int run_receive(const receive_args& args);
/// Adds every option of `sim receive`.
void add_receive_options(CLI::App& cmd, receive_args& args);

/// What `sim burst` and `sim replay` both tell the sender (send_workload).
struct send_args {
  std::string target = "http://127.0.0.1:8080";
  std::string token;
  std::size_t connections = 16;
  std::size_t max_connections = 0; ///< open loop: pool cap; 0: 4 × connections
  std::size_t batch = 1;
  std::string acks = "acks.jsonl";
  std::string report; ///< optional JSON summary file
  std::string retry_for = "120s";
  std::string request_timeout = "10s";
  unsigned threads = 1;
  bool quiet = false;
  std::vector<std::string> receiver_stats;
  std::string ca_file;     ///< extra CA bundle for an https target and stats URLs
  std::string client_cert; ///< mTLS: certificate presented to the target
  std::string client_key;
};
/// `sim history`: a history file for `gavel backfill` (sim/history.cpp).
struct history_args {
  std::string out;
  unsigned months = 12;
  std::size_t events = 50'000;
  std::size_t auctions = 500;
  std::string until; ///< ISO-8601; empty: now
  std::int64_t first_auction_id = 1'000'000;
  std::uint64_t seed = 1;
  std::int64_t bidders = 50'000;
};
void add_history_options(CLI::App& cmd, history_args& args);
int run_history(const history_args& args);

/// Adds --ca-file, --client-cert and --client-key of `sim burst`/`replay`.
void add_tls_options(CLI::App& cmd, send_args& args);
/// The sender's options from `args`, labelled `label`; false (after saying
/// so on stderr) on a bad duration.
bool read_send_args(const send_args& args, const std::string& label, send_options& out);

struct burst_args : send_args {
  std::size_t auctions = 100;
  std::size_t events = 20000;
  std::uint64_t seed = 1;
  double duplicates = 0.02;
  double implicit_open = 0.05;
  double rate = 0;
  std::string close_window = "60s";
  std::int64_t first_auction_id = 1;
  std::string start_time; ///< ISO-8601 Z; empty: now (whole seconds)
  // Realism and pacing (sim/README.md, `sim burst`).
  std::string bid_window = "2m";
  double proxy = 0.15;
  std::string snipe_window = "15s";
  std::string snipe_extend = "30s";
  std::string close_delay = "2s";
  double close_fraction = 1.0;
  std::int64_t bidders = 50'000;
  double time_scale = 0;
  std::string record; ///< write the workload as a bid log here
  bool dry_run = false;
};
int run_burst(const burst_args& args);

struct replay_args : send_args {
  std::string file;
  double speed = 1.0; ///< 1: original pace; 0: as fast as acknowledged
};
int run_replay(const replay_args& args);

struct verify_args {
  std::string acks;
  /// One arrival log per destination; `NAME=FILE` names it (default: the
  /// file's stem).
  std::vector<std::string> arrivals;
  std::string report;
  bool expect_closed = false;
  std::string bucket = "1s"; ///< time-series bucket width ("0s": no series)
  /// Gavel's base URL and a token: each closed auction's digest from
  /// GET /v1/auctions/<id> must equal the one computed from the arrivals.
  std::string gavel;
  std::string token;
};
int run_verify(const verify_args& args);

} // namespace gavel::sim
