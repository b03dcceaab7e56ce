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
  CAF_REQUIRE(r->read(10)); // listening from here on
  open()->exec(contract::insert(contract::event(1)));
  auto start = clock_type::now();
  auto woke = r->wait(std::chrono::seconds{60});
  CAF_REQUIRE(woke);
  CAF_CHECK(*woke);
  CAF_CHECK_LESS(clock_type::now() - start, std::chrono::seconds{30});
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 1u);
}

CAF_TEST(a notification is delivered at commit and never for a rollback) {
  auto r = reader();
  CAF_REQUIRE(r->read(10));
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

CAF_TEST(an empty url is refused) {
  auto r = adapters::make_postgres_inbox({});
  auto rows = r->read(10);
  CAF_REQUIRE(!rows);
  CAF_CHECK_EQUAL(rows.err().code, "url");
}

CAF_TEST_FIXTURE_SCOPE_END()
