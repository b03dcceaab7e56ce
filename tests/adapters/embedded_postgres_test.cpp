#define CAF_SUITE adapters.embedded_postgres
#include "adapters/postgres/embedded_postgres.hpp"
#include "adapters/postgres/embedded_postgres_supervisor.hpp"

#include <caf/test/unit_test.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <pqxx/pqxx>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

using gavel::adapters::embedded_postgres;
using gavel::adapters::embedded_postgres_supervisor;
namespace fs = std::filesystem;

namespace {

/// A scratch directory every user can traverse (the server may run as
/// `postgres` while the test runs as root), removed at the end.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    char name[] = "/tmp/gavel-embedded-pg-XXXXXX";
    CAF_REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
    ::chmod(name, 0755);
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// The first column of the first row; a failure is returned as text so that a
/// check fails (instead of an exception ending the test binary).
std::string query_one(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c{url};
    pqxx::work w{c};
    auto row = w.exec1(sql);
    w.commit();
    return row[0].c_str();
  } catch (const std::exception& e) {
    return std::string{"error: "} + e.what();
  }
}

bool can_connect(const std::string& url) {
  try {
    pqxx::connection c{url};
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

pid_t postmaster_pid(const fs::path& data) {
  std::ifstream in{data / "postmaster.pid"};
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

/// Until `pid` has exited (a crashed postmaster, as a restart finds it): its
/// pidfd becomes readable at exit; at most 5 s.
void wait_dead(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0)
    return; // already gone
  pollfd p{fd, POLLIN, 0};
  (void)::poll(&p, 1, 5000);
  ::close(fd);
}

embedded_postgres::options options_for(const fs::path& dir);

/// A scratch directory and a cluster in it, stopped even when a test fails.
struct cluster {
  scratch_dir dir;
  embedded_postgres pg{options_for(dir.path)};
  ~cluster() { pg.stop(); }
};

embedded_postgres::options options_for(const fs::path& dir) {
  embedded_postgres::options opts;
  opts.data_dir = (dir / "pg").string();
  opts.port = 55432;
  opts.fsync = false; // durability is not what this suite measures
  return opts;
}

} // namespace

CAF_TEST(a cluster is created started stopped and restarted with its data) {
  cluster c;
  auto& dir = c.dir;
  auto& pg = c.pg;
  auto url = pg.start();
  if (!url)
    CAF_FAIL("start: " << url.err().message);
  CAF_CHECK_EQUAL(*url, "postgresql:///postgres?host=" + (dir.path / "pg/sock").string() +
                            "&port=55432&user=postgres");
  CAF_CHECK_EQUAL(pg.url(), *url);
  CAF_CHECK(fs::exists(dir.path / "pg/data/PG_VERSION"));
  CAF_CHECK_EQUAL(query_one(*url, "select 1"), "1");
  query_one(*url, "create table kept (v int); insert into kept values (42); select 1");
  // A second start() finds it running and reuses it.
  embedded_postgres again{options_for(dir.path)};
  auto url2 = again.start();
  CAF_REQUIRE(url2);
  CAF_CHECK_EQUAL(*url2, *url);
  pg.stop();
  CAF_CHECK(!can_connect(*url));
  pg.stop(); // harmless when not running
  auto url3 = pg.start();
  if (!url3)
    CAF_FAIL("restart: " << url3.err().message);
  CAF_CHECK_EQUAL(query_one(*url3, "select v from kept"), "42");
  pg.stop();
}

CAF_TEST(a kill - 9 of the postmaster leaves a cluster that starts again) {
  cluster c;
  auto& dir = c.dir;
  auto& pg = c.pg;
  auto url = pg.start();
  if (!url)
    CAF_FAIL("start: " << url.err().message);
  query_one(*url, "create table kept (v int); insert into kept values (7); select 1");
  auto data = dir.path / "pg/data";
  auto pid = postmaster_pid(data);
  CAF_REQUIRE(pid > 0);
  // Start again as soon as it is dead: it may still be a zombie (its PID
  // answers kill(pid, 0)) and its children may still hold the shared memory.
  CAF_REQUIRE_EQUAL(::kill(pid, SIGKILL), 0);
  wait_dead(pid);
  CAF_CHECK(fs::exists(data / "postmaster.pid")); // stale, left by the crash
  auto again = pg.start();
  if (!again)
    CAF_FAIL("start after kill -9: " << again.err().message);
  CAF_CHECK_NOT_EQUAL(postmaster_pid(data), pid);
  CAF_CHECK_EQUAL(query_one(*again, "select v from kept"), "7");
  pg.stop();
}

CAF_TEST(a pid file naming an unrelated live process is stale) {
  cluster c;
  auto& dir = c.dir;
  auto& pg = c.pg;
  auto url = pg.start();
  if (!url)
    CAF_FAIL("start: " << url.err().message);
  auto data = dir.path / "pg/data";
  auto pid = postmaster_pid(data);
  std::string pid_file;
  {
    std::ifstream in{data / "postmaster.pid"};
    pid_file.assign(std::istreambuf_iterator<char>{in}, {});
  }
  ::kill(pid, SIGKILL);
  wait_dead(pid);
  // As after a container restart: the recorded PID now belongs to someone else
  // (here: this test process).
  {
    std::ofstream out{data / "postmaster.pid", std::ios::trunc};
    out << ::getpid() << pid_file.substr(pid_file.find('\n'));
  }
  auto again = pg.start();
  if (!again)
    CAF_FAIL("start over a reused PID: " << again.err().message);
  CAF_CHECK_EQUAL(query_one(*again, "select 1"), "1");
  pg.stop();
}

CAF_TEST(a data dir the server user cannot reach is refused with advice) {
  if (::geteuid() != 0) {
    CAF_MESSAGE("not root: the server runs as this user, nothing to check");
    return;
  }
  scratch_dir dir;
  auto closed = dir.path / "closed";
  fs::create_directories(closed);
  ::chmod(closed.c_str(), 0700);
  auto opts = options_for(closed);
  embedded_postgres pg{opts};
  auto r = pg.start();
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.err().code, "embedded_pg");
  CAF_CHECK(r.err().message.find("cannot traverse " + closed.string()) !=
            std::string::npos);
  CAF_CHECK(r.err().message.find("data_dir") != std::string::npos);
}

