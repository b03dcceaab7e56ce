#pragma once

#include "protocols/event.hpp"
#include "protocols/expected.hpp"
#include "protocols/time.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The reconciliation pull API in pure code (DESIGN §1.8, docs/reconciliation.md,
/// ADR 0020): query parameters, the opaque keyset cursor, the auction digest,
/// and the values the outbox answers with.
namespace gavel::protocols {

// -- the auction digest ----------------------------------------------------------

/// One outbox event as the digest sees it.
struct digest_event {
  event_type type = event_type::bid_placed;
  std::int64_t bid_sequence = 0;
  std::string event_id;
};

/// The digest of an auction: SHA-256, lower-case hex, of the event_ids of its
/// `auction.opened`, `bid.placed` and `auction.closed` events in bid_sequence
/// order (the close last), joined by "\n"; heartbeats excluded. `events` may
/// come in any order and may hold heartbeats. The one definition: the API,
/// `gavel reconcile` and `sim verify` all call it.
struct auction_digest {
  std::int64_t events = 0; ///< events digested (heartbeats not counted)
  std::string sha256;      ///< lower-case hex
};
auction_digest digest_of(std::vector<digest_event> events);

/// SHA-256 of `ids` joined by "\n", lower-case hex (the digest's last step,
/// for callers that already hold the ids in digest order).
std::string digest_of_ids(const std::vector<std::string>& ids);

/// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

// -- query strings ---------------------------------------------------------------

/// The parameters of a query string (`a=1&b=x`), percent-decoded (`%XX`, `+`
/// a space), in order, repeats kept. Error code "bad_parameter" (field: the
/// parameter's name, or its raw text) on a malformed escape.
expected<std::vector<std::pair<std::string, std::string>>>
parse_query_string(std::string_view query);

// -- GET /v1/events ------------------------------------------------------------

/// The keyset position after the last event of a page. With an auction_id
/// filter pages run in (bid_sequence, xid, position) order, otherwise in
/// storage order (xid, position): xid is the writing transaction's id, which
/// is what makes the order safe against commits that become visible out of
/// position order (ADR 0020).
struct pull_cursor {
  std::int64_t auction_id = 0; ///< 0: storage order
  std::int64_t bid_sequence = 0;
  std::uint64_t xid = 0;
  std::int64_t position = 0;
  bool operator==(const pull_cursor&) const = default;
};

/// The opaque text form (URL-safe, no padding): `next` in answers, `after`
/// in requests.
std::string encode_cursor(const pull_cursor& c);
/// Error code "bad_parameter", field "after", when `text` is not a cursor.
expected<pull_cursor> decode_cursor(std::string_view text);

inline constexpr std::size_t pull_default_limit = 100;
inline constexpr std::size_t pull_max_limit = 1000;

/// GET /v1/events. Every filter is optional; they combine with AND.
struct pull_query {
  std::optional<std::int64_t> auction_id;
  std::optional<std::string> bidder_user_id;
  std::optional<event_type> type;
  std::optional<unix_ms> from, to;         ///< producer_timestamp, [from, to)
  std::optional<unix_ms> bid_from, bid_to; ///< bid_timestamp, [bid_from, bid_to)
  std::optional<pull_cursor> after;
  std::size_t limit = pull_default_limit;
};

/// Parses the parameters of GET /v1/events. Errors name the parameter in
/// `field`: code "unknown_parameter" (a name the API does not take: a typo
/// must not silently widen a reconciliation), "bad_parameter" (a value that
/// is not what the parameter takes, a repeated parameter, `limit` outside
/// 1..1000, an empty window `to` ≤ `from`, a cursor of another auction).
expected<pull_query>
parse_pull_query(const std::vector<std::pair<std::string, std::string>>& params);

/// A page: the stored envelope bytes, and the cursor to ask with next (none
/// when this page ended what is stored).
struct pull_page {
  std::vector<std::shared_ptr<const std::string>> envelopes;
  std::optional<pull_cursor> next;
};

// -- GET /v1/auctions ------------------------------------------------------------

/// One destination's view of one auction.
struct auction_delivery {
  std::string destination;
  /// Highest bid_sequence of this auction delivered with everything before
  /// it (0: none).
  std::int64_t delivered_through_sequence = 0;
  std::int64_t pending = 0;      ///< stored, of its event types, not yet delivered
  std::int64_t dead_letters = 0; ///< refused permanently (status dead)
};

/// A destination as an auction summary needs it: its name and the event
/// types it receives (pending counts only those).
struct delivery_scope {
  std::string name;
  std::vector<event_type> types;
};

/// GET /v1/auctions/<id> (and an item of GET /v1/auctions, without
/// destinations).
struct auction_summary {
  std::int64_t auction_id = 0;
  bool closed = false;
  std::optional<unix_ms> opened_at; ///< producer_timestamp of auction.opened
  std::optional<unix_ms> closed_at; ///< producer_timestamp of auction.closed
  std::optional<unix_ms> end_date;
  std::int64_t last_sequence = 0;
  std::int64_t total_bid_count = 0;
  std::int64_t heartbeats = 0;
  auction_digest digest;
  std::vector<auction_delivery> destinations;
};

/// The keyset position of an auction listing: (opened_at, auction_id).
struct auction_cursor {
  unix_ms opened_at = 0;
  std::int64_t auction_id = 0;
  bool operator==(const auction_cursor&) const = default;
};
std::string encode_cursor(const auction_cursor& c);
expected<auction_cursor> decode_auction_cursor(std::string_view text);

/// GET /v1/auctions: by opened_at, [from, to).
struct auction_query {
  std::optional<unix_ms> from, to;
  std::optional<bool> closed; ///< state=closed|open
  std::optional<auction_cursor> after;
  std::size_t limit = pull_default_limit;
};
/// Same errors as parse_pull_query.
expected<auction_query>
parse_auction_query(const std::vector<std::pair<std::string, std::string>>& params);

struct auction_page {
  std::vector<auction_summary> auctions;
  std::optional<auction_cursor> next;
};

} // namespace gavel::protocols
