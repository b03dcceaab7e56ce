#pragma once

/// The message protocol of the whole actor system on one page: atoms, the
/// value types carried by messages, and every typed actor interface others
/// may send to. Messages an actor sends only to itself (timers, batching)
/// extend its interface in its own header.

#include "adapters/destinations/client.hpp"
#include "adapters/http/http.hpp"
#include "protocols/backfill.hpp"
#include "protocols/event.hpp"
#include "protocols/health.hpp"
#include "protocols/outcome.hpp"
#include "protocols/pull.hpp"
#include "protocols/records.hpp"

#include <caf/all.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// -- atoms ---------------------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(gavel, caf::first_custom_type_id)
CAF_ADD_ATOM(gavel, gavel::atom, ingest, "ingest")
CAF_ADD_ATOM(gavel, gavel::atom, persist, "persist")
CAF_ADD_ATOM(gavel, gavel::atom, commit_due, "commit_due")
CAF_ADD_ATOM(gavel, gavel::atom, load_due, "load_due")
CAF_ADD_ATOM(gavel, gavel::atom, save_pos, "save_pos")
CAF_ADD_ATOM(gavel, gavel::atom, load, "load")
CAF_ADD_ATOM(gavel, gavel::atom, loaded, "loaded")
CAF_ADD_ATOM(gavel, gavel::atom, read, "read")
CAF_ADD_ATOM(gavel, gavel::atom, position, "position")
CAF_ADD_ATOM(gavel, gavel::atom, subscribe, "subscribe")
CAF_ADD_ATOM(gavel, gavel::atom, adopt, "adopt")
CAF_ADD_ATOM(gavel, gavel::atom, committed, "committed")
CAF_ADD_ATOM(gavel, gavel::atom, heartbeat, "heartbeat")
CAF_ADD_ATOM(gavel, gavel::atom, idle, "idle")
CAF_ADD_ATOM(gavel, gavel::atom, idle_due, "idle_due")
CAF_ADD_ATOM(gavel, gavel::atom, passivate, "passivate")
CAF_ADD_ATOM(gavel, gavel::atom, delivered, "delivered")
CAF_ADD_ATOM(gavel, gavel::atom, retry, "retry")
CAF_ADD_ATOM(gavel, gavel::atom, status, "status")
CAF_ADD_ATOM(gavel, gavel::atom, open_list, "open_list")
CAF_ADD_ATOM(gavel, gavel::atom, submit, "submit")
CAF_ADD_ATOM(gavel, gavel::atom, health, "health")
CAF_ADD_ATOM(gavel, gavel::atom, dispatch, "dispatch")
CAF_ADD_ATOM(gavel, gavel::atom, redrive, "redrive")
CAF_ADD_ATOM(gavel, gavel::atom, crash, "crash")
CAF_ADD_ATOM(gavel, gavel::atom, restart, "restart")
CAF_ADD_ATOM(gavel, gavel::atom, dead, "dead")
CAF_ADD_ATOM(gavel, gavel::atom, resolve, "resolve")
CAF_ADD_ATOM(gavel, gavel::atom, take_dead, "take_dead")
CAF_ADD_ATOM(gavel, gavel::atom, dead_list, "dead_list")
CAF_ADD_ATOM(gavel, gavel::atom, parked, "parked")
CAF_ADD_ATOM(gavel, gavel::atom, prune, "prune")
CAF_ADD_ATOM(gavel, gavel::atom, tick, "tick")
CAF_ADD_ATOM(gavel, gavel::atom, epoch, "epoch")
CAF_ADD_ATOM(gavel, gavel::atom, progress, "progress")
CAF_ADD_ATOM(gavel, gavel::atom, expire, "expire")
CAF_ADD_ATOM(gavel, gavel::atom, pull, "pull")
CAF_ADD_ATOM(gavel, gavel::atom, summary, "summary")
CAF_ADD_ATOM(gavel, gavel::atom, auctions, "auctions")
CAF_ADD_ATOM(gavel, gavel::atom, audit, "audit")
CAF_ADD_ATOM(gavel, gavel::atom, audit_list, "audit_list")
CAF_ADD_ATOM(gavel, gavel::atom, set_flag, "set_flag")
CAF_ADD_ATOM(gavel, gavel::atom, refresh, "refresh")
CAF_ADD_ATOM(gavel, gavel::atom, begin, "begin")
CAF_ADD_ATOM(gavel, gavel::atom, checkpoint, "checkpoint")
CAF_ADD_ATOM(gavel, gavel::atom, jobs, "jobs")
CAF_END_TYPE_ID_BLOCK(gavel)

