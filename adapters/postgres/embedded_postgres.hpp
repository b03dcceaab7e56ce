#pragma once

#include "protocols/expected.hpp"

#include <string>
#include <sys/types.h>

namespace gavel::adapters {

using protocols::expected;

/// A private PostgreSQL cluster under a data directory, driven with the
/// machine's own binaries (initdb, pg_ctl). Listens only on a Unix socket in
/// `<data_dir>/sock`. When the process runs as root the server runs as the
/// unprivileged `postgres` user (PostgreSQL refuses to run as root).
class embedded_postgres {
public:
  struct options {
    std::string data_dir = "var/pg";
    std::string bin_dir;             ///< empty: newest /usr/lib/postgresql/<v>/bin
    std::string run_as = "postgres"; ///< used only when running as root
    int port = 5432;                 ///< socket file name only; no TCP
    bool fsync = true;               ///< tests may turn it off
  };

  explicit embedded_postgres(options opts);
  ~embedded_postgres(); ///< does not stop the server; call stop()

  /// Creates the cluster on first use (initdb), starts it if not running
  /// (pg_ctl start -w), returns a libpq URI for it. Errors name the step and
  /// include the tool's output (code "embedded_pg"). With `create_if_missing`
  /// false (a restart by the supervisor) a missing cluster is an error: a new
  /// empty one in its place would silently lose the outbox.
  expected<std::string> start(bool create_if_missing = true);
  /// pg_ctl stop -m fast; harmless if not running.
  void stop();
  /// Whether start() launched the server (false: it was already running,
  /// e.g. under a `gavel serve`, and an admin command must leave it so).
  bool started_here() const noexcept { return started_by_us_; }
  /// The libpq URI (valid after start()).
  const std::string& url() const noexcept { return url_; }
  /// The PID of the cluster's live postmaster (from postmaster.pid, checked
  /// to be alive and to run in this data directory), or 0 when none runs.
  pid_t postmaster_pid() const;
  /// The cluster's data directory (`<data_dir>/data`, absolute).
  std::string data_path() const;

private:
  options opts_;
  std::string url_;
  bool started_by_us_ = false;
};

} // namespace gavel::adapters
