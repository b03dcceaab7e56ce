#pragma once

#include "protocols/event.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

/// The outbox's records as the rest of Gavel sees them: what an auction
/// appends, what it restores, what destinations read, dead-letter and
/// record. Plain values: the PostgreSQL adapter stores them, the actors carry
/// them in messages, destination clients put them on the wire, and none of
/// those needs the others to name them.
namespace gavel::protocols {

/// One event to append to the outbox.
struct new_event {
  std::string event_id;
  std::int64_t auction_id = 0;
  event_type type = event_type::bid_placed;
  std::int64_t bid_sequence = 0;
  std::int64_t bid_id = 0; ///< 0 unless bid.placed
  std::string bidder_user_id;
  unix_ms producer_ms = 0;
  std::shared_ptr<const std::string> envelope;
  /// data.bid_timestamp of a bid.placed (the pull API filters on it).
  std::optional<unix_ms> bid_ms;
  /// Of an auction first seen from a backfill (auction_row::backfilled).
  bool backfill = false;
};

/// The durable per-auction state (what an auction actor restores).
struct auction_row {
  std::int64_t auction_id = 0;
  std::int64_t last_sequence = 0;
  std::int64_t total_bid_count = 0;
  std::int64_t heartbeat_count = 0;
  std::optional<unix_ms> end_date;
  bool closed = false;
  std::string current_price;
  /// First seen from a backfill (DESIGN §1.10): every event of it, later live
  /// ones included, is in the backfill lane; set when the auction is created
  /// and never changed.
  bool backfilled = false;
};

/// An auction_row plus its accepted bids (bid_id, bid_sequence), for dedup,
/// with the fingerprint of each bid's stored `data` (same order).
struct auction_snapshot {
  bool exists = false;
  auction_row row;
  std::vector<std::pair<std::int64_t, std::int64_t>> bids;
  std::vector<std::uint64_t> bid_prints;
};

/// An outbox row as destinations see it.
struct outbox_record {
  std::int64_t position = 0;
  std::int64_t auction_id = 0;
  event_type type = event_type::bid_placed;
  std::int64_t bid_sequence = 0;
  std::string event_id;
  std::shared_ptr<const std::string> envelope;
  unix_ms producer_ms = 0;
  unix_ms created_ms = 0; ///< when it was committed (lag, latency)
  /// In the backfill lane (new_event::backfill): delivered after live rows,
  /// skipped by a destination with `backfill = false`.
  bool backfill = false;
};

/// An event a destination could not deliver: `dead` (a permanent failure) or
/// `parked` (a later event of the same auction, held behind a dead one so the
/// auction's order holds). Keyed by (destination, position).
/// Why a dead letter is in the table: the event failed for good, or it is
/// held behind one of its auction that did.
enum class dead_letter_status : std::uint8_t { dead, parked };

constexpr std::string_view to_string(dead_letter_status s) noexcept {
  return s == dead_letter_status::dead ? "dead" : "parked";
}

struct dead_letter {
  std::string destination;
  std::int64_t position = 0;
  std::int64_t auction_id = 0;
  std::string event_id;
  event_type type = event_type::bid_placed;
  std::int64_t bid_sequence = 0;
  dead_letter_status status = dead_letter_status::dead;
  std::string reason;
  int attempts = 0;
  int http_status = 0;
  std::shared_ptr<const std::string> envelope; ///< the exact bytes
  unix_ms created_ms = 0;
};

/// One read of records made with the `pii` scope (DESIGN §1.9): who saw
/// unmasked bidder data, when, what they asked for and how much came back.
struct audit_record {
  std::int64_t id = 0; ///< assigned when stored; newer records have larger ids
  std::string token;   ///< the token's name, never its secret
  unix_ms at_ms = 0;   ///< when stored (the database's clock)
  std::string route;   ///< path, `/v1/dead-letters`
  std::string query;   ///< the query string as sent, without `?`
  std::int64_t records = 0;
};

/// A source's flag as an operator last set it (source_flags).
struct source_flag {
  std::string name;
  bool enabled = true;
  unix_ms changed_ms = 0; ///< the database's clock
  std::string changed_by; ///< the token's name
};

/// One auction's highest position a destination has delivered (or
/// dead-lettered): with per-auction order, every earlier one of that auction
/// is done too.
struct delivery_progress {
  std::string destination;
  std::int64_t auction_id = 0;
  std::int64_t position = 0;
};

/// Outbox facts for /v1/pipeline, /metrics and alerts.
struct outbox_facts {
  std::int64_t head_position = 0;
  /// Per position asked: commit time (Unix ms) of the first row after it; 0: none.
  std::vector<unix_ms> first_after_ms;
  /// Auctions (of those asked) whose stored sequence numbers are not
  /// exactly 1..last_sequence: (auction_id, last_sequence, rows counted).
  struct gap {
    std::int64_t auction_id = 0;
    std::int64_t last_sequence = 0;
    std::int64_t counted = 0;
  };
  std::vector<gap> gaps;
};

/// One outbox partition and what retention decides about it.
struct outbox_partition {
  std::string name;
  bool is_default = false;
  unix_ms from_ms = 0;           ///< range start; 0 for MINVALUE
  unix_ms to_ms = 0;             ///< range end (exclusive); 0 for the default
  std::int64_t rows = 0;         ///< estimate (planner statistics) or exact when small
  std::int64_t max_position = 0; ///< 0 when empty
  bool drop = false;             ///< retention removes it (the default: its old rows)
  std::string reason;            ///< why it stays, or what goes
};

} // namespace gavel::protocols
