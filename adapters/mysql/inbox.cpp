// The MySQL/MariaDB inbox reader (adapters/inbox.hpp) on MariaDB Connector/C.
// One connection in autocommit at READ COMMITTED: every SELECT is a snapshot
// of its own and takes no lock, so a row whose transaction commits late is
// seen by the first read after its commit and an open platform transaction
// holds back nothing but its own rows.
#include "adapters/inbox.hpp"

#include <charconv>
#include <errmsg.h>
#include <mutex>
#include <mysql.h>
#include <mysqld_error.h>
#include <thread>

namespace gavel::adapters {

using protocols::error;

namespace {

class mysql_inbox final : public inbox_reader {
public:
  explicit mysql_inbox(inbox_options opts) : opts_(std::move(opts)) {}

  ~mysql_inbox() override { disconnect(); }

  expected<done> apply_schema() override {
    return guarded("apply inbox schema", [&]() -> expected<done> {
      // The connection runs one statement per call (no multi-statements:
      // nothing a caller passes in could ever smuggle in a second one).
      std::string_view ddl = inbox_schema(inbox_kind::mysql);
      while (!ddl.empty()) {
        auto end = ddl.find(";\n");
        auto statement = strip_comments(ddl.substr(0, end));
        ddl = end == std::string_view::npos ? std::string_view{} : ddl.substr(end + 2);
        if (statement.find_first_not_of(" \n") == std::string::npos)
          continue;
        if (auto ok = exec(statement); !ok)
          return ok.err();
      }
      return done{};
    });
  }

  expected<std::vector<inbox_row>> read(std::size_t limit) override {
    return guarded("read inbox", [&]() -> expected<std::vector<inbox_row>> {
      auto sql = "select id, event, cast(floor(unix_timestamp(created_at) * 1000) as "
                 "signed) from gavel_inbox order by id limit " +
                 std::to_string(limit);
      if (auto ok = exec(sql); !ok)
        return ok.err();
      auto* res = mysql_store_result(conn_);
      if (res == nullptr)
        return failure("read inbox");
      std::vector<inbox_row> out;
      out.reserve(mysql_num_rows(res));
      while (auto row = mysql_fetch_row(res)) {
        auto* lengths = mysql_fetch_lengths(res);
        out.push_back({to_int(row[0]), std::string{row[1], lengths[1]}, to_int(row[2])});
      }
      mysql_free_result(res);
      return out;
    });
  }

  expected<done> remove(const std::vector<std::int64_t>& ids) override {
    return guarded("remove inbox rows", [&]() -> expected<done> {
      // Keyed by primary key: record locks on these rows only, for the
      // statement's own short life.
      constexpr std::size_t chunk = 1000;
      for (std::size_t i = 0; i < ids.size(); i += chunk) {
        std::string sql = "delete from gavel_inbox where id in (";
        for (std::size_t j = i; j < std::min(ids.size(), i + chunk); ++j) {
          if (j > i)
            sql += ',';
          sql += std::to_string(ids[j]);
        }
        sql += ')';
        if (auto ok = exec(sql); !ok)
          return ok.err();
      }
      return done{};
    });
  }

  expected<bool> reject(std::int64_t id, const std::string& reason) override {
    return guarded("reject inbox row", [&]() -> expected<bool> {
      auto key = std::to_string(id);
      if (auto ok = exec("start transaction"); !ok)
        return ok.err();
      // An id rejected before (an auto-increment that restarted) keeps only
      // its newest rejection.
      auto moved = exec("insert into gavel_inbox_rejected (id, event, reason) "
                        "select id, event, " +
                        quote(reason) + " from gavel_inbox where id = " + key +
                        " on duplicate key update event = values(event), "
                        "reason = values(reason), rejected_at = current_timestamp(6)");
      if (moved)
        moved = exec("delete from gavel_inbox where id = " + key);
      if (!moved) {
        (void)rollback();
        return moved.err();
      }
      if (mysql_affected_rows(conn_) != 1) {
        // Not there (any more): nothing was inserted either.
        if (auto ok = rollback(); !ok)
          return ok.err();
        return false;
      }
      if (auto ok = exec("commit"); !ok)
        return ok.err();
      return true;
    });
  }

  expected<inbox_depth> depth() override {
    return guarded("inbox depth", [&]() -> expected<inbox_depth> {
      if (auto ok = exec("select count(*), timestampdiff(microsecond, min(created_at), "
                         "current_timestamp(6)) div 1000 from gavel_inbox");
          !ok)
        return ok.err();
      auto* res = mysql_store_result(conn_);
      if (res == nullptr)
        return failure("inbox depth");
      inbox_depth d;
      if (auto row = mysql_fetch_row(res)) {
        d.rows = to_int(row[0]);
        if (row[1] != nullptr)
          d.oldest_age = std::chrono::milliseconds{to_int(row[1])};
      }
      mysql_free_result(res);
      return d;
    });
  }

