// The PostgreSQL inbox reader (adapters/inbox.hpp): one connection for the
// reads and writes, in autocommit so every read is a snapshot of its own, and
// a second one that only LISTENs, so wait() can block on it without holding
// up anything else.
//
// The platform's inserts notify only while the reader says it sleeps
// (gavel_inbox_reader.waiting, inbox.sql: notifying commits are serialized
// by the server). Going to sleep is therefore a handshake, so that no
// committed row waits for the poll: (1) mark waiting; (2) wait until no
// other session holds the insert lock on gavel_inbox, polling meanwhile:
// a transaction that inserted before the mark saw "busy" and will not
// notify, and it holds that lock until it ends; (3) read once more, which
// sees every such row; (4) block on LISTEN: every later insert sees
// "waiting" and notifies. The first read that finds rows marks busy again.
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
      if (!out.empty())
        mark_busy(tx);
      else if (sleep_ == sleep_state::marked_clear)
        sleep_ = sleep_state::asleep;
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
    if (sleep_ == sleep_state::asleep || sleep_ == sleep_state::legacy)
      return block(timeout);
    if (sleep_ == sleep_state::marked_clear)
      return true; // the read that sees the last silent commits comes first
    auto clear = sleep_ == sleep_state::marked ? inserters_gone() : mark_waiting();
    if (!clear)
      return clear.err();
    if (!*clear) {
      // An insert begun before the mark may commit any moment, silently.
      if (auto woke = block(std::min(timeout, inserter_poll)); !woke)
        return woke.err();
    }
    return true;
  }

private:
  /// The reader's side of the sleep handshake (top of the file).
  enum class sleep_state {
    unknown,      ///< after a start: whatever the table says
    busy,         ///< marked busy
    marked,       ///< marked; inserts begun before the mark may be running
    marked_clear, ///< none are; one more read, then sleep
    asleep,       ///< every commit from here on notifies
    legacy,       ///< gavel_inbox_reader missing (or not ours to update): the
                  ///< trigger notifies every insert
  };

  /// How often to look again while an insert begun before the mark runs.
  static constexpr std::chrono::milliseconds inserter_poll{20};

  /// Marks waiting; true when no insert begun before could still commit.
  expected<bool> mark_waiting() {
    return guarded("mark inbox reader waiting", [&]() -> expected<bool> {
      pqxx::nontransaction tx{*conn_};
      if (!write_waiting(tx, true))
        return true;
      sleep_ = sleep_state::marked;
      return clear_of_inserters(tx);
    });
  }

  expected<bool> inserters_gone() {
    return guarded("look for inbox inserters", [&]() -> expected<bool> {
      pqxx::nontransaction tx{*conn_};
      return clear_of_inserters(tx);
    });
  }

  /// Whether any other session (a prepared transaction too: no pid) holds
  /// or waits for the lock an INSERT takes on gavel_inbox.
  bool clear_of_inserters(pqxx::transaction_base& tx) {
    auto r = tx.exec("select not exists (select 1 from pg_locks "
                     "where locktype = 'relation' and database = (select oid from "
                     "pg_database where datname = current_database()) "
                     "and relation = 'gavel_inbox'::regclass "
                     "and mode = 'RowExclusiveLock' "
                     "and pid is distinct from pg_backend_pid())");
    bool clear = r[0][0].as<bool>();
    if (clear)
      sleep_ = sleep_state::marked_clear;
    return clear;
  }

  void mark_busy(pqxx::transaction_base& tx) {
    if (sleep_ == sleep_state::busy || sleep_ == sleep_state::legacy)
      return;
    if (write_waiting(tx, false))
      sleep_ = sleep_state::busy;
  }

  /// Writes the reader's flag; false (and legacy from then on) when the
  /// table is missing or not ours to update.
  bool write_waiting(pqxx::transaction_base& tx, bool waiting) {
    try {
      tx.exec(waiting ? "update gavel_inbox_reader set waiting = true"
                      : "update gavel_inbox_reader set waiting = false");
      return true;
    } catch (const pqxx::undefined_table&) {
    } catch (const pqxx::insufficient_privilege&) {
    }
    sleep_ = sleep_state::legacy;
    return false;
  }

  expected<bool> block(std::chrono::milliseconds timeout) {
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
  sleep_state sleep_ = sleep_state::unknown;
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
