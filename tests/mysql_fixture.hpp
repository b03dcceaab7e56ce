#pragma once

// A fresh database per test on the suite's throwaway MariaDB (started by the
// CTest fixture scripts/test-mysql.sh), and a plain session on it.

#include "pg_fixture.hpp"
#include "protocols/crypto.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mysql.h>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace gavel::test {

/// The server's directory (its real path: DIR may be a symlink).
inline std::string mysql_dir() {
  return std::filesystem::weakly_canonical(env_or_throw("GAVEL_TEST_MYSQL_DIR")).string();
}

inline std::string mysql_socket() {
  return mysql_dir() + "/mysqld.sock";
}

inline unsigned mysql_port() {
  std::ifstream in{mysql_dir() + "/port"};
  unsigned port = 0;
  if (!(in >> port))
    throw std::runtime_error("no port in " + mysql_dir() + "/port");
  return port;
}

/// One root session over the socket, in autocommit; throws on any error.
class mysql_session {
public:
  explicit mysql_session(const std::string& database = {}) {
    conn_ = mysql_init(nullptr);
    if (mysql_real_connect(conn_, "localhost", "root", "",
                           database.empty() ? nullptr : database.c_str(), 0,
                           mysql_socket().c_str(), 0) == nullptr) {
      std::string message = mysql_error(conn_);
      mysql_close(conn_);
      throw std::runtime_error("mysql connect: " + message);
    }
  }
  ~mysql_session() { mysql_close(conn_); }
  mysql_session(const mysql_session&) = delete;
  mysql_session& operator=(const mysql_session&) = delete;

  void exec(const std::string& sql) {
    if (mysql_real_query(conn_, sql.data(), sql.size()) != 0)
      throw std::runtime_error(sql + ": " + mysql_error(conn_));
    if (auto* res = mysql_store_result(conn_))
      mysql_free_result(res);
  }

  /// The first column of every row.
  std::vector<std::string> column(const std::string& sql) {
    if (mysql_real_query(conn_, sql.data(), sql.size()) != 0)
      throw std::runtime_error(sql + ": " + mysql_error(conn_));
    auto* res = mysql_store_result(conn_);
    std::vector<std::string> out;
    if (res == nullptr)
      return out;
    while (auto row = mysql_fetch_row(res))
      out.emplace_back(row[0] == nullptr ? "" : row[0]);
    mysql_free_result(res);
    return out;
  }

  std::string scalar(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? std::string{} : c.front();
  }

private:
  MYSQL* conn_ = nullptr;
};

/// Creates database gavel_t<pid>_<n>; drops it at the end.
class fresh_mysql_database {
public:
  fresh_mysql_database() {
    static std::atomic<int> counter{0};
    name_ = "gavel_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    mysql_session admin;
    admin.exec("create database " + name_);
  }
  ~fresh_mysql_database() {
    try {
      mysql_session admin;
      admin.exec("drop database if exists " + name_);
    } catch (const std::exception&) {
      // A server gone at the end of a test leaves nothing to clean.
    }
  }
  const std::string& name() const { return name_; }

  /// root over the Unix socket.
  std::string socket_url() const {
    return "mysql://root@localhost/" + name_ + "?socket=" + mysql_socket();
  }

  /// The password user over loopback TCP, its password percent-encoded.
  std::string tcp_url(const std::string& password) const {
    return "mysql://gavel:" + protocols::url_encode(password) +
           "@127.0.0.1:" + std::to_string(mysql_port()) + "/" + name_;
  }

private:
  std::string name_;
};

} // namespace gavel::test
