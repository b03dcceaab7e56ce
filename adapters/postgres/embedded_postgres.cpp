// The embedded PostgreSQL cluster: initdb on first use, pg_ctl to start and
// stop. Tools run through Boost.Process with argument vectors (no shell of
// ours); as root they run as the unprivileged `run_as` user through runuser.
// pg_ctl daemonizes the postmaster, so no child of ours outlives a call: the
// supervisor watches the postmaster through postmaster.pid and a pidfd.
#include "adapters/postgres/embedded_postgres.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <optional>
#include <pwd.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace gavel::adapters {

namespace fs = std::filesystem;
namespace bp = boost::process;

namespace {

using protocols::error;

error pg_error(std::string step, std::string message) {
  return error{"embedded_pg", std::move(step), std::move(message)};
}

struct run_result {
  int status = -1; ///< exit code, or -1 when it could not run or was killed
  std::string output;
};

/// Marks every descriptor above stderr close-on-exec in the child: the server
/// started by pg_ctl must not inherit our sockets and files. Boost's own
/// limit_handles walks /dev/fd with opendir() between fork and exec, which
/// allocates in a multithreaded process; close_range() is one system call.
/// Close-on-exec rather than close, so Boost's exec-error pipe still reports.
struct close_inherited_fds : bp::extend::handler {
  template <typename Executor> void on_exec_setup(Executor&) const {
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  }
};

/// Runs argv[0] (an absolute path or a name looked up in PATH) with `cwd` as
/// working directory, stdin from /dev/null, stdout and stderr captured
/// together. Kills it after `timeout`.
run_result run(const std::vector<std::string>& argv, const std::string& cwd,
               std::chrono::seconds timeout) {
  run_result result;
  boost::filesystem::path exe = argv.at(0);
  if (argv[0].find('/') == std::string::npos)
    exe = bp::search_path(argv[0]);
  if (exe.empty()) {
    result.output = argv[0] + ": not found in PATH";
    return result;
  }
  boost::asio::io_context io;
  bp::async_pipe out{io};
  std::error_code ec;
  bp::child child{exe,
                  bp::args(std::vector<std::string>(argv.begin() + 1, argv.end())),
                  bp::start_dir(cwd),
                  bp::std_in<bp::null, (bp::std_out & bp::std_err)>
                      out,
                  close_inherited_fds{},
                  ec};
  if (ec) {
    result.output = "cannot run " + argv[0] + ": " + ec.message();
    return result;
  }
  // Output until end of file: pg_ctl's server writes to its own log, so the
  // pipe closes when the tool exits.
  bool eof = false;
  boost::asio::async_read(
      out, boost::asio::dynamic_buffer(result.output),
      [&eof](const boost::system::error_code&, std::size_t) { eof = true; });
  io.run_for(timeout);
  if (!eof) {
    child.terminate(ec); // SIGKILL, then reaped
    result.output += "\n(killed after " + std::to_string(timeout.count()) + " s)";
    return result;
  }
  child.wait(ec);
  int status = child.native_exit_code();
  if (!ec && WIFEXITED(status))
    result.status = WEXITSTATUS(status);
  return result;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// The newest /usr/lib/postgresql/<version>/bin holding initdb.
std::optional<std::string> find_bin_dir() {
  std::error_code ec;
  int best = -1;
  std::string best_dir;
  for (auto& entry : fs::directory_iterator{"/usr/lib/postgresql", ec}) {
    auto name = entry.path().filename().string();
    if (name.empty() || name.size() > 4 ||
        !std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    auto bin = entry.path() / "bin";
    if (::access((bin / "initdb").c_str(), X_OK) != 0)
      continue;
    int v = std::stoi(name);
    if (v > best) {
      best = v;
      best_dir = bin.string();
    }
  }
  if (best < 0)
    return std::nullopt;
  return best_dir;
}

/// Whether uid (with its groups) may search (traverse) `dir`.
bool can_traverse(const fs::path& dir, uid_t uid, const std::vector<gid_t>& groups) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return false;
  if (st.st_uid == uid)
    return st.st_mode & S_IXUSR;
  if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end())
    return st.st_mode & S_IXGRP;
  return st.st_mode & S_IXOTH;
}

/// The path in a postgresql.conf string literal.
std::string conf_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\')
      out += c;
    out += c;
  }
  return out + "'";
}

/// The PID and port recorded in postmaster.pid, when the file exists.
struct pid_file {
  pid_t pid = 0;
  int port = 0;
  std::string socket_dir;
};

