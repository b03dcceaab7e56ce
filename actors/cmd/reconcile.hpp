#pragma once

#include <string>

namespace gavel::actors {

/// `gavel reconcile`: compares a warehouse export (docs/reconciliation.md)
/// with the outbox at `database_url` and prints every difference, naming the
/// event, then a summary. Returns the exit code: 0 equal, 1 any difference,
/// 2 could not compare (unreadable or malformed file, database unreachable).
int run_reconcile(const std::string& database_url, const std::string& export_path);

} // namespace gavel::actors
