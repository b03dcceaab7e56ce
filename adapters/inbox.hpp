#pragma once

#include "protocols/expected.hpp"
#include "protocols/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The transactional inbox (DESIGN §1.7, ADR 0021): a table `gavel_inbox`
/// in the platform's own database that the platform writes in the same
/// transaction as the bid, and that Gavel reads, stores in its outbox and
/// only then empties. One reader per source; a plain, blocking class (run it
/// on a detached actor or thread, never on the scheduler's workers). Nothing
/// throws through it; errors come out as protocols::error with code:
/// - "unavailable": the server is unreachable or the connection broke (the
///   next call connects again), or a lock wait timed out: retry later;
/// - "url": the url cannot be used (bad scheme, syntax);
/// - "internal": anything else (a missing table, a refused statement).
namespace gavel::adapters {

using protocols::done;
using protocols::expected;

enum class inbox_kind { postgres, mysql };

/// "postgres" or "mysql"; nullopt for anything else.
std::optional<inbox_kind> parse_inbox_kind(std::string_view text);

/// The inbox DDL for the platform's database (`gavel inbox-schema`),
/// compiled in from adapters/<kind>/inbox.sql. Idempotent: applying it again
/// changes nothing and takes no lock that the platform's inserts wait on.
std::string_view inbox_schema(inbox_kind kind);

/// One committed inbox row.
struct inbox_row {
  std::int64_t id = 0;
  std::string event;              ///< the ingest API's JSON object, as written
  protocols::unix_ms created = 0; ///< the row's insert time on the server's clock
};

struct inbox_depth {
  std::int64_t rows = 0;
  /// Age of the oldest row by the server's clock (so Gavel's own clock does
  /// not skew it); nullopt when the inbox is empty.
  std::optional<std::chrono::milliseconds> oldest_age;
};

class inbox_reader {
public:
  virtual ~inbox_reader() = default;

  /// Runs inbox_schema(kind) against the database.
  virtual expected<done> apply_schema() = 0;

  /// Up to `limit` committed rows in id order, from a snapshot taken now:
  /// a row whose transaction commits late is returned by the first read
  /// after its commit, whatever ids were returned before (no high-water
  /// mark), and an open transaction never holds back other rows.
  virtual expected<std::vector<inbox_row>> read(std::size_t limit) = 0;

  /// Deletes these rows (after their events are committed to the outbox).
  /// Ids not there any more are ignored.
  virtual expected<done> remove(const std::vector<std::int64_t>& ids) = 0;

  /// Moves one row to gavel_inbox_rejected with `reason`, atomically;
  /// false when the row is not there (already moved or removed).
  virtual expected<bool> reject(std::int64_t id, const std::string& reason) = 0;

  /// Rows waiting and the age of the oldest (GET /v1/sources).
  virtual expected<inbox_depth> depth() = 0;

  /// Blocks until rows may have arrived or `timeout` passes. PostgreSQL
  /// returns early on the NOTIFY of a committed insert (true); MySQL has no
  /// such signal and sleeps the whole timeout (false): the caller polls.
  /// True also when the wake-up channel was just (re)established, since a
  /// notification may have been missed while it was down.
  virtual expected<bool> wait(std::chrono::milliseconds timeout) = 0;
};

struct inbox_options {
  /// PostgreSQL: a libpq URI or key=value string. MySQL:
  /// `mysql://USER:PASSWORD@HOST:PORT/DB` or
  /// `mysql://USER@localhost/DB?socket=/path/mysqld.sock` (user and password
  /// percent-decoded).
  std::string url;
  int connect_timeout_seconds = 3;
  /// PostgreSQL application_name / MySQL program_name: how an operator (or a
  /// test) tells this reader's sessions apart on the server.
  std::string application_name = "gavel-inbox";
};

/// The PostgreSQL inbox (libpqxx). An empty url is an error: the caller
/// passes Gavel's own database url for a source whose `url` is empty.
std::unique_ptr<inbox_reader> make_postgres_inbox(inbox_options opts);

/// The MySQL/MariaDB inbox (MariaDB Connector/C). The url is checked on the
/// first call, which answers "url" when it is unusable.
std::unique_ptr<inbox_reader> make_mysql_inbox(inbox_options opts);

/// A parsed `mysql://` url.
struct mysql_url {
  std::string user;
  std::string password;
  std::string host; ///< empty with a socket
  unsigned port = 3306;
  std::string database;
  std::string socket; ///< `?socket=`; then host and port are not used
};
expected<mysql_url> parse_mysql_url(std::string_view text);

} // namespace gavel::adapters
