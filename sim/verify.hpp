#pragma once

// The pure verification logic behind `sim verify`: what the producer was told
// (acks) against what a destination received (arrivals). No I/O here, so it
// can be unit-tested over in-memory records.

#include "sim/common.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gavel::sim {

/// One line of the `sim burst --acks` log.
struct ack_record {
  std::string event_id;
  std::string event_type;
  std::int64_t auction_id = 0;
  std::string status; ///< accepted | duplicate | rejected | failed
  int http = 0;
  std::optional<std::int64_t> bid_sequence;
  double t_sent_ms = 0;
  double t_ack_ms = 0;
  /// When the request actually went out first (absent in older logs); in
  /// open loop t_sent_ms is the scheduled time, which may be earlier.
  std::optional<double> t_first_send_ms;
};

/// One line of the `sim receive --out` log.
struct arrival_record {
  double t_ms = 0;
  std::string event_id;
  std::string event_type;
  std::int64_t auction_id = 0;
  std::optional<std::int64_t> bid_sequence;
  std::optional<std::int64_t> total_bid_count;
  std::string sha256;
  bool sig_ok = true;
  std::string webhook_id;
  bool malformed = false; ///< the body was not a parsable envelope
};

/// Parse one JSONL line; nullopt when it is not a valid record.
std::optional<ack_record> parse_ack_line(std::string_view line);
std::optional<arrival_record> parse_arrival_line(std::string_view line);

struct verify_options {
  bool expect_closed = false;    ///< every acked auction must have its close delivered
  std::size_t max_examples = 20; ///< problems described in `examples`
  /// Width of the time-series buckets (`series`); 0: no series.
  double bucket_ms = 1000;
  /// Origin of the series (unix ms); 0: the earliest `t_sent_ms` of the acks.
  double t0_ms = 0;
};

/// One bucket of the time series: what happened in [t_s, t_s + bucket).
struct series_point {
  double t_s = 0;                  ///< bucket start, seconds after the origin
  std::size_t acked = 0;           ///< acks (accepted|duplicate) answered in the bucket
  std::size_t delivered = 0;       ///< first deliveries arriving in the bucket
  double ack_p50 = 0, ack_p99 = 0; ///< of the acks answered in the bucket
  double delivery_p50 = 0, delivery_p99 = 0; ///< of the deliveries arriving in it
};

struct verify_report {
  std::size_t acked = 0;             ///< distinct event_ids acked accepted|duplicate
  std::size_t acked_accepted = 0;    ///< ack lines with status accepted
  std::size_t acked_duplicate = 0;   ///< ack lines with status duplicate
  std::size_t rejected = 0;          ///< ack lines with status rejected
  std::size_t failed = 0;            ///< ack lines with status failed
  std::size_t arrivals = 0;          ///< arrival lines with a good signature
  std::size_t delivered_unique = 0;  ///< distinct event_ids delivered
  std::size_t redeliveries = 0;      ///< repeated deliveries with identical bytes
  std::size_t unacked_delivered = 0; ///< delivered ids never acked (heartbeats, ...)
  std::size_t heartbeats = 0;        ///< distinct heartbeats delivered
  std::size_t lost = 0;
  std::size_t out_of_order = 0;
  std::size_t gaps = 0;
  std::size_t dup_mismatch = 0;
  std::size_t close_mismatch = 0;
  std::size_t missing_close = 0; ///< with expect_closed; also counted in close_mismatch
  std::size_t bad_signature = 0;
  std::size_t malformed = 0;           ///< unparsable envelopes or missing bid_sequence
  std::size_t ack_seq_mismatch = 0;    ///< acked bid_sequence != delivered bid_sequence
  std::size_t webhook_id_mismatch = 0; ///< webhook-id header != metadata.event_id
  std::size_t auctions = 0;            ///< distinct auctions in acks or arrivals
  std::size_t auctions_closed = 0;     ///< auctions whose close was delivered
  percentiles latency_ack_ms;
  percentiles latency_delivery_ms;
  /// Producer to destination: first arrival − the accepted ack's t_sent_ms
  /// (the scheduled send time in open loop).
  percentiles latency_end_to_end_ms;
  /// Gavel's own answer time: t_ack − t_first_send (no client queueing).
  percentiles latency_service_ms;
  double first_sent_ms = 0;    ///< earliest t_sent_ms of an ack (unix ms)
  double last_delivery_ms = 0; ///< latest first-delivery arrival (unix ms)
  double delivered_per_s = 0;  ///< delivered_unique / (last_delivery − first_sent)
  std::vector<series_point> series;
  std::vector<std::string> examples; ///< first problems, for people

  /// lost, out_of_order, gaps, dup_mismatch, close_mismatch, bad_signature,
  /// malformed, ack_seq_mismatch and webhook_id_mismatch are all zero.
  bool ok() const noexcept;
};

verify_report verify(const std::vector<ack_record>& acks,
                     const std::vector<arrival_record>& arrivals,
                     const verify_options& opts = {});

/// The report as a JSON object (one line) and as text for people.
std::string report_json(const verify_report& r);
std::string report_text(const verify_report& r);

} // namespace gavel::sim