std::optional<pid_file> read_pid_file(const fs::path& data) {
  std::ifstream in{data / "postmaster.pid"};
  if (!in)
    return std::nullopt;
  // Lines: pid, data dir, start time, port, socket dir, listen addr, shmem key, status.
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  pid_file pf;
  try {
    if (!lines.empty())
      pf.pid = static_cast<pid_t>(std::stol(lines[0]));
    if (lines.size() > 3)
      pf.port = std::stoi(lines[3]);
  } catch (...) {
  }
  if (lines.size() > 4)
    pf.socket_dir = lines[4];
  return pf;
}

/// Whether `pid` is a live postmaster of the cluster in `data`. A PID from a
/// postmaster.pid left by a crash may since belong to another process (after
/// a container restart, typically): such a file is stale, not a running
/// server, even though pg_ctl status would believe it.
bool postmaster_alive(pid_t pid, const fs::path& data) {
  if (pid <= 0)
    return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return false;
  auto proc = "/proc/" + std::to_string(pid);
  std::ifstream stat_file{proc + "/stat"};
  std::string stat_line;
  std::getline(stat_file, stat_line);
  auto close = stat_line.rfind(')');
  if (close != std::string::npos && close + 2 < stat_line.size() &&
      (stat_line[close + 2] == 'Z' || stat_line[close + 2] == 'X'))
    return false; // killed, not yet reaped: holds nothing
  std::error_code ec;
  auto cwd = fs::read_symlink(proc + "/cwd", ec);
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted)
    return true; // alive but not ours to inspect: assume it is the server
  if (ec)
    return false; // gone meanwhile
  return fs::equivalent(cwd, data, ec);
}

/// Removes the lock files (postmaster.pid, the socket's .lock) a crashed
/// postmaster left behind. PostgreSQL clears one whose PID is dead, but not
/// one whose PID is an unreaped zombie or now names an unrelated process
/// (after a container restart, typically). Orphaned backends still holding
/// the old shared memory are detected by PostgreSQL itself, so this is safe.
void remove_stale_locks(const fs::path& data, const fs::path& socket_lock) {
  for (auto& file : {data / "postmaster.pid", socket_lock}) {
    std::ifstream in{file};
    long pid = 0;
    if (!(in >> pid))
      continue;
    in.close();
    if (!postmaster_alive(static_cast<pid_t>(pid), data)) {
      std::error_code ec;
      fs::remove(file, ec);
    }
  }
}

