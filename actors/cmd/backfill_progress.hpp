#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace gavel::actors {

/// What a `gavel backfill` run shows (docs/backfill.md): the job as the
/// service last answered it and this run's pace, as a bar on a terminal
/// (stderr) or JSON lines (stdout), at most once a second. Thread-safe: the
/// connections' threads report to it.
class backfill_progress {
public:
  using clock_type = std::chrono::steady_clock;

  /// `mode`: bar | json | none; `job`: the job as the run began.
  backfill_progress(std::string mode, nlohmann::ordered_json job);

  /// A batch of `records` was answered with this state of the job.
  void answered(std::int64_t records, const nlohmann::ordered_json& job);
  /// Shows the state now if a second has passed (or `force`).
  void show(bool force);
  /// The job as last answered, and this run's records and seconds.
  nlohmann::ordered_json job() const;
  std::int64_t run_records() const;
  double seconds() const;
  double rate() const;

private:
  void show_locked(bool force);

  mutable std::mutex mtx_;
  std::string mode_;
  nlohmann::ordered_json job_;
  clock_type::time_point started_ = clock_type::now();
  clock_type::time_point last_shown_{};
  std::int64_t run_records_ = 0;
  double start_pct_ = 0;
};

/// `schema 3, closed 1` from `{"schema": 3, "closed": 1}`.
std::string rejected_text(const nlohmann::ordered_json& rejected);

} // namespace gavel::actors
