// The PostgreSQL inbox reader (adapters/inbox.hpp): one connection for the
// reads and writes, in autocommit so every read is a snapshot of its own, and
// a second one that only LISTENs, so wait() can block on it without holding
// up anything else.
#include "adapters/inbox.hpp"

#include "adapters/postgres/guarded.hpp"

#include <memory>
#include <pqxx/pqxx>

namespace gavel::adapters {

using protocols::error;

namespace {

/// The channel the trigger in inbox.sql notifies.
constexpr const char* channel = "gavel_inbox";

class wake_counter final : public pqxx::notification_receiver {
public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override { ++count; }
  int count = 0;
};

class postgres_inbox final : public inbox_reader {
public:
  explicit postgres_inbox(inbox_options opts) : opts_(std::move(opts)) {}

  expected<done> apply_schema() override {
    return guarded("apply inbox schema", [&]() -> expected<done> {
      pqxx::work tx{*conn_};
      // Two Gavels starting at once would race on `create table if not
      // exists` (a unique violation in the catalog); the lock orders them.
      tx.exec("select pg_advisory_xact_lock(hashtext('gavel_inbox_schema'))");
      tx.exec(std::string{inbox_schema(inbox_kind::postgres)});
      tx.commit();
      return done{};
    });
  }

  expected<std::vector<inbox_row>> read(std::size_t limit) override {
    // Listening before the snapshot is taken: a row committed after it
    // either is in this read or wakes the next wait().
    if (!listening())
      (void)listen();
    return guarded("read inbox", [&]() -> expected<std::vector<inbox_row>> {
      pqxx::nontransaction tx{*conn_};
      auto rows = tx.exec_params(
          "select id, event, floor(extract(epoch from created_at) * 1000)::bigint "
          "from gavel_inbox order by id limit $1",
          static_cast<long long>(limit));
      std::vector<inbox_row> out;
      out.reserve(rows.size());
      for (const auto& r : rows)
        out.push_back(
            {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::int64_t>()});
      return out;
    });
  }

  expected<done> remove(const std::vector<std::int64_t>& ids) override {
    if (ids.empty())
      return done{};
    return guarded("remove inbox rows", [&]() -> expected<done> {
      pqxx::nontransaction tx{*conn_};
      tx.exec_params("delete from gavel_inbox where id = any($1::bigint[])",
                     id_array(ids));
      return done{};
    });
  }

  expected<bool> reject(std::int64_t id, const std::string& reason) override {
    return guarded("reject inbox row", [&]() -> expected<bool> {
      pqxx::nontransaction tx{*conn_};
      // One statement, so the move is atomic in autocommit. An id rejected
      // before (a restarted identity) keeps only its newest rejection.
      auto r = tx.exec_params(
          "with moved as (delete from gavel_inbox where id = $1 returning id, event) "
          "insert into gavel_inbox_rejected (id, event, reason) "
          "select id, event, $2 from moved "
          "on conflict (id) do update set event = excluded.event, "
          "reason = excluded.reason, rejected_at = now() "
          "returning id",
          static_cast<long long>(id), reason);
      return !r.empty();
    });
  }

  expected<inbox_depth> depth() override {
    return guarded("inbox depth", [&]() -> expected<inbox_depth> {
      pqxx::nontransaction tx{*conn_};
      auto r = tx.exec("select count(*), floor(extract(epoch from clock_timestamp() - "
                       "min(created_at)) * 1000)::bigint from gavel_inbox");
      inbox_depth d;
      d.rows = r[0][0].as<std::int64_t>();
      if (!r[0][1].is_null())
        d.oldest_age = std::chrono::milliseconds{r[0][1].as<std::int64_t>()};
      return d;
    });
  }

  expected<bool> wait(std::chrono::milliseconds timeout) override {
    if (!listening()) {
      // Whatever was committed while nobody listened went unannounced.
      if (auto ok = listen(); !ok)
        return ok.err();
      return true;
    }
    try {
      if (listen_conn_->get_notifs() > 0)
        return take_wakes();
      auto us = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
      listen_conn_->await_notification(static_cast<long>(us / 1'000'000),
                                       static_cast<long>(us % 1'000'000));
      return take_wakes();
    } catch (const std::exception& e) {
      drop_listener();
      return postgres::unavailable("wait for inbox notification", e);
    }
  }

private:
  std::string url() const {
    return postgres::libpq_url(opts_.url, opts_.connect_timeout_seconds,
                               opts_.application_name);
  }

  bool connected() const { return conn_ && conn_->is_open(); }
  bool listening() const { return listen_conn_ && listen_conn_->is_open() && receiver_; }

  expected<done> connect() {
    if (connected())
      return done{};
    conn_.reset();
    if (opts_.url.empty())
      return error{
          "url", {}, "postgres inbox: empty url (pass Gavel's own database url)"};
    try {
      conn_ = std::make_unique<pqxx::connection>(url());
      return done{};
    } catch (const std::exception& e) {
      conn_.reset();
      return postgres::unavailable("connect to inbox database", e);
    }
  }

  expected<done> listen() {
    drop_listener();
    if (opts_.url.empty())
      return error{
          "url", {}, "postgres inbox: empty url (pass Gavel's own database url)"};
    try {
      listen_conn_ = std::make_unique<pqxx::connection>(url());
      // Registering the receiver sends LISTEN.
      receiver_ = std::make_unique<wake_counter>(*listen_conn_, channel);
      return done{};
    } catch (const std::exception& e) {
      drop_listener();
      return postgres::unavailable("listen for inbox notifications", e);
    }
  }

  void drop_listener() {
    receiver_.reset();
    listen_conn_.reset();
  }

  bool take_wakes() {
    bool woke = receiver_->count > 0;
    receiver_->count = 0;
    return woke;
  }

  static std::string id_array(const std::vector<std::int64_t>& ids) {
    std::string out = "{";
    for (auto id : ids) {
      if (out.size() > 1)
        out += ',';
      out += std::to_string(id);
    }
    out += '}';
    return out;
  }

  /// Connects when needed, runs `f` and turns libpqxx exceptions into the
  /// codes of inbox.hpp; a broken connection is dropped, so the next call
  /// connects again.
  template <class F> auto guarded(const char* what, F&& f) -> decltype(f()) {
    if (auto ok = connect(); !ok)
      return ok.err();
    try {
      return f();
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      return postgres::unavailable(what, e);
    } catch (const pqxx::sql_error& e) {
      // Class 08 (connection exception) and 57P (operator intervention:
      // shutdown, a terminated backend) pass with a new connection.
      const auto& state = e.sqlstate();
      if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || !conn_->is_open()) {
        conn_.reset();
        return postgres::unavailable(what, e);
      }
      return error{"internal", {}, std::string{what} + ": " + e.what()};
    } catch (const std::exception& e) {
      if (!conn_->is_open()) {
        conn_.reset();
        return postgres::unavailable(what, e);
      }
      return error{"internal", {}, std::string{what} + ": " + e.what()};
    }
  }

  inbox_options opts_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::connection> listen_conn_;
  // Declared after its connection so that it is destroyed first: it
  // unlistens through it.
  std::unique_ptr<wake_counter> receiver_;
};

} // namespace

std::unique_ptr<inbox_reader> make_postgres_inbox(inbox_options opts) {
  return std::make_unique<postgres_inbox>(std::move(opts));
}

std::optional<inbox_kind> parse_inbox_kind(std::string_view text) {
  if (text == "postgres")
    return inbox_kind::postgres;
  if (text == "mysql")
    return inbox_kind::mysql;
  return std::nullopt;
}

} // namespace gavel::adapters
