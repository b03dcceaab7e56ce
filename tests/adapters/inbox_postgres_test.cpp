#define CAF_SUITE adapters.inbox_postgres
#include "adapters/inbox.hpp"
#include "inbox_contract.hpp"
#include "pg_fixture.hpp"

#include <caf/test/unit_test.hpp>
#include <chrono>
#include <pqxx/pqxx>

using namespace gavel;
namespace contract = gavel::test::inbox_contract;

namespace {

constexpr const char* reader_name = "gavel-inbox-test";

/// The platform's PostgreSQL: here the suite's throwaway cluster, a fresh
/// database per test.
struct fixture {
  test::fresh_database db;

  struct session {
    explicit session(const std::string& url) : conn(url) {}
    void exec(const std::string& sql) {
      pqxx::nontransaction tx{conn};
      tx.exec(sql);
    }
    std::string scalar(const std::string& sql) {
      pqxx::nontransaction tx{conn};
      auto r = tx.exec(sql);
      return r.empty() || r[0][0].is_null() ? std::string{} : r[0][0].c_str();
    }
    pqxx::connection conn;
  };

  std::unique_ptr<session> open() { return std::make_unique<session>(db.url()); }

  std::unique_ptr<adapters::inbox_reader> reader() {
    auto r = adapters::make_postgres_inbox({db.url(), 3, reader_name});
    auto ok = r->apply_schema();
    CAF_REQUIRE(ok);
    return r;
  }

  void restart_ids_at(int id) {
    open()->exec("alter table gavel_inbox alter column id restart with " +
                 std::to_string(id));
  }

  std::string insert_aged(const std::string& event, int seconds) {
    return "insert into gavel_inbox (event, created_at) values ('" + event +
           "', clock_timestamp() - interval '" + std::to_string(seconds) + " seconds')";
  }

  void one_insert_wakes_the_sleeping_reader(adapters::inbox_reader& r);

  void kill_reader_sessions() {
    // The timeout makes pg_terminate_backend wait until each one has ended.
    auto killed = open()->scalar(
        std::string{"select count(*) filter (where pg_terminate_backend(pid, 10000)) "
                    "from pg_stat_activity where datname = current_database() and "
                    "application_name = '"} +
        reader_name + "'");
    CAF_REQUIRE_NOT_EQUAL(killed, "0");
  }
};

using clock_type = std::chrono::steady_clock;

/// Counts the notifications of channel gavel_inbox, as the platform's
/// server sends them (the reader's own LISTEN is elsewhere).
struct listener {
  explicit listener(const std::string& url) : conn(url), counter(conn, "gavel_inbox") {}
  struct counting final : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string&, int) override { ++count; }
    int count = 0;
  };
  /// Notifications received within `d` (all of them, once one has come).
  int received(std::chrono::milliseconds d) {
    conn.await_notification(0, static_cast<long>(d.count()) * 1000);
    conn.get_notifs();
    return counter.count;
  }
  pqxx::connection conn;
  counting counter;
};

/// Brings the reader to sleep on LISTEN: waits, reads and removes until a
/// wait times out with nothing to read.
void settle(adapters::inbox_reader& r) {
  for (int i = 0; i < 100; ++i) {
    auto woke = r.wait(std::chrono::milliseconds{50});
    CAF_REQUIRE(woke);
    if (!*woke)
      return;
    CAF_REQUIRE(r.remove(test::inbox_contract::ids(r)));
  }
  CAF_FAIL("the reader never went to sleep");
}

