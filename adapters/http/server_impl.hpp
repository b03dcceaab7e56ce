// Internal to adapters/http/: the state of one http_server, shared by the
// listener (server.cpp), its sessions (server_session.cpp), the refusals of
// connections over max_connections (server_refusal.cpp) and TLS set-up
// (server_tls.cpp).
#pragma once

#include "adapters/http/beast.hpp"
#include "adapters/http/http.hpp"

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace gavel::adapters {

using beast_response = http::response<http::string_body>;

/// Builds the wire response; runs on whatever thread calls the responder, so
/// the formatting work stays off the I/O thread when the handler is elsewhere.
beast_response to_beast(http_response&& r, bool& close_requested);

/// A response of the server's own, with the error body of docs/ingest.md; code and
/// message are the server's own constants.
beast_response error_response(http::status status, std::string_view code,
                              std::string_view message);

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  class session;

  net::io_context& ioc;
  http_server_options opts;
  http_handler handler;
  tcp::acceptor acceptor;
  std::atomic<std::uint16_t> bound_port{0};
  std::atomic<bool> accepting{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> active{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> header_timeouts{0};
  std::atomic<std::uint64_t> body_timeouts{0};
  /// Refusals in progress; shared with them, as they may outlive the server.
  std::shared_ptr<std::atomic<std::size_t>> refusing =
      std::make_shared<std::atomic<std::size_t>>(0);
  /// The context new sessions take: set by start() when the options name a
  /// certificate, replaced by reload_tls(); each session keeps its own.
  std::shared_ptr<ssl::context> tls;
  mutable std::mutex tls_mtx;

  std::mutex sessions_mtx;
  std::list<std::weak_ptr<session>> sessions;

  /// Paces accept retries after an error such as EMFILE, which would
  /// otherwise fail again at once, in a busy loop.
  net::steady_timer accept_backoff;

  impl(net::io_context& ctx, http_server_options o, http_handler h)
      : ioc(ctx), opts(std::move(o)), handler(std::move(h)),
        acceptor(net::make_strand(ctx)), accept_backoff(acceptor.get_executor()) {}

  expected<std::uint16_t> start();
  std::optional<std::string> setup_tls();
  std::shared_ptr<ssl::context> current_tls() const;
  expected<protocols::done> reload_tls();
  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void refuse(tcp::socket socket);
  /// Starts a session on an accepted connection (server_session.cpp).
  void open_session(tcp::socket socket);
  /// From any thread; `then` runs on the session's strand once it is closed.
  static void close_session(const std::shared_ptr<session>& s,
                            std::function<void()> then);
  void close_acceptor();
  void stop();
};

} // namespace gavel::adapters
