#pragma once

#include "protocols/expected.hpp"
#include "protocols/pull.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// `gavel reconcile` in pure code: a warehouse export read, and one auction
/// compared with the outbox (docs/reconciliation.md).
namespace gavel::protocols {

/// One row of a warehouse export.
struct export_row {
  std::string event_id;
  std::int64_t auction_id = 0;
  std::int64_t bid_sequence = 0;
  std::size_t line = 0; ///< 1-based line of the file
};

/// Reads an export: JSON lines (one object per line with event_id,
/// auction_id, bid_sequence; numbers or decimal strings; other members
/// ignored) or CSV with a header row naming at least those three columns
/// (RFC 4180 quoting). The form is told by the first non-blank character
/// (`{`: JSON lines). Blank lines are skipped. Error code "export", the
/// message naming the line, on anything else: a file that cannot be read
/// in full is not compared at all.
expected<std::vector<export_row>> parse_export(std::string_view text);

/// Whether an event_id is a heartbeat's (`producer.heartbeat-...`):
/// heartbeats are liveness signals and left out of reconciliation, as out of
/// the digest.
bool is_heartbeat_id(std::string_view event_id) noexcept;

/// What differs for one auction. Heartbeats are not compared.
struct auction_difference {
  std::int64_t auction_id = 0;
  std::vector<digest_event> missing; ///< in the outbox, not in the export
  std::vector<export_row> extra;     ///< in the export, not in the outbox
  std::vector<export_row> duplicate; ///< an event_id the export holds again
  /// In both, at another bid_sequence: (export row, the outbox's sequence).
  std::vector<std::pair<export_row, std::int64_t>> out_of_order;
  auction_digest outbox_digest, export_digest;

  bool equal() const noexcept {
    return missing.empty() && extra.empty() && duplicate.empty() &&
           out_of_order.empty() && outbox_digest.sha256 == export_digest.sha256;
  }
};

/// Compares one auction's outbox events (any order, heartbeats allowed) with
/// its export rows (file order). The export's digest orders its rows by
/// their bid_sequence, the close (`auction.closed-...`) last.
auction_difference compare_auction(std::int64_t auction_id,
                                   const std::vector<digest_event>& outbox,
                                   const std::vector<export_row>& exported);

/// The lines `gavel reconcile` prints for one auction's differences, each
/// naming the event ("auction 7: missing bid.placed-88 (bid_sequence 9)").
std::vector<std::string> describe(const auction_difference& d);

} // namespace gavel::protocols
