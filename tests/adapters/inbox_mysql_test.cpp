#define CAF_SUITE adapters.inbox_mysql
#include "adapters/inbox.hpp"
#include "inbox_contract.hpp"
#include "mysql_fixture.hpp"

#include <caf/test/unit_test.hpp>
#include <chrono>

using namespace gavel;
namespace contract = gavel::test::inbox_contract;

namespace {

/// The platform's MariaDB: the suite's throwaway server, a fresh database per
/// test. The reader connects as `gavel` over loopback TCP with a password
/// that needs percent-encoding, so every test also proves the url; the
/// platform's sessions are root's over the socket.
struct fixture {
  test::fresh_mysql_database db;
  std::string password = test::env_or_throw("GAVEL_TEST_MYSQL_PASSWORD");

  using session = test::mysql_session;

  std::unique_ptr<session> open() { return std::make_unique<session>(db.name()); }

  std::unique_ptr<adapters::inbox_reader> reader() {
    auto r = adapters::make_mysql_inbox({db.tcp_url(password), 3, "gavel-inbox-test"});
    auto ok = r->apply_schema();
    CAF_REQUIRE(ok);
    return r;
  }

  void restart_ids_at(int id) {
    open()->exec("alter table gavel_inbox auto_increment = " + std::to_string(id));
  }

  std::string insert_aged(const std::string& event, int seconds) {
    return "insert into gavel_inbox (event, created_at) values ('" + event +
           "', current_timestamp(6) - interval " + std::to_string(seconds) + " second)";
  }

  void kill_reader_sessions() {
    auto admin = open();
    auto where = "from information_schema.processlist where user = 'gavel' and db = '" +
                 db.name() + "'";
    auto ids = admin->column("select id " + where);
    CAF_REQUIRE(!ids.empty());
    for (const auto& id : ids)
      admin->exec("kill connection " + id);
    // KILL only flags the session; wait until the server has ended it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (admin->scalar("select count(*) " + where) != "0")
      CAF_REQUIRE(std::chrono::steady_clock::now() < deadline);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(inbox_mysql_tests, fixture)

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

CAF_TEST(applying the schema again keeps the rows) {
  contract::applying_the_schema_again_keeps_the_rows(*this);
}

CAF_TEST(the reader connects again after its session is killed) {
  contract::the_reader_connects_again_after_its_session_is_killed(*this);
}

CAF_TEST(reads are fresh even when the server defaults to repeatable read) {
  // MariaDB's default isolation: a reader that ran its reads in one
  // transaction would keep seeing the first snapshot.
  auto admin = open();
  CAF_REQUIRE_EQUAL(admin->scalar("select @@global.tx_isolation"), "REPEATABLE-READ");
  auto r = reader();
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 0u);
  admin->exec(contract::insert(contract::event(1)));
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 1u);
}

CAF_TEST(a socket url works) {
  auto r = adapters::make_mysql_inbox({db.socket_url(), 3, "gavel-inbox-test"});
  CAF_REQUIRE(r->apply_schema());
  open()->exec(contract::insert(contract::event(1)));
  CAF_CHECK_EQUAL(contract::ids(*r).size(), 1u);
}

CAF_TEST(a wrong password is unavailable and says why) {
  auto r =
      adapters::make_mysql_inbox({db.tcp_url(password + "x"), 3, "gavel-inbox-test"});
  auto rows = r->read(10);
  CAF_REQUIRE(!rows);
  CAF_CHECK_EQUAL(rows.err().code, "unavailable");
  CAF_CHECK_NOT_EQUAL(rows.err().message.find("Access denied"), std::string::npos);
  // The password never appears in the error.
  CAF_CHECK_EQUAL(rows.err().message.find(password), std::string::npos);
}

CAF_TEST(wait sleeps its timeout and says it was not woken) {
  auto r = reader();
  auto woke = r->wait(std::chrono::milliseconds{1});
  CAF_REQUIRE(woke);
  CAF_CHECK(!*woke);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(mysql urls) {
  using adapters::parse_mysql_url;
  auto tcp = parse_mysql_url("mysql://wp:p%40ss%2Fw+rd%25@db.example:3307/wordpress");
  CAF_REQUIRE(tcp);
  CAF_CHECK_EQUAL(tcp->user, "wp");
  // '+' is a '+' in a URI's user information, not a space.
  CAF_CHECK_EQUAL(tcp->password, "p@ss/w+rd%");
  CAF_CHECK_EQUAL(tcp->host, "db.example");
  CAF_CHECK_EQUAL(tcp->port, 3307u);
  CAF_CHECK_EQUAL(tcp->database, "wordpress");
  CAF_CHECK_EQUAL(tcp->socket, "");
  auto sock =
      parse_mysql_url("mysql://wp@localhost/wordpress?socket=/run/mysqld/mysqld.sock");
  CAF_REQUIRE(sock);
  CAF_CHECK_EQUAL(sock->user, "wp");
  CAF_CHECK_EQUAL(sock->password, "");
  CAF_CHECK_EQUAL(sock->port, 3306u);
  CAF_CHECK_EQUAL(sock->socket, "/run/mysqld/mysqld.sock");
  auto v6 = parse_mysql_url("mysql://wp:x@[::1]:3306/wp");
  CAF_REQUIRE(v6);
  CAF_CHECK_EQUAL(v6->host, "::1");
  for (const char* bad :
       {"postgres://wp@h/db", "mysql://h/db", "mysql://wp@h", "mysql://wp@h/",
        "mysql://wp@h:0/db", "mysql://wp@h:x/db", "mysql://wp@h:/db",
        "mysql://wp:%zz@h/db", "mysql://wp:%4@h/db", "mysql://wp@h/db?ssl=1",
        "mysql://@h/db", "mysql://wp@/db", "mysql://wp@h/db/x"}) {
    auto u = parse_mysql_url(bad);
    CAF_CHECK(!u);
    if (!u)
      CAF_CHECK_EQUAL(u.err().code, "url");
    else
      CAF_MESSAGE("accepted " << bad);
  }
}

CAF_TEST(the inbox schema is there for both kinds) {
  using adapters::inbox_kind;
  CAF_CHECK(adapters::parse_inbox_kind("postgres") == inbox_kind::postgres);
  CAF_CHECK(adapters::parse_inbox_kind("mysql") == inbox_kind::mysql);
  CAF_CHECK(!adapters::parse_inbox_kind("mariadb"));
  for (auto kind : {inbox_kind::postgres, inbox_kind::mysql}) {
    auto ddl = adapters::inbox_schema(kind);
    CAF_CHECK_NOT_EQUAL(ddl.find("create table if not exists gavel_inbox ("),
                        std::string_view::npos);
    CAF_CHECK_NOT_EQUAL(ddl.find("create table if not exists gavel_inbox_rejected ("),
                        std::string_view::npos);
  }
  CAF_CHECK_NOT_EQUAL(adapters::inbox_schema(inbox_kind::postgres).find("pg_notify"),
                      std::string_view::npos);
}
