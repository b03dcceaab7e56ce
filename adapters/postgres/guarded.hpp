#pragma once

// Private to adapters/postgres: where every store operation turns libpqxx
// exceptions into the error codes promised in store.hpp.

#include "adapters/postgres/store.hpp"

#include <exception>
#include <string>

namespace gavel::adapters {

namespace postgres {

/// Code "unavailable": the server is unreachable or the connection broke.
protocols::error unavailable(const char* what, const std::exception& e);

/// Code "storage": the server refused to write (see storage_refused).
protocols::error storage(const char* what, const std::exception& e);

/// `url` (a libpq URI or key=value string) with connect_timeout and
/// application_name appended in its own syntax.
std::string libpq_url(std::string url, int connect_timeout_seconds,
                      const std::string& application_name);

} // namespace postgres

template <class F> auto pg_store::guarded(const char* what, F&& f) -> decltype(f()) {
  if (auto ok = ensure_connected(); !ok)
    return ok.err();
  try {
    return f();
  } catch (const std::exception&) {
    return failed(what);
  }
}

} // namespace gavel::adapters
