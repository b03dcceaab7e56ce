#pragma once

#include "protocols/expected.hpp"
#include "protocols/json.hpp"
#include "protocols/time.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gavel::protocols {

enum class event_type : std::uint8_t {
  auction_opened,
  bid_placed,
  auction_closed,
  producer_heartbeat,
};

/// Every event type's name, indexed by `event_type`: the one list (the
/// configuration's `event_types` checks against it and defaults to it).
inline constexpr std::array<std::string_view, 4> event_type_names{
    "auction.opened",
    "bid.placed",
    "auction.closed",
    "producer.heartbeat",
};

/// `auction.opened`, `bid.placed`, `auction.closed`, `producer.heartbeat`.
std::string_view to_string(event_type t) noexcept;
std::optional<event_type> parse_event_type(std::string_view s) noexcept;

inline constexpr std::string_view schema_version = "1.0";

/// An event accepted by validation, before Gavel sequences it.
struct ingest_event {
  event_type type = event_type::bid_placed;
  std::int64_t auction_id = 0;
  std::int64_t bid_id = 0; ///< bid.placed only
  /// The `data` object exactly as received (numbers keep their text).
  json::value data;
  /// `data.end_date` when present and parseable.
  std::optional<unix_ms> end_date;
  /// `data.bid_timestamp` of a bid.placed (the pull API's bid_from/bid_to).
  std::optional<unix_ms> bid_timestamp;
  /// `data.current_price`, else `data.bid_amount` (bids), exact text; may be empty.
  std::string price;
  /// `data.bidder_user_id` as text (number or string), empty when absent.
  std::string bidder_user_id;
  /// Sent by a backfill (DESIGN §1.10): an auction it creates is backfilled.
  bool backfill = false;

  /// The deterministic id (see event_id_for).
  std::string event_id() const;
};

/// Limits applied to a request body.
struct validation_limits {
  std::size_t max_batch = 1000;
  std::size_t max_depth = 32;
};

/// Validates one event object `{"event_type": ..., "data": {...}}`.
/// Errors (code "schema", field is the dotted path):
/// - event_type missing, not a string, unknown, or `producer.heartbeat`
///   (heartbeats are Gavel's own, never ingested);
/// - data missing or not an object;
/// - data.auction_id missing or not a positive integer (every type);
/// - bid.placed: data.bid_id missing or not a positive integer; data.bid_amount
///   missing or not a non-negative decimal (JSON number or decimal string);
///   data.bid_timestamp missing or not a timestamp;
/// - data.end_date, data.start_date present but not a timestamp;
///   a timestamp is strict RFC 3339 (parse_timestamp): `T`, seconds, a zone;
/// - any money field (starting_price, current_price, bid_amount,
///   proxy_bid_low_end, proxy_bid_high_end) present but not a decimal.
expected<ingest_event> validate_event(const json::value& event);

/// A parsed request body: one event, or a batch whose items validate one by
/// one (a bad item does not fail the others).
struct ingest_body {
  bool is_batch = false;
  std::vector<expected<ingest_event>> items;
};

/// Parses and validates a request body. Whole-body errors: code "malformed"
/// (not JSON, or not an object/array), "too_deep", "duplicate_key" (an object
/// repeats a key, at any depth; field is its path), "batch_too_large"
/// (more than max_batch items), "empty_batch".
expected<ingest_body> parse_ingest_body(std::string_view body,
                                        validation_limits limits = {});

/// Whether `text` is a plain non-negative decimal: digits with an optional
/// fraction, no exponent, no sign (`875.10`, `0`, `12.5`).
bool is_decimal(std::string_view text) noexcept;

/// Deterministic event ids (docs/envelope.md).
std::string bid_event_id(std::int64_t bid_id);
std::string opened_event_id(std::int64_t auction_id);
std::string closed_event_id(std::int64_t auction_id);
std::string heartbeat_event_id(std::int64_t auction_id, std::int64_t n);

/// The metadata half of an envelope.
struct envelope_metadata {
  std::string event_id;
  event_type type = event_type::bid_placed;
  unix_ms producer_timestamp = 0;
  std::int64_t bid_sequence = 0;
};

/// Serialises `{"metadata": {...}, "data": {...}}` once; these bytes are what
/// every destination receives on every delivery and replay.
std::string make_envelope(const envelope_metadata& meta, const json::value& data);

/// Builds the `data` of a synthesised `auction.opened` from the first event
/// of an auction that arrived before its open: auction_id and the auction's
/// own fields when the event carries them (product_name, sku, auction_type,
/// starting_price, start_date, end_date), plus `"implicit": true`.
json::value synthesized_open_data(const ingest_event& first);

/// `data` of `producer.heartbeat`.
json::value heartbeat_data(std::int64_t auction_id, std::optional<unix_ms> end_date,
                           std::int64_t total_bid_count, std::int64_t interval_seconds);

} // namespace gavel::protocols