/// The cluster's major version (PG_VERSION), 0 when unreadable.
int cluster_major(const fs::path& data) {
  std::ifstream in{data / "PG_VERSION"};
  int v = 0;
  in >> v;
  return in ? v : 0;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

embedded_postgres::embedded_postgres(options opts) : opts_(std::move(opts)) {}

embedded_postgres::~embedded_postgres() = default;

expected<std::string> embedded_postgres::start(bool create_if_missing) {
  // Binaries.
  std::string bin = opts_.bin_dir;
  if (bin.empty()) {
    auto found = find_bin_dir();
    if (!found)
      return pg_error("bin_dir",
                      "no PostgreSQL binaries: no /usr/lib/postgresql/<version>/"
                      "bin/initdb (install postgresql)");
    bin = *found;
  }
  for (auto tool : {"initdb", "pg_ctl", "postgres"})
    if (::access((fs::path{bin} / tool).c_str(), X_OK) != 0)
      return pg_error("bin_dir", bin + "/" + tool + " is missing or not executable");

  // Paths. pg_ctl builds a /bin/sh command line with the data and log paths in
  // double quotes: refuse the characters a shell would still interpret there.
  std::error_code ec;
  fs::path dir = fs::absolute(opts_.data_dir, ec).lexically_normal();
  if (ec)
    return pg_error("data_dir",
                    "cannot make " + opts_.data_dir + " absolute: " + ec.message());
  if (!dir.has_filename())
    dir = dir.parent_path();
  for (char c : dir.string())
    if (c == '"' || c == '$' || c == '`' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20)
      return pg_error("data_dir", "data_dir " + dir.string() +
                                      " contains a character pg_ctl cannot quote "
                                      "(\" $ ` \\ or a control character); choose "
                                      "another path");
  const fs::path data = dir / "data";
  const fs::path sock = dir / "sock";
  const fs::path log = dir / "postgres.log";
  const std::string socket_file =
      (sock / (".s.PGSQL." + std::to_string(opts_.port))).string();
  if (socket_file.size() >= sizeof(sockaddr_un{}.sun_path))
    return pg_error("data_dir", "the socket path " + socket_file + " is longer than " +
                                    std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                    " bytes (a Unix socket limit); choose a shorter "
                                    "data_dir");
  if (opts_.port < 1 || opts_.port > 65535)
    return pg_error("port", "port must be in 1..65535");

  // Who runs the server.
  const bool as_root = ::geteuid() == 0;
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  std::vector<std::string> prefix;
  if (as_root) {
    auto* pw = ::getpwnam(opts_.run_as.c_str());
    if (pw == nullptr)
      return pg_error("run_as", "running as root, the server must run as an "
                                "unprivileged user, but user " +
                                    opts_.run_as + " does not exist");
    if (pw->pw_uid == 0)
      return pg_error("run_as",
                      "run_as must not be root (PostgreSQL refuses to run as root)");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    std::string runuser =
        ::access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "runuser";
    prefix = {runuser, "-u", opts_.run_as, "--"};
  }
  auto tool = [&](std::string name, std::vector<std::string> args) {
    std::vector<std::string> argv = prefix;
    argv.push_back((fs::path{bin} / name).string());
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };

  // Directories.
  for (auto& d : {dir, sock}) {
    fs::create_directories(d, ec);
    if (ec)
      return pg_error("data_dir", "cannot create " + d.string() + ": " + ec.message());
    if (as_root && ::chown(d.c_str(), uid, gid) != 0)
      return pg_error("data_dir", "cannot chown " + d.string() + " to " + opts_.run_as +
                                      ": " + std::strerror(errno));
    // Trust authentication on the socket: only the owner (and root) may reach it.
    ::chmod(d.c_str(), 0700);
  }
  if (as_root) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (::getgrouplist(opts_.run_as.c_str(), gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<std::size_t>(n));
      ::getgrouplist(opts_.run_as.c_str(), gid, groups.data(), &n);
    }
    groups.resize(static_cast<std::size_t>(std::max(n, 0)));
    for (fs::path p = dir.parent_path();; p = p.parent_path()) {
      if (!can_traverse(p, uid, groups))
        return pg_error("data_dir",
                        "the server runs as user " + opts_.run_as +
                            ", who cannot traverse " + p.string() + " (needed to reach " +
                            dir.string() +
                            "); choose a data_dir under a directory every user can "
                            "traverse (e.g. /var/lib/gavel or /tmp/...), or grant "
                            "search permission (chmod o+x " +
                            p.string() + ")");
      if (p == p.root_path())
        break;
    }
  }

  // Cluster creation.
  if (!fs::exists(data / "PG_VERSION")) {
    if (!create_if_missing)
      return pg_error("start", "no cluster in " + data.string() +
                                   " (PG_VERSION missing): not creating an empty one in "
                                   "place of the one that was there; restore it");
    auto initdb = [&](std::string locale) {
      std::vector<std::string> args{"-D",
                                    data.string(),
                                    "-U",
                                    "postgres",
                                    "-A",
                                    "trust",
                                    "--encoding=UTF8",
                                    "--locale=" + locale};
      if (!opts_.fsync)
        args.emplace_back("--no-sync");
      return run(tool("initdb", args), dir.string(), std::chrono::seconds{120});
    };
    auto r = initdb("C.UTF-8");
    if (r.status != 0) {
      auto first = r.output;
      fs::remove_all(data, ec); // initdb leaves nothing behind normally; be sure
      r = initdb("C");
      if (r.status != 0)
        return pg_error("initdb", "initdb -D " + data.string() +
                                      " failed: " + trim(first) +
                                      "\n(retry with --locale=C): " + trim(r.output));
    }
  }
  // Our settings live in gavel.conf, included from postgresql.conf (checked on
  // every start: the cluster may predate this code).
  {
    constexpr std::string_view include_line = "include_if_exists 'gavel.conf'";
    auto path = data / "postgresql.conf";
    std::ifstream in{path};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    if (!in.is_open())
      return pg_error("start", "cannot read " + path.string());
    if (text.find(include_line) == std::string::npos) {
      std::ofstream conf{path, std::ios::app};
      conf << "\n# Gavel's embedded cluster: settings owned by Gavel, rewritten on "
              "every start.\n"
           << include_line << "\n";
      if (!conf)
        return pg_error("start", "cannot append to " + path.string());
    }
  }

  // Already running? Then reuse it as it is.
  if (auto pf = read_pid_file(data); pf && postmaster_alive(pf->pid, data)) {
    started_by_us_ = false;
    int port = pf->port > 0 ? pf->port : opts_.port;
    auto sock_dir = pf->socket_dir.empty() ? sock.string() : pf->socket_dir;
    url_ = "postgresql:///postgres?host=" + sock_dir + "&port=" + std::to_string(port) +
           "&user=postgres";
    return url_;
  }
  const fs::path socket_lock = socket_file + ".lock";
  remove_stale_locks(data, socket_lock);

  // Settings go through a configuration file rather than `pg_ctl -o`, which
  // pg_ctl pastes unquoted into a shell command line.
  {
    auto path = data / "gavel.conf";
    std::ofstream conf{path, std::ios::trunc};
    conf << "# Written by Gavel on every start of the embedded cluster.\n"
         << "listen_addresses = ''\n"
         << "unix_socket_directories = " << conf_quote(sock.string()) << "\n"
         << "unix_socket_permissions = 0700\n"
         << "port = " << opts_.port << "\n"
         << "fsync = " << (opts_.fsync ? "on" : "off") << "\n";
    // Crash recovery first fsyncs every file of the cluster one by one (3 s
    // of a 5 s restart after a kill -9 here); one syncfs() of the file system
    // makes the same guarantee on Linux >= 5.8 (PostgreSQL 14+; ADR 0011).
    if (opts_.fsync && cluster_major(data) >= 14)
      conf << "recovery_init_sync_method = syncfs\n";
    conf.close();
    if (!conf)
      return pg_error("start", "cannot write " + path.string());
    if (as_root && ::chown(path.c_str(), uid, gid) != 0)
      return pg_error("start",
                      "cannot chown " + path.string() + ": " + std::strerror(errno));
  }

  // Start. After a kill -9 of the postmaster its children take a moment to
  // notice and exit; until then the old shared memory is in use and the new
  // postmaster refuses to start: retry for a while.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  for (;;) {
    auto log_start = fs::file_size(log, ec);
    if (ec)
      log_start = 0;
    auto r = run(tool("pg_ctl", {"-D", data.string(), "-l", log.string(), "-w", "-t",
                                 "60", "start"}),
                 dir.string(), std::chrono::seconds{90});
    if (r.status == 0)
      break;
    // What this attempt wrote to the server log (earlier runs do not count).
    std::string log_tail;
    if (std::ifstream in{log, std::ios::binary}; in) {
      in.seekg(static_cast<std::streamoff>(log_start));
      log_tail.assign(std::istreambuf_iterator<char>{in}, {});
      if (log_tail.size() > 4000)
        log_tail.erase(0, log_tail.size() - 4000);
    }
    bool transient = contains(log_tail, "pre-existing shared memory block") ||
                     contains(log_tail, "lock file") ||
                     contains(log_tail, "is another postmaster");
    if (!transient || std::chrono::steady_clock::now() > deadline)
      return pg_error("start", "pg_ctl start (data " + data.string() +
                                   ") failed: " + trim(r.output) + "\nserver log " +
                                   log.string() + ":\n" + trim(log_tail));
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    remove_stale_locks(data, socket_lock);
  }
  started_by_us_ = true;
  url_ = "postgresql:///postgres?host=" + sock.string() +
         "&port=" + std::to_string(opts_.port) + "&user=postgres";
  return url_;
}