CAF_TEST(a data dir pg_ctl cannot quote is refused) {
  embedded_postgres::options opts;
  opts.data_dir = "/tmp/gavel-$(touch x)/pg";
  embedded_postgres pg{opts};
  auto r = pg.start();
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.err().field, "data_dir");
  CAF_CHECK(!fs::exists("/tmp/gavel-$(touch x)"));
}

// -- supervision ---------------------------------------------------------------
// What takes time (a death seen at once, the restart with the data, restarts
// past the intensity limit flagged and still attempted) is tested on a
// running Gavel: tests/e2e/postmaster_kill.sh and database_alert.sh.

CAF_TEST(a stopped supervisor restarts nothing) {
  cluster c;
  auto url = c.pg.start();
  if (!url)
    CAF_FAIL("start: " << url.err().message);
  auto pid = postmaster_pid(c.dir.path / "pg/data");
  embedded_postgres_supervisor sup{c.pg, {}};
  CAF_REQUIRE(sup.start());
  CAF_CHECK(sup.status().embedded);
  // As on shutdown: supervision ends, then the cluster may go down. stop()
  // ends the watcher wherever it is, starting or watching the postmaster.
  sup.stop();
  // stop() has joined the watcher thread: nothing is left that could
  // restart the cluster, so its death is checked at once, without a wait.
  ::kill(pid, SIGKILL);
  wait_dead(pid);
  CAF_CHECK_EQUAL(c.pg.postmaster_pid(), 0);
  CAF_CHECK_EQUAL(sup.status().restarts, 0u);
  CAF_CHECK_EQUAL(sup.status().state, "stopped");
}
