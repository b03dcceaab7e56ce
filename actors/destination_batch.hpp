#pragma once

#include "adapters/destinations/client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

/// How a destination worker fills one request from its per-auction queues,
/// and what a request's verdicts mean for each auction in it. Plain code
/// (no CAF, no I/O), so tests/actors/destination_batch_test.cpp covers it
/// directly; the actor (actors/destination.cpp) owns the queues, the timers
/// and the store. See docs/adr/0013-hubspot-batching.md.
namespace gavel::actors {

/// One auction's share of a request: `records` records from the head of its
/// queue, in sequence order.
struct batch_part {
  std::int64_t auction = 0;
  std::size_t records = 0;
};

/// Builds one request under a client's batch_limits. The caller offers
/// auctions in its ready order and, for each, the records at the head of its
/// queue in order; the builder says where to stop:
///
///   request_builder b{limits, cap};
///   for (each ready auction a) {
///     if (!b.open(a, size_of(queue(a).front()))) break;
///     for (each record r of queue(a)) if (!b.add(size_of(r), key_of(r))) break;
///     b.close();
///   }
///
/// An auction's records go in a prefix, so per-auction order holds in the
/// request; the next request for that auction is the caller's business (it
/// sends one only after this one's verdict).
class request_builder {
public:
  /// `cap` (≥ 1) may be below limits.max_records: the worker halves it to
  /// isolate a record the server rejects with the whole request.
  request_builder(const adapters::batch_limits& limits, std::size_t cap);

  /// Whether auction `auction` may join the request, its first record
  /// weighing `first_size` bytes. The first auction always may; another one
  /// only when the kind mixes auctions, the request has room and the first
  /// record fits.
  bool open(std::int64_t auction, std::size_t first_size);
  /// Offers the open auction's next record. False: it (and everything behind
  /// it in that auction) waits for a later request — the request is full,
  /// the auction has its max_per_auction, the bytes would overflow, or its
  /// non-empty `key` is already in the request (HubSpot rejects a batch
  /// naming one record twice).
  bool add(std::size_t size, const std::string& key = {});
  /// Ends the open auction (adds its part when it took anything).
  void close();

  /// Whether nothing more can join (records or, for a kind that does not
  /// mix auctions, the one auction taken).
  bool full() const;
  std::size_t records() const noexcept { return records_; }
  std::size_t bytes() const noexcept { return bytes_; }
  const std::vector<batch_part>& parts() const noexcept { return parts_; }

private:
  adapters::batch_limits limits_;
  std::size_t cap_;
  std::size_t records_ = 0;
  std::size_t bytes_ = 0;
  std::vector<batch_part> parts_;
  std::optional<batch_part> current_;
  std::unordered_set<std::string> keys_;
};

/// What one request's answer means for one auction in it.
struct auction_verdict {
  std::int64_t auction = 0;
  /// Records at the head of its queue that were delivered, in order.
  std::size_t delivered = 0;
  /// The first record that was not: it stays at the head and follows the
  /// retry and dead-letter rules. Nullopt when all were delivered.
  std::optional<adapters::record_outcome> failed;
  /// Records behind the failed one in this request: sent again after it
  /// whatever the server said of them (an upsert is idempotent, and writing
  /// them again keeps them after it), never counted as delivered now.
  std::size_t resent = 0;
};

/// Splits a request's result (whole-request verdict, or one verdict per
/// record in request order) into one verdict per auction, in `parts` order.
/// A request rejected as a whole fails each auction at its first record.
std::vector<auction_verdict> split_verdicts(const std::vector<batch_part>& parts,
                                            const adapters::delivery_result& result);

} // namespace gavel::actors