namespace gavel::actors {

// -- errors --------------------------------------------------------------------

/// Errors that cross actor boundaries (category atom "gavel").
enum class errc : std::uint8_t {
  unavailable = 1, ///< the database cannot make it durable now (retry)
  in_doubt,        ///< the commit outcome is unknown (retry; idempotent)
  internal,        ///< a bug; logged loudly
};

caf::error make_error(errc x, std::string message = {});
/// Maps an adapter error code ("unavailable", "in_doubt", "internal").
caf::error make_error(const protocols::error& e);

// -- value types ---------------------------------------------------------------

/// The outcome of one ingested event (what the ingest API reports; its HTTP
/// status and error code are chosen in actors/api/).
struct ingest_result {
  enum class status : std::uint8_t { accepted, duplicate, rejected };
  status st = status::rejected;
  std::string event_id;
  std::int64_t bid_sequence = 0;
  protocols::ingest_error error = protocols::ingest_error::none; ///< when rejected
  std::string error_field;                                       ///< when rejected
  std::string error_message;                                     ///< when rejected
};

/// Everything one auction asks the store to commit at once.
struct persist_request {
  std::vector<protocols::new_event> events;
  protocols::auction_row auction;
  /// The registry incarnation of the sending auction actor: the store refuses
  /// requests of an older one (a fence, so that an auction actor left over
  /// from a failed registry never commits after its successor loaded state).
  std::uint64_t epoch = 0;
};

/// Positions assigned to persist_request::events, in order. When `taken` is
/// not empty nothing of the request was committed: these events (event_id,
/// the auction that already holds its event_id or sequence number) cannot be
/// appended, and the rest of the store's group committed without them.
struct persist_reply {
  std::vector<std::int64_t> positions;
  std::vector<std::pair<std::string, std::int64_t>> taken;
};

/// Per-auction delivery progress of one destination: (auction_id, highest
/// position delivered or dead-lettered there).
using auction_progress = std::vector<std::pair<std::int64_t, std::int64_t>>;

/// A committed batch, in position order, as published to destinations.
using record_batch = std::shared_ptr<const std::vector<protocols::outbox_record>>;

/// One destination's health, for /v1/pipeline, /metrics and alerts. Counters
/// are cumulative since the process started (they survive actor restarts).
struct destination_status {
  std::string name;
  std::string kind;
  protocols::destination_state state = protocols::destination_state::unknown;
  protocols::circuit_breaker::state circuit = protocols::circuit_breaker::state::closed;
  std::int64_t delivered_through = 0;
  std::int64_t loaded_through = 0;
  /// The newest committed position the destination has heard of (the head).
  std::int64_t head_position = 0;
  std::uint64_t delivered = 0;          ///< records delivered
  std::uint64_t requests = 0;           ///< requests sent
  std::uint64_t retries = 0;            ///< records scheduled again after a failure
  std::uint64_t failures_transient = 0; ///< failed requests/records, by class
  std::uint64_t failures_permanent = 0;
  std::uint64_t dead_letters = 0; ///< records dead-lettered (status dead)
  std::uint64_t parked = 0;       ///< records parked behind a dead letter
  std::uint64_t retries_5m = 0;
  std::uint64_t dead_letters_5m = 0;
  std::uint64_t circuit_opens = 0;
  std::uint64_t restarts = 0; ///< supervisor restarts of the actor
  std::size_t parked_auctions = 0;
  std::size_t in_memory = 0;
  /// Commit time (Unix ms) of the oldest record held and not yet delivered; 0: none.
  std::int64_t oldest_undelivered_ms = 0;
  std::string last_error;
  std::int64_t last_error_ms = 0;
  /// ack (commit) → delivered latency of recent deliveries, ms (p50/p99/max of the last
  /// 1,000).
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
};

/// A backfill job after a request about it, or why the request failed
/// (`error`: "conflict", "not_found", "unavailable", "internal").
struct backfill_answer {
  protocols::backfill_job job;
  std::string error;
  std::string message;
};

/// The core (store and registry) as its supervisor sees it, for
/// /v1/pipeline, /metrics, /readyz and alerts.
struct core_status {
  protocols::core_state state = protocols::core_state::ok;
  std::uint64_t epoch = 0;             ///< registry incarnation (0 at start)
  std::uint64_t store_restarts = 0;    ///< supervisor restarts of the store
  std::uint64_t registry_restarts = 0; ///< supervisor restarts of the registry
  std::string last_error;              ///< why the last restart happened
  std::int64_t last_error_ms = 0;      ///< when (Unix ms); 0: never
};

} // namespace gavel::actors

