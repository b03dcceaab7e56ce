// The store's one connection: opening it (and, first, resolving a commit
// whose outcome is unknown), closing it, and the raw query tools use.
#include "adapters/postgres/guarded.hpp"

#include <pqxx/pqxx>

namespace gavel::adapters {

pg_store::pg_store(options opts) : opts_(std::move(opts)) {}

pg_store::~pg_store() = default;

void pg_store::connection_deleter::operator()(pqxx::connection_base* c) const noexcept {
  delete static_cast<pqxx::connection*>(c);
}

bool pg_store::connected() const noexcept {
  return conn_ != nullptr && conn_->is_open();
}

std::string postgres::libpq_url(std::string url, int connect_timeout_seconds,
                                const std::string& application_name) {
  // libpq accepts both URIs and key=value strings; options are appended in
  // the matching syntax.
  auto timeout = std::to_string(connect_timeout_seconds);
  if (url.rfind("postgres", 0) == 0) {
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += "connect_timeout=" + timeout + "&application_name=" + application_name;
  } else {
    url += " connect_timeout=" + timeout + " application_name=" + application_name;
  }
  return url;
}

std::string pg_store::connection_url() const {
  return postgres::libpq_url(opts_.url, opts_.connect_timeout_seconds,
                             opts_.application_name);
}

expected<done> pg_store::ensure_connected() {
  if (connected())
    return done{};
  conn_.reset();
  if (doubt_) {
    // Nothing may commit before the outcome of the earlier commit is known:
    // a later position must never become visible ahead of an earlier row.
    auto known = resolve_doubt();
    if (!known)
      return known.err();
  }
  try {
    conn_.reset(new pqxx::connection(connection_url()));
    prepared_ = false;
    if (!opts_.synchronous_commit) {
      pqxx::nontransaction tx{*conn_};
      tx.exec("set synchronous_commit = off");
    }
    return done{};
  } catch (const std::exception& e) {
    conn_.reset();
    // A server that cannot write may refuse connections with the errno text
    // (e.g. "could not write init file: No space left on device").
    return storage_refused({}, e.what()) ? postgres::storage("connect", e)
                                         : postgres::unavailable("connect", e);
  }
}

expected<std::vector<std::vector<std::string>>> pg_store::query(const std::string& sql) {
  return guarded("query", [&]() -> expected<std::vector<std::vector<std::string>>> {
    pqxx::nontransaction tx{*conn_};
    std::vector<std::vector<std::string>> out;
    for (const auto& row : tx.exec(sql)) {
      std::vector<std::string> cells;
      for (const auto& f : row)
        cells.emplace_back(f.is_null() ? "" : f.c_str());
      out.push_back(std::move(cells));
    }
    return out;
  });
}

} // namespace gavel::adapters
