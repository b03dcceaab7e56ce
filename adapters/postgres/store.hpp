#pragma once

#include "protocols/backfill.hpp"
#include "protocols/expected.hpp"
#include "protocols/pull.hpp"
#include "protocols/records.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

/// The PostgreSQL outbox: schema migrations, group-committed writes and the
/// reads the actors need. A plain, blocking class: the actors run it on
/// detached threads, never on scheduler workers. libpqxx exceptions stop
/// here and come out as protocols::error with code:
/// - "unavailable": the server is unreachable or the connection broke (retry later);
/// - "in_doubt": the connection broke during COMMIT (the outcome is unknown);
/// - "storage": the server refused to write: disk full (SQLSTATE 53100),
///   read-only (25006) or a file system error saying so (ENOSPC, EROFS);
///   nothing was written, retry later, but people must act;
/// - "taken" (commit only): an event_id or sequence number of the commit is
///   already stored; nothing was written, find_taken says which;
/// - "internal": anything else (a bug or a broken schema).
namespace gavel::adapters {

using protocols::done;
using protocols::expected;

/// The latest schema version this build knows.
int latest_schema_version();

/// Whether an error (its SQLSTATE, empty when there is none, and its text)
/// says the server cannot write: the "storage" code above.
bool storage_refused(std::string_view sqlstate, std::string_view message);

class pg_store {
public:
  struct options {
    std::string url;
    int connect_timeout_seconds = 3;
    bool synchronous_commit = true;
    std::string application_name = "gavel";
    /// How long a commit whose outcome is unknown (the connection broke at
    /// COMMIT) is resolved in place before the caller hears "in_doubt".
    std::chrono::milliseconds resolve_timeout{1000};
  };

  explicit pg_store(options opts);
  ~pg_store();
  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

  /// (Re)connects when not connected; cheap when connected. While an earlier
  /// commit's outcome is unknown, it is resolved first (and nothing else
  /// runs on this store until it is).
  expected<done> ensure_connected();

  /// True once, after a commit answered "in_doubt" turned out to have
  /// committed: its rows are in the outbox though nobody was told.
  bool take_late_commit() noexcept;

  /// Events of `events` that cannot be appended: their event_id is already
  /// stored, or (auction.opened, bid.placed) their sequence number is taken.
  /// Slow on a long outbox (it probes every partition): for after a commit
  /// answered "taken", not before every commit.
  struct taken {
    std::size_t index = 0;  ///< into `events`
    std::int64_t owner = 0; ///< the auction that holds the event_id or sequence
  };
  expected<std::vector<taken>>
  find_taken(const std::vector<protocols::new_event>& events);
  bool connected() const noexcept;

  /// Applies pending migrations under an advisory lock; returns the version.
  expected<int> migrate();

  /// One transaction: appends `events` (returning their positions in input
  /// order), upserts `auctions` and raises `positions` (destination, position).
  expected<std::vector<std::int64_t>>
  commit(const std::vector<protocols::new_event>& events,
         const std::vector<protocols::auction_row>& auctions,
         const std::vector<std::pair<std::string, std::int64_t>>& positions);

  /// As above, plus dead letters to record (inserted, or updated when the
  /// same destination and position is there), dead letters resolved
  /// (destination, position) to delete and per-auction delivery progress
  /// (raised; rows at or below a destination's new position go), all in the
  /// same transaction.
  expected<std::vector<std::int64_t>>
  commit(const std::vector<protocols::new_event>& events,
         const std::vector<protocols::auction_row>& auctions,
         const std::vector<std::pair<std::string, std::int64_t>>& positions,
         const std::vector<protocols::dead_letter>& dead_letters,
         const std::vector<std::pair<std::string, std::int64_t>>& resolved,
         const std::vector<protocols::delivery_progress>& progress = {});

  /// A destination's per-auction progress above its delivered-through
  /// position: (auction_id, position).
  expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
  load_progress(const std::string& destination, std::int64_t after);

  /// Dead letters in (position, destination) order; an empty destination and
  /// auction_id 0 match all. Keyset pagination: rows after (`after`,
  /// `after_destination`); an empty `after_destination` means after the whole
  /// position (enough when one destination is asked for).
  expected<std::vector<protocols::dead_letter>>
  dead_letters(const std::string& destination, std::int64_t auction_id,
               std::int64_t after, std::size_t limit,
               const std::string& after_destination = {});

  /// Stores one audit record (its id and time are assigned here); returns the id.
  expected<std::int64_t> append_audit(const protocols::audit_record& r);

  /// Audit records newest first: those with id < `before` (0: from the
  /// newest), at most `limit`.
  expected<std::vector<protocols::audit_record>> audit_records(std::int64_t before,
                                                               std::size_t limit);

  /// Every flag an operator has set (source_flags), by name.
  expected<std::vector<protocols::source_flag>> source_flags();

  /// Sets one source's flag (committed when this returns); returns the row
  /// as stored.
  expected<protocols::source_flag> set_source_flag(const std::string& name, bool enabled,
                                                   const std::string& by);

  // -- backfill jobs (backfill_jobs.cpp) -------------------------------------

