#pragma once

// The deterministic auction-close workload of `sim burst` (and the scripts
// `sim replay` builds from a recorded log): per auction a script of
// pre-serialised ingest bodies (docs/ingest.md) in the order they are to be
// sent, each with the scenario time at which the platform would send it.
// Also the sender both subcommands share (sim/burst_send.cpp).

#include <cstdint>
#include <string>
#include <vector>

namespace gavel::sim {

enum class event_kind : std::uint8_t { opened, bid, closed };

const char* event_type_name(event_kind k);

struct script_event {
  event_kind kind = event_kind::bid;
  std::string event_id; ///< docs/envelope.md rule, what Gavel should answer with
  std::string body;     ///< `{"event_type":...,"data":{...}}`, serialised once
  /// For a resend: index (in the same script) of the event it repeats; -1 otherwise.
  std::int32_t resend_of = -1;
  /// Scenario time (unix ms) at which the platform sends it; non-decreasing
  /// along a script. Open-loop schedules are derived from it.
  std::int64_t t_ms = 0;
};

struct auction_script {
  std::int64_t auction_id = 0;
  bool implicit_open = false;    ///< `auction.opened` comes after the first bid
  std::size_t bids = 0;          ///< distinct bids
  std::int64_t end_ms = 0;       ///< scheduled end as opened
  std::int64_t final_end_ms = 0; ///< after anti-sniping extensions
  std::size_t extensions = 0;    ///< anti-sniping extensions (bids that moved end_date)
  std::size_t proxy_bids = 0;    ///< automatic counter-bids (proxy bursts)
  bool closed = false;           ///< the script ends with `auction.closed`
  std::vector<script_event> events;
};

struct workload_options {
  std::size_t auctions = 100;
  std::size_t events = 20000; ///< total requests-worth of events, roughly
  std::uint64_t seed = 1;
  double duplicates = 0.02;    ///< fraction of bids sent a second time
  double implicit_open = 0.05; ///< fraction of auctions opened by their first bid
  std::int64_t close_window_ms = 60'000; ///< scheduled ends spread over this window
  std::int64_t first_auction_id = 1;
  std::int64_t start_ms = 0; ///< "now" of the scenario (unix ms)
  /// Bids fall in the last this-long before an auction's scheduled end, the
  /// time left being bid_window·u³ (u uniform): the rate climbs steeply,
  /// about a third of the bids land in the final 10 s of a 5-minute window.
  /// The close window starts after it (ends lie in
  /// [start + bid_window, start + bid_window + close_window]).
  std::int64_t bid_window_ms = 120'000;
  /// Probability that a bid meets a proxy (automatic) bidder: it is followed
  /// at once (1–3 ms apart) by 1..proxy_burst_max automatic counter-bids
  /// alternating between the two bidders.
  double proxy = 0.15;
  std::size_t proxy_burst_max = 4;
  /// Anti-sniping: a bid within the final snipe_window of the current end
  /// moves the end by snipe_extend (the bid and all later events carry the
  /// new `end_date`, which is how docs/ingest.md hands Gavel an end-date
  /// change). Half the auctions with 4+ bids also see a sniping war of
  /// extra rounds. 0 disables.
  std::int64_t snipe_window_ms = 15'000;
  std::int64_t snipe_extend_ms = 30'000;
  /// The platform closes an auction up to this long after its final end.
  std::int64_t close_delay_ms = 2'000;
  double close_fraction = 1.0;   ///< auctions that get `auction.closed` in the run
  std::int64_t bidders = 50'000; ///< bidder population
};

/// Same options, same bytes.
std::vector<auction_script> generate_workload(const workload_options& opts);

/// Writes the workload as a bid log (`sim replay`'s input, sim/README.md):
/// one line per event in send-time order, `{"t_ms":<unix ms>,"event":<body>}`.
/// Returns false when the file cannot be written.
bool write_bid_log(const std::vector<auction_script>& scripts, const std::string& path);

/// How the sender paces requests and where it sends them.
struct send_options {
  std::string target = "http://127.0.0.1:8080";
  std::string token;
  /// Closed loop: one connection per worker. Open loop: the pool's initial
  /// size.
  std::size_t connections = 16;
  /// Open loop: the pool grows up to this many connections when every one
  /// is busy at an event's due time; 0: 4 × connections.
  std::size_t max_connections = 0;
  std::size_t batch = 1;
  std::int64_t retry_for_ms = 120'000;
  std::int64_t request_timeout_ms = 10'000;
  /// Open loop at a constant rate (events/s): the events take consecutive
  /// slots in send-time order. 0: not this mode.
  double rate = 0;
  /// Open loop following the workload's own time profile: an event is due
  /// (t_ms − first t_ms) / time_scale after the start. 0: not this mode.
  /// Neither rate nor time_scale: closed loop.
  double time_scale = 0;
  unsigned threads = 1;
  bool quiet = false;
  std::string acks = "acks.jsonl";
  std::string report; ///< JSON summary; empty: none
  /// `GET` URLs of receivers' stats (`{"arrivals":N,...}`), polled for the
  /// progress line.
  std::vector<std::string> receiver_stats;
  /// https: extra CA bundle (the target and the stats URLs) and the client
  /// certificate presented to the target (mTLS); empty: none.
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  std::string label = "sim burst"; ///< prefix of messages
  std::uint64_t seed = 1;          ///< retry jitter
  std::string workload_text;       ///< one line describing the workload, for the summary
};

/// Sends the scripts and logs every definitive answer (sim/README.md, "Sending").
/// Returns the process exit code.
int send_workload(const std::vector<auction_script>& scripts, const send_options& opts);

} // namespace gavel::sim
