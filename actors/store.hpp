#pragma once

#include "actors/interfaces.hpp"
#include "adapters/postgres/store.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

namespace gavel::actors {

/// The database's storage as the store's commits last found it: refusing
/// writes (disk full, read-only) or not. Written by the store, read by
/// /readyz, /v1/pipeline, /metrics and the alerts on other threads; a
/// failing storage is not an outage of the server (it answers, reads work),
/// and people must free space rather than wait, so it is told apart.
class storage_condition {
public:
  struct view {
    bool failing = false;
    std::string reason;              ///< the last failed commit's error
    protocols::unix_ms since_ms = 0; ///< first failure of this episode
    std::uint64_t failures = 0;      ///< commits refused, cumulative
  };
  /// An episode ends only once commits have gone through for this long with
  /// none refused: near a full disk a small commit that needs no new page
  /// still fits while most fail, and a condition that flipped with each
  /// would make /readyz and the alert flap.
  static constexpr protocols::unix_ms settle_ms = 5000;

  void fail(std::string reason, protocols::unix_ms now) {
    std::lock_guard lock{mutex_};
    if (!v_.failing)
      v_.since_ms = now;
    v_.failing = true;
    v_.reason = std::move(reason);
    ++v_.failures;
    last_failure_ms_ = now;
  }
  /// A commit went through; true when this ends an episode.
  bool clear(protocols::unix_ms now) {
    std::lock_guard lock{mutex_};
    last_success_ms_ = now;
    if (!ended(now))
      return false;
    v_.failing = false;
    return true;
  }
  /// The condition at `now`: an episode whose settle time has passed since
  /// a commit went through reads as ended, even before the next commit.
  view get(protocols::unix_ms now) const {
    std::lock_guard lock{mutex_};
    auto v = v_;
    if (ended(now))
      v.failing = false;
    return v;
  }

private:
  /// The settle rule; the caller holds the mutex.
  bool ended(protocols::unix_ms now) const {
    return v_.failing && last_success_ms_ > last_failure_ms_ &&
           now - last_failure_ms_ >= settle_ms;
  }

  mutable std::mutex mutex_;
  view v_;
  protocols::unix_ms last_failure_ms_ = 0;
  protocols::unix_ms last_success_ms_ = 0;
};

struct store_settings {
  std::size_t max_batch_events = 4096; ///< per transaction
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  /// The registry incarnation whose auction actors may persist (see
  /// persist_request::epoch); raised later by atom::epoch.
  std::uint64_t epoch = 0;
  /// Where commits refused for want of storage are reported (may be null).
  std::shared_ptr<storage_condition> storage;
};

/// The store's own messages: gather what is pending into one transaction.
using store_impl_actor = store_actor::extend<caf::reacts_to<atom::commit_due>>;

/// The reader's own messages: gather pending snapshot loads into one query.
using reader_impl_actor = reader_actor::extend<caf::reacts_to<atom::load_due>>;

struct store_state {
  struct waiting {
    persist_request req;
    caf::typed_response_promise<persist_reply> rp;
  };
  std::unique_ptr<adapters::pg_store> db;
  store_settings settings;
  std::vector<waiting> pending;
  std::size_t pending_events = 0;
  std::map<std::string, std::int64_t> positions;
  /// (destination, auction) → highest position done there (ADR 0012).
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> progress;
  std::vector<protocols::dead_letter> dead_letters;
  std::vector<std::pair<std::string, std::int64_t>> resolved;
  bool flush_scheduled = false;
  /// When a commit last took a live request: for this long after, backfill
  /// gets only a small share of each commit (take_batch in store.cpp).
  caf::actor_clock::time_point live_seen{};
  static constexpr std::chrono::seconds live_memory{1};
  std::vector<feed_actor> subscribers;
  std::int64_t last_published = 0;
  /// last_published was read from the database (the outbox head when this
  /// store started): a subscriber may only be told a position once it is.
  bool head_known = false;
  std::uint64_t epoch = 0;
  std::chrono::steady_clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  /// The last commit was refused for want of storage: later ones wait for
  /// next_attempt too (answered 503 at once) instead of each asking a
  /// server that cannot write.
  bool storage_refused = false;
  std::string storage_reason;
  std::shared_ptr<std::atomic<bool>> healthy;
  static inline const char* name = "gavel.store";
};

/// The STORE actor: the outbox's single writer. Requests that arrive while a
/// transaction commits wait in the mailbox and go into the next one (group
/// commit); each writer hears back only after COMMIT, and every committed
/// batch is then published, in position order, to the destinations. Spawn it
/// detached in production: libpq blocks.
store_impl_actor::behavior_type
store(store_impl_actor::stateful_pointer<store_state> self,
      adapters::pg_store::options db, store_settings settings,
      std::shared_ptr<std::atomic<bool>> healthy);

struct reader_state {
  struct waiting {
    std::int64_t auction_id;
    caf::typed_response_promise<protocols::auction_snapshot> rp;
  };
  std::unique_ptr<adapters::pg_store> db;
  std::vector<waiting> loads;
  bool flush_scheduled = false;
  static inline const char* name = "gavel.reader";
};

/// The READER actor: blocking reads on a connection of its own; snapshot
/// loads that arrive together are answered by one query. Spawn detached.
reader_impl_actor::behavior_type
reader(reader_impl_actor::stateful_pointer<reader_state> self,
       adapters::pg_store::options db);

} // namespace gavel::actors
