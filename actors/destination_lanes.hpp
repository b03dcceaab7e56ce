#pragma once

#include "actors/destination_batch.hpp"

#include <deque>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gavel::actors {

/// A destination worker's per-auction queues as plain code (no CAF, no I/O):
/// which auctions are ready, how a request is filled from them, and what an
/// answer does to each auction's queue (delivered records leave it, a
/// transient failure backs the auction off, a permanent one parks it). At
/// most one request per auction is in flight, so per-auction order holds
/// across retries. The worker actor (actors/destination.cpp) turns what
/// these calls return into timers, store messages, counters and logs;
/// tests/actors/destination_lanes_test.cpp covers the rules directly.
class destination_lanes {
public:
  struct item {
    protocols::outbox_record rec;
    bool redriven = false; ///< came from the dead-letter table
  };
  struct lane {
    std::deque<item> queue;
    std::size_t in_flight = 0; ///< records at the queue's head in the request in flight
    unsigned attempts = 0;     ///< consecutive failures of the head
    std::uint64_t token = 0;   ///< guards retry timers
    bool waiting = false;      ///< backing off
    bool ready = false;        ///< listed in the ready line
    bool parked = false;       ///< a dead letter holds the auction
    bool redriving = false;    ///< its dead letters are being loaded
  };
  struct request {
    std::uint64_t id = 0;
    std::vector<protocols::outbox_record> batch;
    std::vector<batch_part> parts; ///< per auction, in request order
  };

  /// One auction's share of an answer, in request order.
  struct settled {
    std::int64_t auction = 0;
    std::vector<item> delivered; ///< left the queue, in order
    /// The head failed transiently: the auction waits for retry `token`
    /// (its `attempts` counts this failure).
    std::optional<adapters::record_outcome> backoff;
    unsigned attempts = 0;
    std::uint64_t token = 0;
    /// The head failed permanently: it is dead, and the auction is parked
    /// with everything that queued behind it (`behind`, in order).
    std::optional<adapters::record_outcome> dead;
    std::optional<item> dead_item;
    std::vector<item> behind;
  };

  /// Queues a record behind its auction's others. False when the auction is
  /// parked: the caller records it as a parked letter instead.
  bool push(protocols::outbox_record rec);

  /// Fills the next request from the ready auctions, in their order, each
  /// contributing a prefix of its queue. Nullopt when nothing could join.
  std::optional<request> next(const adapters::destination_client& client);
  /// Whether next() has something it may send now: a live auction, or a
  /// backfilled one while backfill's share of requests is not all in flight.
  bool has_ready() const noexcept {
    return !ready_.empty() || (!ready_backfill_.empty() && backfill_room());
  }
  std::size_t in_flight() const noexcept { return requests_.size(); }
  /// Requests carrying backfilled records that may be in flight at once:
  /// the rest of the worker's concurrency stays free for live auctions, so
  /// a live record never waits for a backfill request to come back
  /// (DESIGN §1.10). Unlimited unless set.
  void set_backfill_limit(std::size_t n) noexcept { backfill_limit_ = n; }
  std::size_t backfill_in_flight() const noexcept { return backfill_in_flight_; }

  struct answered {
    /// Rejected as a whole with several records: the batch size halves until
    /// the rejected record travels alone (nothing is dead yet).
    bool batch_rejected = false;
    std::size_t records = 0;       ///< in the request
    std::vector<settled> auctions; ///< in request order
  };
  /// Applies the answer to request `id`; nullopt for an unknown (stale) id.
  std::optional<answered> answer(std::uint64_t id, const adapters::delivery_result& r,
                                 std::size_t max_records);
  /// The current request size cap (below the kind's maximum after a
  /// batch-wide rejection, doubling back on success).
  std::size_t batch_cap() const noexcept { return batch_cap_; }

  /// A backoff is over (if `token` is still the auction's current one).
  bool retry_due(std::int64_t auction, std::uint64_t token);

  /// Auctions that may be redriven now (parked and not loading), or only
  /// `auction` when non-zero; each is marked as redriving.
  std::vector<std::int64_t> start_redrive(std::int64_t auction);
  /// A redrive's dead letters arrived: they go first, then what queued
  /// meanwhile; the auction is unparked.
  void redriven(std::int64_t auction, std::vector<protocols::outbox_record> letters);
  /// A redrive failed: the auction stays parked; what queued meanwhile is
  /// returned, to be recorded as parked letters.
  std::vector<item> redrive_failed(std::int64_t auction);
  /// Marks an auction parked (at start-up, from the dead-letter table).
  void park(std::int64_t auction) { lanes_[auction].parked = true; }

  std::size_t parked() const;
  bool retrying() const;

private:
  void make_ready(std::int64_t auction, lane& l);

  std::unordered_map<std::int64_t, lane> lanes_;
  /// The ready line of a lane: backfilled auctions wait in a line of their
  /// own, served only when no live auction is ready (DESIGN §1.10).
  std::deque<std::int64_t>& line_of(const lane& l);

  std::deque<std::int64_t> ready_; ///< live auctions with something to send, FIFO
  std::deque<std::int64_t> ready_backfill_; ///< backfilled ones, FIFO
  bool backfill_room() const noexcept { return backfill_in_flight_ < backfill_limit_; }

  struct sent {
    std::vector<batch_part> parts;
    std::size_t records = 0;
    bool backfill = false; ///< carries backfilled records
  };
  std::size_t backfill_limit_ = static_cast<std::size_t>(-1);
  std::size_t backfill_in_flight_ = 0;
  std::map<std::uint64_t, sent> requests_;
  std::uint64_t next_request_ = 0;
  std::size_t batch_cap_ = 0; ///< halves on a batch-wide rejection
};

} // namespace gavel::actors
