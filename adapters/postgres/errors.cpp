// The one translation of libpqxx exceptions (and their SQLSTATEs) into the
// store's error codes.
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

using protocols::error;

namespace postgres {

error unavailable(const char* what, const std::exception& e) {
  return error{"unavailable", {}, std::string{what} + ": " + e.what()};
}

error storage(const char* what, const std::exception& e) {
  return error{"storage", {}, std::string{what} + ": " + e.what()};
}

} // namespace postgres

bool storage_refused(std::string_view sqlstate, std::string_view message) {
  // 53100 disk_full; 25006 read_only_sql_transaction (a read-only server or
  // default_transaction_read_only). PostgreSQL maps EROFS to 42501 and other
  // write failures to 58030 or XX000, so the errno text is the only sign of
  // those; it comes from strerror and is not translated (lc_messages = C in
  // the embedded cluster; a translated server still sends 53100 for ENOSPC).
  return sqlstate == "53100" || sqlstate == "25006" ||
         message.find("No space left on device") != std::string_view::npos ||
         message.find("Read-only file system") != std::string_view::npos ||
         message.find("Disk quota exceeded") != std::string_view::npos;
}

error pg_store::failed(const char* what) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    conn_.reset();
    return error{"in_doubt", {}, std::string{what} + ": " + e.what()};
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return postgres::unavailable(what, e);
  } catch (const pqxx::sql_error& e) {
    const auto& state = e.sqlstate();
    if (storage_refused(state, e.what())) {
      // The connection is fine (reads still work); a read-only server may be
      // a standby after a failover, which a new connection may not reach.
      if (state == "25006" || (conn_ && !conn_->is_open()))
        conn_.reset();
      return postgres::storage(what, e);
    }
    // Class 08 (connection exception), 57P (operator intervention: shutdown,
    // admin shutdown, cannot connect now) and 53 (insufficient resources) are
    // environment failures that pass; everything else is a bug.
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 ||
        state.rfind("53", 0) == 0) {
      conn_.reset();
      return postgres::unavailable(what, e);
    }
    if (conn_ && !conn_->is_open())
      conn_.reset();
    return error{"internal", {}, std::string{what} + ": " + e.what()};
  } catch (const std::exception& e) {
    if (storage_refused({}, e.what())) {
      if (conn_ && !conn_->is_open())
        conn_.reset();
      return postgres::storage(what, e);
    }
    if (conn_ && !conn_->is_open()) {
      conn_.reset();
      return postgres::unavailable(what, e);
    }
    return error{"internal", {}, std::string{what} + ": " + e.what()};
  }
}

} // namespace gavel::adapters
