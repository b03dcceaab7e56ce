// Supervision of the embedded cluster's postmaster: a pidfd tells its death
// at once (not the first failed query), the cluster is started again with
// backoff and jitter, and a connection proves it back.
#include "adapters/postgres/embedded_postgres_supervisor.hpp"

#include "adapters/log.hpp"
#include "protocols/time.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <pqxx/pqxx>
#include <random>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace gavel::adapters {

namespace {

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

} // namespace

embedded_postgres_supervisor::embedded_postgres_supervisor(embedded_postgres& pg,
                                                           options opts)
    : pg_(pg), opts_(opts), policy_(opts.restart_limit, opts.restart_period,
                                    opts.backoff_min, opts.backoff_max) {
  status_.embedded = true;
  status_.state = "running";
}

embedded_postgres_supervisor::~embedded_postgres_supervisor() {
  stop();
}

expected<bool> embedded_postgres_supervisor::start() {
  if (thread_.joinable())
    return true;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    return protocols::error{"embedded_pg", "supervisor",
                            std::string{"eventfd: "} + std::strerror(errno)};
  thread_ = std::thread{[this] { run(); }};
  return true;
}

void embedded_postgres_supervisor::stop() {
  if (stopping_.exchange(true))
    return;
  if (wake_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable())
    thread_.join();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
  wake_fd_ = -1;
  std::lock_guard guard{mutex_};
  status_.state = "stopped";
}

database_status embedded_postgres_supervisor::status() const {
  std::lock_guard guard{mutex_};
  auto s = status_;
  s.over_limit = policy_.exceeded(std::chrono::steady_clock::now());
  return s;
}

void embedded_postgres_supervisor::set_state(const char* state, pid_t pid) {
  std::lock_guard guard{mutex_};
  status_.state = state;
  status_.pid = pid;
}

void embedded_postgres_supervisor::set_error(std::string error) {
  std::lock_guard guard{mutex_};
  status_.last_error = std::move(error);
  status_.last_error_ms = protocols::unix_now_ms();
}

bool embedded_postgres_supervisor::pause(std::chrono::milliseconds d) {
  pollfd p{wake_fd_, POLLIN, 0};
  auto until = std::chrono::steady_clock::now() + d;
  for (;;) {
    if (stopping_)
      return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0)
      return true;
  }
}

bool embedded_postgres_supervisor::watch(pid_t pid) {
  int fd = pidfd_open(pid);
  if (fd < 0 && errno == ESRCH)
    return false; // died before we looked
  // The PID may have been taken by another process between reading
  // postmaster.pid and opening the pidfd: look again now that the pidfd pins
  // whatever process it names.
  if (pg_.postmaster_pid() != pid) {
    if (fd >= 0)
      ::close(fd);
    return false;
  }
  if (fd < 0) {
    // No pidfd (a kernel before 5.3): look every 200 ms instead.
    while (pg_.postmaster_pid() == pid)
      if (pause(std::chrono::milliseconds{200}))
        return true;
    return false;
  }
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    if (stopping_)
      break;
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      break; // the postmaster exited (a pidfd turns readable at exit)
    if (fds[1].revents & POLLIN)
      break;
  }
  ::close(fd);
  return stopping_;
}

bool embedded_postgres_supervisor::wait_connectable(std::string& error) {
  auto deadline = std::chrono::steady_clock::now() + opts_.connect_timeout;
  for (;;) {
    try {
      pqxx::connection c{pg_.url() + "&connect_timeout=5"};
      return true;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    if (pause(std::chrono::milliseconds{100}))
      return false;
  }
}

void embedded_postgres_supervisor::run() {
  std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (;;) {
    pid_t pid = pg_.postmaster_pid();
    if (pid > 0) {
      set_state("running", pid);
      if (watch(pid))
        return; // stop(): shutting down, nothing to restart
    }
    if (stopping_)
      return;
    {
      std::lock_guard guard{mutex_};
      ++status_.deaths;
    }
    set_error(pid > 0 ? "postmaster (pid " + std::to_string(pid) + ") exited"
                      : "no postmaster running");
    GAVEL_LOG_ERROR("embedded PostgreSQL: {}; restarting it", status().last_error);
    // Restart attempts until one brings the cluster back; each counts toward
    // the intensity limit, a failed start as much as a death.
    for (;;) {
      auto d = [&] {
        std::lock_guard guard{mutex_};
        return policy_.on_crash(std::chrono::steady_clock::now(), unit(rng));
      }();
      if (d.over_limit)
        GAVEL_LOG_ERROR("embedded PostgreSQL: {} restarts within {} ms (limit {}); "
                        "retrying every {} ms",
                        d.crashes, opts_.restart_period.count(), opts_.restart_limit,
                        d.delay.count());
      set_state("restarting");
      if (pause(d.delay))
        return;
      set_state("starting");
      auto started = pg_.start(/*create_if_missing=*/false);
      if (!started) {
        set_error(started.err().message);
        GAVEL_LOG_ERROR("embedded PostgreSQL: start failed: {}", started.err().message);
        if (stopping_)
          return;
        continue;
      }
      // stop() arrived meanwhile: the owner stops what was just started.
      if (stopping_)
        return;
      set_state("recovering");
      std::string error;
      if (!wait_connectable(error)) {
        if (stopping_)
          return;
        set_error("started, but no connection within " +
                  std::to_string(opts_.connect_timeout.count()) + " ms: " + error);
        GAVEL_LOG_ERROR("embedded PostgreSQL: {}", status().last_error);
        continue;
      }
      {
        std::lock_guard guard{mutex_};
        ++status_.restarts;
      }
      GAVEL_LOG_INFO("embedded PostgreSQL: back (pid {}, restart {})",
                     pg_.postmaster_pid(), status().restarts);
      break;
    }
  }
}

} // namespace gavel::adapters
