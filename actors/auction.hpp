#pragma once

#include "actors/board.hpp"
#include "actors/interfaces.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>

namespace gavel::actors {

/// Wall-clock time for envelopes and heartbeat planning (tests derive it from
/// the simulated clock).
using wall_clock = std::function<protocols::unix_ms()>;

struct auction_settings {
  std::chrono::milliseconds heartbeat_interval{60000};
  std::chrono::milliseconds final_heartbeat_interval{5000};
  std::chrono::milliseconds final_window{300000};
  std::chrono::milliseconds idle_timeout{300000};
  std::chrono::milliseconds store_timeout{30000}; ///< for state loads
  std::size_t max_batch = 1000;                   ///< events per persist request
};

/// What every auction actor shares.
struct auction_deps {
  store_actor store;
  reader_actor reader;
  registry_actor registry; ///< may be null (tests): then never passivated
  /// The registry incarnation (the store fences older ones off).
  std::uint64_t epoch = 0;
  auction_settings settings;
  wall_clock clock;
  /// Where the auctions publish their state for the operations API (may be null).
  std::shared_ptr<auction_board> board;
};

/// When the heartbeat after one at `last` is due: every heartbeat_interval,
/// one exactly at the start of the final window (end − final_window), then
/// every final_heartbeat_interval until end + final_window, then every
/// heartbeat_interval again (an auction left open past its end).
protocols::unix_ms next_heartbeat(protocols::unix_ms last,
                                  std::optional<protocols::unix_ms> end,
                                  const auction_settings& s);

/// The cadence in force at `now` (reported in heartbeat data), in seconds.
std::int64_t heartbeat_cadence_seconds(protocols::unix_ms now,
                                       std::optional<protocols::unix_ms> end,
                                       const auction_settings& s);

/// The auction actor's own timers (a generation guards against stale ones)
/// and its retry of loading the durable state.
using auction_impl_actor = auction_actor::extend<
    /// A heartbeat timer fired.
    caf::reacts_to<atom::heartbeat, std::uint64_t>,
    /// The idle timer fired.
    caf::reacts_to<atom::idle_due, std::uint64_t>,
    /// Retry loading the durable state (after the database was unreachable).
    caf::reacts_to<atom::load>>;

struct auction_state {
  struct pending {
    protocols::ingest_event ev;
    caf::typed_response_promise<ingest_result> rp;
    bool is_heartbeat = false;
  };

  std::int64_t id = 0;
  std::shared_ptr<const auction_deps> deps;
  // Durable state (as committed).
  bool exists = false;
  protocols::auction_row row;
  std::unordered_map<std::int64_t, std::int64_t> bids; ///< bid_id → bid_sequence
  /// bid_id → fingerprint of its stored data (protocols/fingerprint.hpp).
  std::unordered_map<std::int64_t, std::uint64_t> bid_prints;
  // Runtime.
  bool loaded = false;
  bool loading = false;
  bool in_flight = false;
  std::deque<pending> queue;
  /// The answer to one event of the persist request in flight.
  struct outcome {
    caf::typed_response_promise<ingest_result> rp;
    ingest_result result;
    bool has_promise = false;
    /// Decided from state this batch creates: only true once it commits.
    bool depends_on_batch = false;
    /// The event itself, to be sequenced again if the store refuses the
    /// request for another event's sake (persist_reply::taken).
    std::optional<protocols::ingest_event> ev;
  };
  /// Answers of the persist request in flight (answered with 503 if the actor
  /// is stopped before the store replies).
  std::shared_ptr<std::vector<outcome>> in_flight_outcomes;
  std::uint64_t heartbeat_generation = 0;
  std::uint64_t idle_generation = 0;
  protocols::unix_ms heartbeat_base = 0; ///< time of the last heartbeat (or open)
  bool heartbeat_armed = false;
  std::uint64_t received = 0; ///< ingest messages received (for passivation)

  static inline const char* name = "gavel.auction";
};

/// The AUCTION actor: every per-auction guarantee lives here.
auction_impl_actor::behavior_type
auction(auction_impl_actor::stateful_pointer<auction_state> self, std::int64_t id,
        std::shared_ptr<const auction_deps> deps);

struct registry_state {
  struct entry {
    auction_actor handle;
    std::uint64_t forwarded = 0;
  };
  /// Shared with a cleanup functor (the state is gone when it runs): the
  /// auctions go down with the registry.
  std::shared_ptr<std::unordered_map<std::int64_t, entry>> auctions =
      std::make_shared<std::unordered_map<std::int64_t, entry>>();
  std::shared_ptr<const auction_deps> deps;
  static inline const char* name = "gavel.registry";
};

/// The REGISTRY actor: spawns auction actors on first event (and, at start,
/// for every auction still open, so their heartbeats resume), routes events,
/// and agrees to passivation only when nothing is in the auction's mailbox.
registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, auction_deps deps);

} // namespace gavel::actors
