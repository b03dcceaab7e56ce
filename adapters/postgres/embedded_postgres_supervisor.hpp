#pragma once

#include "adapters/postgres/embedded_postgres.hpp"
#include "protocols/resilience.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace gavel::adapters {

/// The embedded cluster as /readyz, /v1/pipeline, /metrics and the alerts
/// see it.
struct database_status {
  bool embedded = false;
  /// external (database.url set: not ours to supervise) | running |
  /// restarting (waiting out the backoff) | starting (pg_ctl start -w: crash
  /// recovery) | recovering (waiting for a connection) | stopped
  std::string state = "external";
  std::uint64_t restarts = 0; ///< restarts that brought the cluster back
  std::uint64_t deaths = 0;   ///< postmaster deaths seen
  /// More than restart_limit restarts within restart_period: restarting does
  /// not cure it (alert); the supervisor keeps trying at its slowest pace.
  bool over_limit = false;
  std::string last_error;
  std::int64_t last_error_ms = 0; ///< unix ms; 0: never
  std::int32_t pid = 0;           ///< the postmaster's, while running
};

/// Supervises the embedded cluster's postmaster like a child: its death is
/// seen at once (a pidfd polled by a thread of its own; pidfds work on
/// processes that are not our children, as the daemonised postmaster is
/// not), then it is started again (pg_ctl start -w runs crash recovery) after
/// an exponential backoff with jitter, and declared running once a
/// connection succeeds. More than `restart_limit` restarts within
/// `restart_period` set `over_limit` (the alert) and slow the retries down to
/// `backoff_max`; it never gives up, since without its database Gavel can do
/// nothing but answer 503.
/// The cluster is started and finally stopped by the owner (main); this
/// class only watches and restarts it, between start() and stop().
class embedded_postgres_supervisor {
public:
  struct options {
    unsigned restart_limit = 5;
    std::chrono::milliseconds restart_period{60000};
    std::chrono::milliseconds backoff_min{100}; ///< first restart delay (with jitter)
    std::chrono::milliseconds backoff_max{30000};
    /// After pg_ctl start, how long a connection may take to succeed.
    std::chrono::milliseconds connect_timeout{60000};
  };

  /// `pg` must be started and outlive this object.
  embedded_postgres_supervisor(embedded_postgres& pg, options opts);
  ~embedded_postgres_supervisor(); ///< stop()
  embedded_postgres_supervisor(const embedded_postgres_supervisor&) = delete;
  embedded_postgres_supervisor& operator=(const embedded_postgres_supervisor&) = delete;

  /// Starts watching (error: no eventfd for the watcher thread).
  expected<bool> start();
  /// Stops supervising: no restart after it returns (a restart under way is
  /// finished first, so the owner can stop the cluster it left). Does not
  /// stop the cluster. Idempotent.
  void stop();
  database_status status() const;

private:
  void run();
  /// Sleeps up to `d`; true when stop() interrupted it.
  bool pause(std::chrono::milliseconds d);
  /// Blocks while the postmaster `pid` lives; true when stop() interrupted.
  bool watch(pid_t pid);
  /// Until a connection succeeds (true), stop() or connect_timeout (false).
  bool wait_connectable(std::string& error);
  void set_state(const char* state, pid_t pid = 0);
  void set_error(std::string error);

  embedded_postgres& pg_;
  options opts_;
  int wake_fd_ = -1; ///< eventfd: stop() makes it readable
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_; ///< guards status_ and policy_
  database_status status_;
  mutable protocols::restart_policy policy_;
};

} // namespace gavel::adapters
