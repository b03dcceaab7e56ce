#pragma once

#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"
#include "protocols/records.hpp"
#include "protocols/resilience.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

/// The one interface of the destination kinds (Event Hubs, HubSpot, webhook,
/// each in its folder beside this file): how a batch of outbox records goes
/// on the wire and what the answer means for each record. Clients own their
/// connections and their rate limit; the destination actor owns order,
/// retries, dead letters and the circuit.
namespace gavel::adapters {

using protocols::outbox_record;

/// The outcome of one record of a batch.
struct record_outcome {
  protocols::failure_class outcome = protocols::failure_class::none;
  std::string reason; ///< for dead letters and logs: never carries secrets
  int status = 0;
};

/// The outcome of one request.
struct delivery_result {
  /// The request as a whole: none (accepted; see `records`), transient or
  /// permanent (every record shares it).
  protocols::failure_class overall = protocols::failure_class::none;
  /// Per record, in batch order, when overall is none; empty means all
  /// delivered.
  std::vector<record_outcome> records;
  int status = 0;    ///< HTTP status, 0 when no response arrived
  std::string error; ///< short description without secrets
  /// The server asked for a pause (429 / 503 Retry-After, rate-limit headers).
  std::chrono::milliseconds retry_after{0};
  bool rate_limited = false;
};

/// What a batch may hold.
struct batch_limits {
  std::size_t max_records = 1;
  std::size_t max_bytes = 1024 * 1024; ///< sum of size_of() over the batch
  bool mixes_auctions = false;         ///< may one request carry several auctions?
  /// Records of one auction in one request (they go in sequence order; the
  /// destination worker resends what follows a rejected one after it).
  std::size_t max_per_auction = 1000000;
};

class destination_client {
public:
  virtual ~destination_client() = default;
  virtual batch_limits limits() const = 0;
  /// Bytes one record adds to a request (compared with max_bytes).
  virtual std::size_t size_of(const outbox_record& rec) const;
  /// A record's identity at the server when two records with the same one
  /// may not share a request (HubSpot rejects a batch upsert naming one
  /// idProperty value twice); empty: no such constraint.
  virtual std::string batch_key(const outbox_record& rec) const;
  /// Client-side rate limit: zero takes a slot for a request starting now;
  /// otherwise how long to wait. Called on the actor's thread only.
  virtual std::chrono::milliseconds acquire(protocols::steady_time now);
  /// Sends one batch (records in delivery order). Never blocks; `done` is
  /// called exactly once, from an I/O thread.
  virtual void send(std::vector<outbox_record> batch,
                    std::function<void(delivery_result)> done) = 0;
  /// Drops connections (idempotent).
  virtual void close() = 0;
};

/// Builds the client for `cfg.kind`; error code "config" on a bad URL.
expected<std::shared_ptr<destination_client>>
make_destination_client(io_runtime& io, const destination_config& cfg);

} // namespace gavel::adapters
