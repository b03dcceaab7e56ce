#pragma once

// The deterministic auction-close workload of `sim burst`: per auction a
// script of pre-serialised ingest bodies (DESIGN §1.2) in the order they are
// to be sent.

#include <cstdint>
#include <string>
#include <vector>

namespace gavel::sim {

enum class event_kind : std::uint8_t { opened, bid, closed };

const char* event_type_name(event_kind k);

struct script_event {
  event_kind kind = event_kind::bid;
  std::string event_id; ///< DESIGN §1.1 rule, what Gavel should answer with
  std::string body;     ///< `{"event_type":...,"data":{...}}`, serialised once
  /// For a resend: index (in the same script) of the event it repeats; -1 otherwise.
  std::int32_t resend_of = -1;
};

struct auction_script {
  std::int64_t auction_id = 0;
  bool implicit_open = false; ///< `auction.opened` comes after the first bid
  std::size_t bids = 0;       ///< distinct bids
  std::vector<script_event> events;
};

struct workload_options {
  std::size_t auctions = 100;
  std::size_t events = 20000; ///< total requests-worth of events, roughly
  std::uint64_t seed = 1;
  double duplicates = 0.02;    ///< fraction of bids sent a second time
  double implicit_open = 0.05; ///< fraction of auctions opened by their first bid
  std::int64_t close_window_ms = 60'000;
  std::int64_t first_auction_id = 1;
  std::int64_t start_ms = 0; ///< "now" of the scenario (unix ms)
};

/// Same options, same bytes.
std::vector<auction_script> generate_workload(const workload_options& opts);

} // namespace gavel::sim