/// One committed insert wakes a reader asleep on LISTEN, and is read.
void fixture::one_insert_wakes_the_sleeping_reader(adapters::inbox_reader& r) {
  CAF_REQUIRE(r.read(10)); // listening from here on
  settle(r);
  open()->exec(contract::insert(contract::event(1)));
  auto start = clock_type::now();
  auto woke = r.wait(std::chrono::seconds{60});
  CAF_REQUIRE(woke);
  CAF_CHECK(*woke);
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
  CAF_CHECK_EQUAL(contract::ids(r).size(), 1u);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(inbox_postgres_tests, fixture)

CAF_TEST(a late commit is read and never skipped) {
  contract::a_late_commit_is_read_and_never_skipped(*this);
}

CAF_TEST(rows come in id order whatever the commit order) {
  contract::rows_come_in_id_order_whatever_the_commit_order(*this);
}

CAF_TEST(removed rows are gone) {
  contract::removed_rows_are_gone(*this);
}

CAF_TEST(a rejected row moves with its reason) {
  contract::a_rejected_row_moves_with_its_reason(*this);
}

CAF_TEST(a rolled back insert never appears) {
  contract::a_rolled_back_insert_never_appears(*this);
}

CAF_TEST(depth counts rows and ages the oldest) {
  contract::depth_counts_rows_and_ages_the_oldest(*this);
}

CAF_TEST(applying the schema again keeps the rows and one trigger) {
  contract::applying_the_schema_again_keeps_the_rows(*this);
  CAF_CHECK_EQUAL(open()->scalar("select count(*) from pg_trigger where tgname = "
                                 "'gavel_inbox_notify'"),
                  "1");
}

CAF_TEST(the reader connects again after its session is killed) {
  contract::the_reader_connects_again_after_its_session_is_killed(*this);
}

// The generous timeouts below only catch "never": the notification is
// already pending when wait() is called, so it returns at once.
CAF_TEST(wait returns on a committed insert) {
  auto r = reader();
  one_insert_wakes_the_sleeping_reader(*r);
}

CAF_TEST(a notification is delivered at commit and never for a rollback) {
  auto r = reader();
  CAF_REQUIRE(r->read(10));
  settle(*r);
  auto t = open();
  t->exec("begin");
  t->exec(contract::insert(contract::event(1)));
  // Nothing until the commit: an open transaction wakes nobody.
  auto before = r->wait(std::chrono::milliseconds{50});
  CAF_REQUIRE(before);
  CAF_CHECK(!*before);
  t->exec("rollback");
  auto after_rollback = r->wait(std::chrono::milliseconds{50});
  CAF_REQUIRE(after_rollback);
  CAF_CHECK(!*after_rollback);
  t->exec("begin");
  t->exec(contract::insert(contract::event(2)));
  t->exec("commit");
  auto start = clock_type::now();
  auto woke = r->wait(std::chrono::seconds{60});
  CAF_REQUIRE(woke);
  CAF_CHECK(*woke);
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
}

CAF_TEST(wait listens again after its session is killed) {
  auto r = reader();
  CAF_REQUIRE(r->read(10));
  kill_reader_sessions();
  // The dead listener is reported (or, had it not noticed yet, replaced and
  // reported as a wake-up); a wait never blocks on a dead connection.
  auto start = clock_type::now();
  auto first = r->wait(std::chrono::seconds{60});
  CAF_CHECK(!first || *first);
  if (!first)
    CAF_CHECK_EQUAL(first.err().code, "unavailable");
  if (!first) {
    auto relisten = r->wait(std::chrono::seconds{60});
    CAF_REQUIRE(relisten);
    CAF_CHECK(*relisten);
  }
  open()->exec(contract::insert(contract::event(1)));
  auto woke = r->wait(std::chrono::seconds{60});
  CAF_REQUIRE(woke);
  CAF_CHECK(*woke);
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
}

// A NOTIFY serializes the commits that send it (a database-wide lock held
// through the commit), so the platform notifies only a sleeping reader.
CAF_TEST(a busy reader is not notified and a sleeping one is) {
  auto r = reader();
  listener heard{db.url()};
  open()->exec(contract::insert(contract::event(1)));
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 1u); // busy from here on
  CAF_CHECK_EQUAL(open()->scalar("select waiting from gavel_inbox_reader"), "f");
  auto before = heard.received(std::chrono::milliseconds{200});
  open()->exec(contract::insert(contract::event(2)));
  CAF_CHECK_EQUAL(heard.received(std::chrono::milliseconds{300}), before);
  settle(*r);
  CAF_CHECK_EQUAL(open()->scalar("select waiting from gavel_inbox_reader"), "t");
  open()->exec(contract::insert(contract::event(3)));
  CAF_CHECK_GREATER(heard.received(std::chrono::seconds{30}), before);
  auto woke = r->wait(std::chrono::seconds{60});
  CAF_REQUIRE(woke);
  CAF_CHECK(*woke);
}

// T inserted while the reader was busy (so it will not notify) and commits
// after the reader marked itself waiting: the reader sees T still running
// and keeps looking instead of sleeping on LISTEN, and reads T's row once
// it commits, without a notification and without waiting for the poll.
CAF_TEST(an insert begun before the reader slept is read without a notification) {
  auto r = reader();
  listener heard{db.url()};
  open()->exec(contract::insert(contract::event(1)));
  auto first = contract::ids(*r);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_REQUIRE(r->remove(first));
  auto t = open();
  t->exec("begin");
  t->exec(contract::insert(contract::event(2)));
  auto quiet = heard.received(std::chrono::milliseconds{100});
  auto start = clock_type::now();
  for (int i = 0; i < 5; ++i) {
    CAF_CHECK(contract::ids(*r).empty());
    auto woke = r->wait(std::chrono::seconds{60});
    CAF_REQUIRE(woke);
    CAF_CHECK(*woke); // a look again, never the whole timeout
  }
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
  t->exec("commit");
  std::vector<std::int64_t> seen;
  for (int i = 0; i < 100 && seen.empty(); ++i) {
    seen = contract::ids(*r);
    if (seen.empty()) {
      auto woke = r->wait(std::chrono::seconds{60});
      CAF_REQUIRE(woke);
      CAF_REQUIRE(*woke); // the last silent commit is read before any sleep
    }
  }
  CAF_CHECK_EQUAL(seen.size(), 1u);
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
  CAF_CHECK_EQUAL(heard.received(std::chrono::milliseconds{200}), quiet);
}

CAF_TEST(without the reader table every insert notifies) {
  auto r = reader();
  open()->exec("drop table gavel_inbox_reader");
  one_insert_wakes_the_sleeping_reader(*r);
}

// The trigger runs inside the bid's transaction: it must not fail it, even
// for a role with no grant on gavel_inbox_reader.
CAF_TEST(a platform role with only insert on the inbox commits) {
  auto r = reader();
  auto admin = open();
  admin->exec(
      "do $$ begin if not exists (select 1 from pg_roles where rolname = "
      "'gavel_test_platform') then create role gavel_test_platform; end if; end $$");
  admin->exec("grant insert on gavel_inbox to gavel_test_platform");
  auto platform = open();
  platform->exec("set role gavel_test_platform");
  platform->exec("begin");
  platform->exec(contract::insert(contract::event(1)));
  platform->exec("commit");
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 1u);
  admin->exec("revoke all on gavel_inbox from gavel_test_platform");
}

CAF_TEST(an empty url is refused) {
  auto r = adapters::make_postgres_inbox({});
  auto rows = r->read(10);
  CAF_REQUIRE(!rows);
  CAF_CHECK_EQUAL(rows.err().code, "url");
}

CAF_TEST_FIXTURE_SCOPE_END()
