#pragma once

// A fresh, migrated database per test on the suite's throwaway cluster
// (started by the CTest fixture scripts/test-pg.sh).

#include "adapters/postgres/store.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace gavel::test {

inline std::string env_or_throw(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    throw std::runtime_error(std::string{name} +
                             " is not set: run the tests through ctest");
  return v;
}

/// Creates database gavel_t<pid>_<n> and migrates it; drops it at the end.
class fresh_database {
public:
  fresh_database() {
    static std::atomic<int> counter{0};
    admin_url_ = env_or_throw("GAVEL_TEST_DATABASE_URL");
    name_ = "gavel_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    adapters::pg_store admin{{admin_url_}};
    auto r = admin.query("create database " + name_);
    if (!r)
      throw std::runtime_error("create database: " + r.err().message);
    auto pos = admin_url_.find("/postgres?");
    url_ = admin_url_.substr(0, pos) + "/" + name_ + admin_url_.substr(pos + 9);
    adapters::pg_store db{{url_}};
    auto v = db.migrate();
    if (!v)
      throw std::runtime_error("migrate: " + v.err().message);
  }
  ~fresh_database() {
    adapters::pg_store admin{{admin_url_}};
    (void)admin.query("drop database if exists " + name_ + " with (force)");
  }
  const std::string& url() const { return url_; }

  /// Runs one statement against this database, returning the first cell.
  std::string scalar(const std::string& sql) const {
    adapters::pg_store db{{url_}};
    auto r = db.query(sql);
    if (!r)
      throw std::runtime_error(sql + ": " + r.err().message);
    return r->empty() || r->front().empty() ? std::string{} : r->front().front();
  }

private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

/// Stops / starts the suite's cluster (tests of database outages).
inline int pg_ctl(const std::string& action) {
  // The real path: DIR may be a symlink (scripts/test-pg.sh keeps the cluster
  // where the server user can reach it), and the server is given real paths.
  auto dir =
      std::filesystem::weakly_canonical(env_or_throw("GAVEL_TEST_PG_DIR")).string();
  auto port = env_or_throw("GAVEL_TEST_PG_PORT");
  std::string prefix = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
  std::string cmd;
  if (action == "stop")
    cmd = prefix + "/usr/lib/postgresql/15/bin/pg_ctl -D " + dir +
          "/data -m immediate -w stop";
  else
    cmd = prefix + "/usr/lib/postgresql/15/bin/pg_ctl -D " + dir + "/data -l " + dir +
          "/restart.log -w start";
  cmd += " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

} // namespace gavel::test
