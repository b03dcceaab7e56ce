// The outbox writer's safety net around COMMIT: resolving a commit whose
// outcome the client could not see (docs/adr/0009-ambiguous-commits.md).
#include "adapters/log.hpp"
#include "adapters/postgres/store.hpp"

#include <pqxx/pqxx>
#include <thread>

namespace gavel::adapters {

using protocols::error;

std::string pg_store::current_xid(pqxx::transaction_base& tx) {
  return tx.exec("select pg_current_xact_id()::text")[0][0].c_str();
}

expected<done>
pg_store::commit_or_resolve(pqxx::transaction_base& tx, const std::string& xid,
                            const std::vector<protocols::new_event>& events) {
  try {
    tx.commit();
    return done{};
  } catch (const std::exception& e) {
    // Whatever the exception says (a broken connection, a backend terminated
    // by an administrator, a server shutting down), COMMIT was sent: it may
    // have landed. Only the server knows; until it answers, nobody is told
    // "failed" and nothing else commits.
    in_doubt d;
    d.xid = xid;
    d.cause = e.what();
    d.event_ids.reserve(events.size());
    for (const auto& ev : events)
      d.event_ids.push_back(ev.event_id);
    doubt_ = std::move(d);
    GAVEL_LOG_WARN("pg_store: outcome of commit (transaction {}, {} events) unknown: {}; "
                   "resolving",
                   xid, events.size(), e.what());
  }
  auto deadline = std::chrono::steady_clock::now() + opts_.resolve_timeout;
  const bool earlier_late_commit = late_commit_;
  for (;;) {
    auto known = resolve_doubt();
    if (known) {
      // Reported to this caller: not a late commit.
      late_commit_ = earlier_late_commit;
      if (*known)
        return done{};
      return error{"unavailable", {}, "commit aborted with its connection"};
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return error{"in_doubt",
                   {},
                   "commit outcome unknown (database unreachable): " +
                       known.err().message};
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

expected<bool> pg_store::resolve_doubt() {
  if (!doubt_)
    return false;
  try {
    pqxx::connection probe{connection_url()};
    pqxx::nontransaction tx{probe};
    std::string status;
    try {
      auto r = tx.exec_params("select pg_xact_status($1::xid8)", doubt_->xid);
      status = r[0][0].is_null() ? "" : r[0][0].c_str();
    } catch (const pqxx::sql_error& e) {
      // "transaction ID ... is in the future" (22023): the server restarted
      // (crash recovery after a PANIC, e.g. a WAL write on a full disk) and
      // its next xid comes from a WAL that never held this transaction's
      // commit record. Asking again cannot change that answer; the rows
      // below can, and do not lie (seen: the store waiting forever on it).
      if (e.sqlstate() != "22023")
        throw;
      GAVEL_LOG_WARN("pg_store: transaction {} unknown to the server ({}); looking for "
                     "its rows",
                     doubt_->xid, e.what());
    }
    if (status == "in progress")
      return error{"unavailable",
                   {},
                   "commit of transaction " + doubt_->xid + " still in progress"};
    bool committed = status == "committed";
    if (status.empty()) {
      // Too old for the commit log (cannot happen within a resolve window),
      // or in the future (above): the rows themselves are the answer.
      committed = false;
      if (!doubt_->event_ids.empty()) {
        auto found = tx.exec_params("select count(*) from outbox where event_id = $1",
                                    doubt_->event_ids.front());
        committed = found[0][0].as<std::int64_t>() > 0;
      }
    }
    GAVEL_LOG_WARN("pg_store: commit of transaction {} resolved: {}", doubt_->xid,
                   committed ? "committed" : "aborted");
    late_commit_ = committed;
    doubt_.reset();
    return committed;
  } catch (const std::exception& e) {
    return error{"unavailable", {}, std::string{"resolve in-doubt commit: "} + e.what()};
  }
}

bool pg_store::take_late_commit() noexcept {
  return std::exchange(late_commit_, false);
}

} // namespace gavel::adapters
