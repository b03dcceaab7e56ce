// The signals of `gavel serve`: SIGINT/SIGTERM stop it, SIGHUP reloads.
#pragma once

#include "adapters/log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <utility>

namespace gavel {

/// SIGINT and SIGTERM: the first asks for a graceful stop, a second one (or
/// a stop that overruns its deadline) ends the process at once. SIGHUP runs
/// the reload set by on_reload() (the server's certificate), and never stops
/// the process. Constructed before any other thread starts: the signals are
/// blocked in every thread but the one running this io_context, so no other
/// thread's system calls are interrupted and children inherit the blocked
/// mask.
class shutdown_signals {
public:
  shutdown_signals() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec)
        first_.set_value(sig);
    });
    wait_reload();
    thread_ = std::thread{[this, mask] {
      pthread_sigmask(SIG_UNBLOCK, &mask, nullptr);
      io_.run();
    }};
  }
  shutdown_signals(const shutdown_signals&) = delete;
  shutdown_signals& operator=(const shutdown_signals&) = delete;
  ~shutdown_signals() {
    io_.stop();
    thread_.join();
  }

  /// Blocks until the first SIGINT or SIGTERM; returns its number.
  int wait() { return first_.get_future().get(); }

  /// Runs `f` on each SIGHUP from now on; an empty `f` stops that, and
  /// returns only once a reload already running has finished (so whatever
  /// `f` refers to may then go).
  void on_reload(std::function<void()> f) {
    std::lock_guard lock{reload_mtx_};
    reload_fn_ = std::move(f);
  }

  /// From now on a further signal exits with 130 without waiting, and the
  /// process exits with 3 if it is still running after `deadline`. Signals
  /// that came since the first are queued by the signal_set and act at once.
  void escalate(std::chrono::seconds deadline) {
    boost::asio::post(io_, [this, deadline] {
      signals_.async_wait([](const boost::system::error_code& ec, int) {
        if (!ec)
          std::_Exit(130);
      });
      deadline_.expires_after(deadline);
      deadline_.async_wait([deadline](const boost::system::error_code& ec) {
        if (ec)
          return;
        GAVEL_LOG_ERROR("shutdown did not finish within {} s; exiting", deadline.count());
        spdlog::default_logger()->flush();
        std::_Exit(3);
      });
    });
  }

private:
  void wait_reload() {
    reload_.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec)
        return;
      {
        std::lock_guard lock{reload_mtx_};
        if (reload_fn_)
          reload_fn_();
        else
          GAVEL_LOG_INFO("SIGHUP: nothing to reload yet");
      }
      wait_reload();
    });
  }

  boost::asio::io_context io_;
  boost::asio::signal_set signals_{io_, SIGINT, SIGTERM};
  boost::asio::signal_set reload_{io_, SIGHUP};
  boost::asio::steady_timer deadline_{io_};
  // Keeps run() going between the first signal and escalate().
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::promise<int> first_;
  std::mutex reload_mtx_;
  std::function<void()> reload_fn_;
  std::thread thread_;
};

} // namespace gavel