  expected<bool> wait(std::chrono::milliseconds timeout) override {
    // MySQL has no notification a client can wait on: the caller polls.
    std::this_thread::sleep_for(timeout);
    return false;
  }

private:
  /// Connects when needed (checking the url the first time), then runs `f`.
  template <class F> auto guarded(const char* what, F&& f) -> decltype(f()) {
    if (auto ok = connect(); !ok)
      return ok.err();
    return f();
  }

  expected<done> connect() {
    if (conn_ != nullptr)
      return done{};
    if (!url_) {
      auto u = parse_mysql_url(opts_.url);
      if (!u)
        return u.err();
      url_ = std::move(*u);
    }
    conn_ = mysql_init(nullptr);
    if (conn_ == nullptr)
      return error{"internal", {}, "mysql_init: out of memory"};
    unsigned timeout = static_cast<unsigned>(opts_.connect_timeout_seconds);
    // A server that stops answering fails the call instead of hanging it.
    unsigned io_timeout = 30;
    my_bool no = 0;
    mysql_optionsv(conn_, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(conn_, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_optionsv(conn_, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    // A silent reconnect would lose the session settings below.
    mysql_optionsv(conn_, MYSQL_OPT_RECONNECT, &no);
    mysql_optionsv(conn_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(conn_, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name",
                   opts_.application_name.c_str());
    // Never read option files: the url says everything.
    const auto& u = *url_;
    const char* host = u.socket.empty() ? u.host.c_str() : "localhost";
    const char* socket = u.socket.empty() ? nullptr : u.socket.c_str();
    if (mysql_real_connect(conn_, host, u.user.c_str(), u.password.c_str(),
                           u.database.c_str(), u.port, socket, 0) == nullptr) {
      error e{"unavailable",
              {},
              std::string{"connect to inbox database: "} + mysql_error(conn_)};
      disconnect();
      return e;
    }
    mysql_autocommit(conn_, 1);
    // Each SELECT sees what is committed when it starts; no gap locks.
    // A lock the platform holds is waited on briefly, never for the
    // server's default 50 s.
    for (const char* sql : {"set session transaction isolation level read committed",
                            "set session innodb_lock_wait_timeout = 5"}) {
      if (mysql_query(conn_, sql) != 0) {
        auto e = failure("set up inbox session");
        disconnect();
        return e;
      }
    }
    return done{};
  }

  void disconnect() {
    if (conn_ != nullptr)
      mysql_close(conn_);
    conn_ = nullptr;
  }

  expected<done> exec(const std::string& sql) {
    if (mysql_real_query(conn_, sql.data(), sql.size()) != 0)
      return failure("query");
    return done{};
  }

  expected<done> rollback() {
    if (conn_ == nullptr)
      return done{};
    return exec("rollback");
  }

  /// The last error as an inbox error; a connection that broke (or that the
  /// server killed or is shutting down) is dropped so the next call
  /// connects again.
  error failure(const char* what) {
    auto code = mysql_errno(conn_);
    std::string message =
        std::string{what} + ": " + mysql_error(conn_) + " (" + std::to_string(code) + ")";
    bool broken = (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) ||
                  code == ER_CONNECTION_KILLED || code == ER_SERVER_SHUTDOWN ||
                  code == ER_QUERY_INTERRUPTED;
    if (broken) {
      disconnect();
      return error{"unavailable", {}, std::move(message)};
    }
    if (code == ER_LOCK_WAIT_TIMEOUT || code == ER_LOCK_DEADLOCK)
      return error{"unavailable", {}, std::move(message)};
    return error{"internal", {}, std::move(message)};
  }

  std::string quote(const std::string& s) {
    std::string out(s.size() * 2 + 1, '\0');
    auto n = mysql_real_escape_string(conn_, out.data(), s.data(),
                                      static_cast<unsigned long>(s.size()));
    out.resize(n);
    return "'" + out + "'";
  }

  static std::string strip_comments(std::string_view statement) {
    std::string out;
    while (!statement.empty()) {
      auto nl = statement.find('\n');
      auto line = statement.substr(0, nl);
      if (line.substr(0, 2) != "--") {
        out += line;
        out += '\n';
      }
      statement =
          nl == std::string_view::npos ? std::string_view{} : statement.substr(nl + 1);
    }
    return out;
  }

  static std::int64_t to_int(const char* s) {
    std::int64_t v = 0;
    if (s != nullptr)
      std::from_chars(s, s + std::char_traits<char>::length(s), v);
    return v;
  }

  inbox_options opts_;
  std::optional<mysql_url> url_;
  MYSQL* conn_ = nullptr;
};

} // namespace

std::unique_ptr<inbox_reader> make_mysql_inbox(inbox_options opts) {
  // mysql_init would initialise the library on first use, but not safely
  // from two threads at once.
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
  return std::make_unique<mysql_inbox>(std::move(opts));
}

} // namespace gavel::adapters