  /// Starts a job or starts it again (the next run): the stored job when its
  /// source and file match; error code "conflict" when the name is taken by
  /// another file or source.
  expected<protocols::backfill_job> begin_backfill(const std::string& job,
                                                   const std::string& source,
                                                   std::int64_t file_size,
                                                   const std::string& file_print);
  /// Adds a committed batch's counts to its job and moves the checkpoint
  /// forward to the step's (never back); error code "conflict" for a step of
  /// an older run or another source, "not_found" for an unknown job.
  expected<protocols::backfill_job>
  advance_backfill(const protocols::backfill_step& step);
  /// Every job, newest first.
  expected<std::vector<protocols::backfill_job>> backfill_jobs();

  /// Auctions with at least one dead letter on this destination (parked).
  expected<std::vector<std::int64_t>> parked_auctions(const std::string& destination);

  /// Snapshots for these auctions, in the order asked (exists=false when new).
  expected<std::vector<protocols::auction_snapshot>>
  load_auctions(const std::vector<std::int64_t>& auction_ids);

  /// Ids of auctions that are open (not closed).
  expected<std::vector<std::int64_t>> open_auctions();

  /// Up to `limit` outbox rows with position > after, in position order.
  expected<std::vector<protocols::outbox_record>> read_outbox(std::int64_t after,
                                                              std::size_t limit);

  /// A destination's delivered-through position (0 when never stored).
  expected<std::int64_t> load_position(const std::string& destination);

  /// Highest position in the outbox (0 when empty).
  expected<std::int64_t> head_position();

  /// Runs one statement and returns its rows as text (tests and tools).
  expected<std::vector<std::vector<std::string>>> query(const std::string& sql);

  // -- the reconciliation pull API (postgres/pull.cpp, ADR 0020) -------------

  /// GET /v1/events: one page in commit-safe keyset order, never past the
  /// oldest transaction still running.
  expected<protocols::pull_page> pull_events(const protocols::pull_query& q);

  /// Whether pull_events reads `q`'s matching rows first and sorts them
  /// (narrow windows, a bidder) rather than walking storage order.
  expected<bool> pull_reads_filter_first(const protocols::pull_query& q);

  /// GET /v1/auctions/<id> (nullopt: unknown), with each destination's view.
  expected<std::optional<protocols::auction_summary>>
  auction_summary(std::int64_t auction_id,
                  const std::vector<protocols::delivery_scope>& destinations);

  /// GET /v1/auctions: by (opened_at, auction_id), with digests.
  expected<protocols::auction_page> list_auctions(const protocols::auction_query& q);

  /// Each auction's events (heartbeats left out) for `gavel reconcile`, in
  /// the order of `auction_ids`; an unknown auction has none.
  expected<std::vector<std::vector<protocols::digest_event>>>
  auction_events(const std::vector<std::int64_t>& auction_ids);

  // -- operations: health facts and retention --------------------------------

  /// Outbox facts for /v1/pipeline, /metrics and alerts.
  expected<protocols::outbox_facts> facts(const std::vector<std::int64_t>& positions,
                                          const std::vector<std::int64_t>& auctions);

  /// Creates the daily outbox partitions from the day of `now` to `days_ahead`
  /// days later (UTC) that do not exist yet; returns how many were created.
  expected<int> ensure_partitions(protocols::unix_ms now, int days_ahead);

  /// Retention plan: a partition goes when its whole range is older than
  /// `now - max_age`, every row in it is delivered to every destination in
  /// `destinations` (position ≤ the smallest stored delivered-through; a
  /// destination that never stored one holds everything) and it holds no row
  /// of an auction still open (their dedup state lives in the outbox).
  /// With `execute`, drops those partitions (each under a short lock_timeout:
  /// a busy table is retried next time, never waited on) and deletes the
  /// default partition's eligible rows.
  expected<std::vector<protocols::outbox_partition>>
  prune(protocols::unix_ms now, std::chrono::milliseconds max_age,
        const std::vector<std::string>& destinations, bool execute);

private:
  /// libpqxx 6's connection_base has no virtual destructor: the object made
  /// is a pqxx::connection and must be deleted as one.
  struct connection_deleter {
    void operator()(pqxx::connection_base* c) const noexcept;
  };

  /// Runs `f` on a connected store; a libpqxx exception thrown by it comes
  /// out as the error its SQLSTATE means (defined in postgres/guarded.hpp).
  template <class F> auto guarded(const char* what, F&& f) -> decltype(f());
  /// Called inside a catch block: the error the exception in flight means,
  /// dropping the connection when it cannot serve the next call.
  protocols::error failed(const char* what);
  void prepare_statements();
  std::string connection_url() const;
  /// The transaction's id, asked before anything that could commit.
  static std::string current_xid(pqxx::transaction_base& tx);
  /// COMMITs; when that fails in a way that leaves the outcome unknown,
  /// asks the server (pg_xact_status on a new connection) until it knows or
  /// resolve_timeout passes. done: committed.
  expected<done> commit_or_resolve(pqxx::transaction_base& tx, const std::string& xid,
                                   const std::vector<protocols::new_event>& events);
  /// One attempt: true committed, false aborted; an error while unknown.
  expected<bool> resolve_doubt();

  /// A commit whose outcome is not known yet.
  struct in_doubt {
    std::string xid;
    std::vector<std::string> event_ids;
    std::string cause;
  };
  std::optional<in_doubt> doubt_;
  bool late_commit_ = false;

  options opts_;
  std::unique_ptr<pqxx::connection_base, connection_deleter> conn_;
  bool prepared_ = false;
};

} // namespace gavel::adapters
