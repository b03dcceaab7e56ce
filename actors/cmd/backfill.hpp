#pragma once

#include "adapters/config/config.hpp"
#include "protocols/expected.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace gavel::actors {

/// `gavel backfill` (DESIGN §1.10, docs/backfill.md).
struct backfill_options {
  std::string source;
  std::string file;
  std::string job;         ///< default: <source>-<file name>
  double rate = 0;         ///< events per second at most; 0: no cap
  std::string token;       ///< default: the first token of FILE that may ingest
  std::string url;         ///< default: from server.listen (https with tls_cert)
  std::string ca_file;     ///< trusts the server's certificate
  std::string client_cert; ///< mTLS
  std::string client_key;
  std::size_t batch = 500; ///< events per request
  /// Connections sending at once; each auction always on the same one, so
  /// its events keep the file's order.
  std::size_t connections = 2;
  std::string progress = "auto"; ///< auto | bar | json | none
  bool verify = false;
};

/// Replays the file through the running service; 0 when done (and, with
/// `verify`, clean), 1 when verification found differences or the service
/// stayed unreachable, 2 for a usage or input error. `database_url` opens
/// Gavel's database for `--verify`.
int run_backfill(const adapters::config& cfg, backfill_options o,
                 const std::function<protocols::expected<std::string>()>& database_url);

/// `--verify`: every event of the file that ingest would take is in the
/// outbox, once, its auction's sequences gap-free from 1 and the file's
/// order kept. Prints what differs; returns the number of differences.
std::size_t verify_backfill(const std::string& path, const std::string& database_url);

} // namespace gavel::actors