std::string embedded_postgres::data_path() const {
  std::error_code ec;
  fs::path dir = fs::absolute(opts_.data_dir, ec).lexically_normal();
  if (ec)
    return {};
  if (!dir.has_filename())
    dir = dir.parent_path();
  return (dir / "data").string();
}

pid_t embedded_postgres::postmaster_pid() const {
  auto data = data_path();
  if (data.empty())
    return 0;
  auto pf = read_pid_file(data);
  return pf && postmaster_alive(pf->pid, data) ? pf->pid : 0;
}

void embedded_postgres::stop() {
  const fs::path data = data_path();
  if (data.empty())
    return;
  const fs::path dir = data.parent_path();
  auto pf = read_pid_file(data);
  if (!pf || !postmaster_alive(pf->pid, data))
    return;
  std::string bin = opts_.bin_dir;
  if (bin.empty())
    bin = find_bin_dir().value_or("");
  std::vector<std::string> argv;
  if (::geteuid() == 0)
    argv = {::access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "runuser",
            "-u", opts_.run_as, "--"};
  argv.push_back((fs::path{bin} / "pg_ctl").string());
  argv.insert(argv.end(), {"-D", data.string(), "-m", "fast", "-w", "-t", "60", "stop"});
  auto r = run(argv, dir.string(), std::chrono::seconds{90});
  if (r.status != 0 && postmaster_alive(pf->pid, data)) {
    // A fast shutdown that does not finish in time: end it the hard way
    // (PostgreSQL recovers from the WAL on the next start).
    ::kill(pf->pid, SIGQUIT);
  }
  started_by_us_ = false;
}

} // namespace gavel::adapters
