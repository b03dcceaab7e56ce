#pragma once

// The sim subcommands: their options (filled from the command line by
// main.cpp) and entry points. Each returns the process exit code.

#include <cstdint>
#include <string>

namespace gavel::sim {

struct receive_args {
  std::string listen = "127.0.0.1:9000";
  std::string secret;
  std::string out = "arrivals.jsonl";
  double fail_rate = 0.0;
  unsigned latency_ms = 0;
  std::uint64_t seed = 1;
  unsigned threads = 1;
};
int run_receive(const receive_args& args);

struct burst_args {
  std::string target = "http://127.0.0.1:8080";
  std::string token;
  std::size_t auctions = 100;
  std::size_t events = 20000;
  std::size_t connections = 16;
  std::string acks = "acks.jsonl";
  std::uint64_t seed = 1;
  std::size_t batch = 1;
  double duplicates = 0.02;
  double implicit_open = 0.05;
  std::string retry_for = "120s";
  double rate = 0;
  std::string close_window = "60s";
  std::int64_t first_auction_id = 1;
  std::string start_time; ///< ISO-8601 Z; empty: now (whole seconds)
  std::string report;     ///< optional JSON summary file
  std::string request_timeout = "10s";
  unsigned threads = 1;
  bool quiet = false;
};
int run_burst(const burst_args& args);

struct verify_args {
  std::string acks;
  std::string arrivals;
  std::string report;
  bool expect_closed = false;
};
int run_verify(const verify_args& args);

} // namespace gavel::sim
