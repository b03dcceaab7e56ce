#pragma once

#include "protocols/time.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// A backfill job as the service keeps it (DESIGN §1.10, ADR 0027): which
/// file it reads, how far it got, and what became of the records so far.
namespace gavel::protocols {

/// Rejected records by error code ("schema", "closed", …), in code order.
using rejected_counts = std::vector<std::pair<std::string, std::int64_t>>;

struct backfill_job {
  std::string job;
  std::string source;
  std::int64_t file_size = 0;
  std::string file_print; ///< hex SHA-256 of the file's first MiB
  std::int64_t run = 0;   ///< the current run (each start takes the next)
  /// The checkpoint: bytes and records of the file stored through it.
  std::int64_t offset = 0;
  std::int64_t records = 0;
  std::int64_t accepted = 0;
  std::int64_t duplicate = 0;
  rejected_counts rejected;
  unix_ms started_ms = 0;
  unix_ms updated_ms = 0;
  unix_ms finished_ms = 0; ///< 0: not finished

  bool done() const noexcept { return finished_ms > 0; }
  /// Percent of the file's bytes behind the checkpoint (100 when done).
  double percent_complete() const noexcept;
  std::int64_t rejected_total() const noexcept;
};

/// One batch's step of a job: what became of its records, and the file's
/// prefix the client knows to be stored (every record before `offset`: it
/// may have several batches in flight, so a batch's own span is not one).
struct backfill_step {
  std::string job;
  std::string source;       ///< the job's: a step of another source is refused
  std::int64_t run = 0;     ///< the run it belongs to: an older run's is refused
  std::int64_t offset = 0;  ///< the checkpoint: bytes of the stored prefix
  std::int64_t records = 0; ///< records of that prefix
  std::int64_t accepted = 0;
  std::int64_t duplicate = 0;
  rejected_counts rejected;
};

/// A job name: 1..64 of `[A-Za-z0-9._-]` (it appears in URLs and logs).
bool valid_job_name(std::string_view name) noexcept;

} // namespace gavel::protocols