// Gavel's messages never leave the process, so they are not serialisable.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::ingest_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::ingest_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::persist_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::persist_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::record_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::destination_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::core_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::auction_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::adapters::delivery_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::dead_letter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gavel::protocols::dead_letter>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::audit_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gavel::protocols::audit_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gavel::protocols::outbox_record>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<std::int64_t>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::auction_progress)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::outbox_facts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gavel::protocols::outbox_partition>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::pull_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::pull_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::auction_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::auction_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::auction_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::source_flag)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::protocols::backfill_step)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::backfill_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<gavel::protocols::backfill_job>)

namespace gavel::actors {

// -- actor interfaces ----------------------------------------------------------

/// What the store publishes committed batches to (a destination worker).
using feed_actor = caf::typed_actor<
    /// A batch the store just committed (position order); the live path.
    caf::reacts_to<atom::committed, record_batch>>;

/// The STORE actor interface: the single outbox writer.
using store_actor = caf::typed_actor<
    /// Commits one auction's events and state; replies after COMMIT.
    caf::replies_to<atom::persist, persist_request>::with<persist_reply>,
    /// Records a destination's delivered-through position and its
    /// per-auction progress beyond it (next transaction).
    caf::reacts_to<atom::position, std::string, std::int64_t, auction_progress>,
    /// Publishes every committed batch to this destination from now on.
    /// Replies with the last position published before the subscription:
    /// the subscriber must read up to it from the outbox (later ones come live).
    caf::replies_to<atom::subscribe, feed_actor>::with<std::int64_t>,
    /// Whether the database answered the last attempt.
    caf::replies_to<atom::health>::with<bool>,
    /// Records a dead (or parked) letter, in the same transaction as or
    /// before any later position of its destination.
    caf::reacts_to<atom::dead, protocols::dead_letter>,
    /// A redriven dead letter (destination, position) was delivered: delete it.
    caf::reacts_to<atom::resolve, std::string, std::int64_t>,
    /// Commits what is pending, then returns the dead letters of one auction
    /// on one destination in position order (what a redrive sends).
    caf::replies_to<atom::take_dead, std::string,
                    std::int64_t>::with<std::vector<protocols::dead_letter>>,
    /// Supervisor: a new registry incarnation begins. Commits or fails what
    /// is pending, then refuses persist requests of older epochs; replies
    /// once that holds.
    caf::replies_to<atom::epoch, std::uint64_t>::with<std::uint64_t>,
    /// Fault injection: the store fails as if it had hit a bug.
    caf::reacts_to<atom::crash>>;

/// The READER actor interface: blocking reads on a connection of its own
/// (and the audit log's appends, which gate the reads they record).
using reader_actor = caf::typed_actor<
    /// An auction's durable state and its accepted bids.
    caf::replies_to<atom::load, std::int64_t>::with<protocols::auction_snapshot>,
    /// Ids of auctions that are still open.
    caf::replies_to<atom::open_list>::with<std::vector<std::int64_t>>,
    /// Outbox rows after a position (position order, at most `limit`).
    caf::replies_to<atom::read, std::int64_t,
                    std::uint64_t>::with<std::vector<protocols::outbox_record>>,
    /// A destination's stored delivered-through position.
    caf::replies_to<atom::position, std::string>::with<std::int64_t>,
    /// A destination's stored per-auction progress above a position.
    caf::replies_to<atom::progress, std::string, std::int64_t>::with<auction_progress>,
    /// Dead letters (destination or "" for all, auction_id or 0, after,
    /// limit, after_destination: the keyset cursor of pg_store::dead_letters).
    caf::replies_to<atom::dead_list, std::string, std::int64_t, std::int64_t,
                    std::uint64_t,
                    std::string>::with<std::vector<protocols::dead_letter>>,
    /// Auctions parked on a destination (those with dead letters).
    caf::replies_to<atom::parked, std::string>::with<std::vector<std::int64_t>>,
    /// Stores one audit record of an unmasked read; replies with its id once
    /// committed.
    caf::replies_to<atom::audit, protocols::audit_record>::with<std::int64_t>,
    /// Audit records newest first (before: an id, 0 for the newest; limit).
    caf::replies_to<atom::audit_list, std::int64_t,
                    std::uint64_t>::with<std::vector<protocols::audit_record>>>;

/// The PULL actor interface: the reconciliation pull API's reads (ADR 0020),
/// blocking, on a connection of its own, so that a large page never delays
/// a destination's catch-up read or an auction's restore.
using pull_actor = caf::typed_actor<
    /// One page of GET /v1/events.
    caf::replies_to<atom::pull, protocols::pull_query>::with<protocols::pull_page>,
    /// GET /v1/auctions/<id>; auction_id 0 in the answer: unknown auction.
    caf::replies_to<atom::summary, std::int64_t>::with<protocols::auction_summary>,
    /// One page of GET /v1/auctions.
    caf::replies_to<atom::auctions,
                    protocols::auction_query>::with<protocols::auction_page>>;

/// The SOURCES actor interface: the persisted source flags (actors/sources.hpp).
using sources_actor = caf::typed_actor<
    /// Operator: sets a source's flag (name, enabled, the token's name);
    /// replies once it is committed and in effect.
    caf::replies_to<atom::set_flag, std::string, bool,
                    std::string>::with<protocols::source_flag>,
    /// Reads the persisted flags again (periodic, sent to itself).
    caf::reacts_to<atom::refresh>>;

/// The BACKFILLS actor interface: backfill jobs and their checkpoints
/// (actors/backfill.hpp).
using backfills_actor = caf::typed_actor<
    /// Starts a job (name, source, file size, file print) or finds it again.
    caf::replies_to<atom::begin, std::string, std::string, std::int64_t,
                    std::string>::with<backfill_answer>,
    /// Moves a job's checkpoint past a batch whose rows are committed.
    caf::replies_to<atom::checkpoint, protocols::backfill_step>::with<backfill_answer>,
    /// Every job, newest first.
    caf::replies_to<atom::jobs>::with<std::vector<protocols::backfill_job>>>;

/// The DESTINATION actor interface (one per configured destination; what the
/// rest of the system sees: the supervisor in front of the worker).
using destination_actor = caf::typed_actor<
    /// Current health.
    caf::replies_to<atom::status>::with<destination_status>,
    /// Redrives the dead letters of one auction (0: of every parked auction)
    /// in position order; replies with the number of auctions redriven.
    caf::replies_to<atom::redrive, std::int64_t>::with<std::uint64_t>,
    /// Fault injection: the worker fails as if it had hit a bug.
    caf::reacts_to<atom::crash>,
    /// Operator: start again after `failed` (resets the restart count).
    caf::reacts_to<atom::restart>,
    /// The core supervisor (re)started the store: deliver through this one
    /// from now on. The worker starts again from its stored position.
    caf::reacts_to<atom::adopt, store_actor>>;

/// The AUCTION actor interface (one per active auction).
using auction_actor = caf::typed_actor<
    /// Orders, dedups, sequences and persists one event; replies after commit.
    caf::replies_to<atom::ingest, protocols::ingest_event>::with<ingest_result>,
    /// The registry agreed to passivation: quit.
    caf::reacts_to<atom::passivate>>;

/// The REGISTRY actor interface: auction_id → auction actor.
using registry_actor = caf::typed_actor<
    /// Routes an event to its auction's actor, spawning it on first use.
    caf::replies_to<atom::ingest, protocols::ingest_event>::with<ingest_result>,
    /// An auction asks to be passivated after `processed` messages.
    caf::reacts_to<atom::idle, std::int64_t, std::uint64_t>,
    /// Active auctions (count).
    caf::replies_to<atom::status>::with<std::uint64_t>,
    /// Fault injection: the registry fails as if it had hit a bug (its
    /// auction actors go down with it).
    caf::reacts_to<atom::crash>>;

/// The MAINTENANCE actor interface: operations work on a database connection
/// of its own (detached), so a slow health query or a partition drop never
/// delays a commit or a catch-up read.
using maintenance_actor = caf::typed_actor<
    /// Outbox facts: the head, the commit time of the first row after each
    /// delivered-through position, sequence gaps of these auctions.
    caf::replies_to<atom::health, std::vector<std::int64_t>,
                    std::vector<std::int64_t>>::with<protocols::outbox_facts>,
    /// Retention: creates the coming days' partitions, then plans (false) or
    /// runs (true) the prune; replies with every partition and its fate.
    caf::replies_to<atom::prune, bool>::with<std::vector<protocols::outbox_partition>>>;

/// The CORE SUPERVISOR interface: it owns the store and the registry.
using core_actor = caf::typed_actor<
    /// Current state of the core.
    caf::replies_to<atom::status>::with<core_status>,
    /// Fault injection: "store" or "registry" fails as if it had hit a bug.
    caf::reacts_to<atom::crash, std::string>,
    /// Operator: start again after `failed` (resets the restart count).
    caf::reacts_to<atom::restart>>;

/// What the core supervisor tells each ingest gateway: the registry was
/// (re)started; route events to this one from now on.
using registry_user_actor = caf::typed_actor<caf::reacts_to<atom::adopt, registry_actor>>;

} // namespace gavel::actors
