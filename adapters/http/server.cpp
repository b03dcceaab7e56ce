// Keep-alive HTTP/1.1 server on Boost.Beast.
//
// One session per connection, all of its work on one strand. A session reads
// ahead (pipelining) while earlier requests are still with the handler, up to
// max_in_flight; responses fill a ring of slots indexed by request number and
// are written strictly in request order, whatever order the responders run in.
// With a certificate configured every session is TLS (handshake first, then
// the same HTTP code over the TLS stream).
//
// Every wait has its own deadline (header, body, keep-alive idle, write), so
// a client that sends part of a request and stops holds its connection for a
// bounded time whatever it does; beyond max_connections a new connection is
// answered 503 and closed rather than held.
//
// This file is the listener: binding, accepting, the connection limit and
// stopping. The session is in server_session.cpp, refusals over the limit in
// server_refusal.cpp, TLS set-up in server_tls.cpp.
#include "adapters/http/server_impl.hpp"
#include "protocols/listen_address.hpp"

#include <boost/asio/strand.hpp>
#include <condition_variable>

namespace gavel::adapters {

namespace {

protocols::error listen_error(std::string message) {
  return protocols::error{"listen", "", std::move(message)};
}

} // namespace

expected<std::uint16_t> http_server::impl::start() {
  if (auto port = bound_port.load(); port != 0)
    return port;
  auto addr = protocols::parse_listen_address(opts.listen);
  if (!addr)
    return listen_error("invalid listen address '" + opts.listen + "' (want host:port)");
  if (auto err = setup_tls())
    return listen_error(std::move(*err));
  error_code ec;
  tcp::resolver resolver{ioc};
  // An empty host (":8080") listens on every IPv4 address.
  auto endpoints =
      resolver.resolve(addr->host.empty() ? std::string{"0.0.0.0"} : addr->host,
                       std::to_string(addr->port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty())
    return listen_error("resolve " + opts.listen + ": " +
                        (ec ? ec.message() : std::string{"no address"}));
  auto endpoint = endpoints.begin()->endpoint();
  auto fail = [&](const char* what) {
    error_code ignored;
    acceptor.close(ignored);
    return listen_error(std::string{what} + " " + opts.listen + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec)
    return fail("open");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec)
    return fail("setsockopt");
  if (acceptor.bind(endpoint, ec); ec)
    return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return fail("listen");
  auto local = acceptor.local_endpoint(ec);
  if (ec)
    return fail("getsockname");
  bound_port = local.port();
  accepting = true;
  net::dispatch(acceptor.get_executor(),
                [self = shared_from_this()] { self->do_accept(); });
  return local.port();
}

void http_server::impl::do_accept() {
  if (!accepting || !acceptor.is_open())
    return;
  // Each connection gets its own strand: sessions run in parallel across the
  // runtime's threads, and each session's handlers never run concurrently.
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](error_code ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void http_server::impl::on_accept(error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open() || stopped)
    return;
  if (ec) {
    // Transient accept errors (EMFILE, ENFILE, ECONNABORTED) must not end
    // accepting, nor spin: try again shortly.
    accept_backoff.expires_after(std::chrono::milliseconds{50});
    accept_backoff.async_wait(
        [self = shared_from_this()](error_code) { self->do_accept(); });
    return;
  }
  if (active.load(std::memory_order_relaxed) >= opts.max_connections) {
    refused.fetch_add(1, std::memory_order_relaxed);
    refuse(std::move(socket));
  } else {
    accepted.fetch_add(1, std::memory_order_relaxed);
    active.fetch_add(1, std::memory_order_relaxed);
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    open_session(std::move(socket));
  }
  do_accept();
}

namespace {

/// Counts down closes posted to strands, so that stop() can return only when
/// the sockets are really closed (a caller may rebind the port right after).
struct close_latch {
  std::mutex mtx;
  std::condition_variable cv;
  std::size_t remaining = 0;

  void done() {
    std::lock_guard lock{mtx};
    if (--remaining == 0)
      cv.notify_all();
  }
};

/// Waiting is only possible off the I/O threads (on them it could deadlock)
/// and while the runtime still runs handlers; otherwise the closes are async.
void wait_for(net::io_context& ioc, const std::shared_ptr<close_latch>& latch) {
  if (ioc.get_executor().running_in_this_thread() || ioc.stopped())
    return;
  std::unique_lock lock{latch->mtx};
  latch->cv.wait_for(lock, std::chrono::seconds{5},
                     [&] { return latch->remaining == 0; });
}

} // namespace

void http_server::impl::close_acceptor() {
  accepting = false;
  auto latch = std::make_shared<close_latch>();
  latch->remaining = 1;
  net::post(acceptor.get_executor(), [self = shared_from_this(), latch] {
    error_code ignored;
    self->acceptor.close(ignored);
    latch->done();
  });
  wait_for(ioc, latch);
}

void http_server::impl::stop() {
  if (stopped.exchange(true))
    return;
  close_acceptor(); // first: no session can appear after the snapshot below
  std::vector<std::shared_ptr<session>> live;
  {
    std::lock_guard lock{sessions_mtx};
    for (auto& weak : sessions)
      if (auto s = weak.lock())
        live.push_back(std::move(s));
  }
  if (live.empty())
    return;
  auto latch = std::make_shared<close_latch>();
  latch->remaining = live.size();
  for (auto& s : live)
    close_session(s, [latch] { latch->done(); });
  live.clear();
  wait_for(ioc, latch);
}

http_server::http_server(io_runtime& io, http_server_options opts, http_handler handler)
    : impl_(std::make_shared<impl>(io.context(), std::move(opts), std::move(handler))) {}

http_server::~http_server() {
  impl_->stop();
}

expected<std::uint16_t> http_server::start() {
  return impl_->start();
}

void http_server::stop_accepting() {
  impl_->close_acceptor();
}

void http_server::stop() {
  impl_->stop();
}

expected<protocols::done> http_server::reload_tls() {
  return impl_->reload_tls();
}

std::uint16_t http_server::port() const {
  return impl_->bound_port.load();
}

http_server_stats http_server::stats() const {
  http_server_stats s;
  s.connections_accepted = impl_->accepted.load(std::memory_order_relaxed);
  s.connections_refused = impl_->refused.load(std::memory_order_relaxed);
  s.connections_active = impl_->active.load(std::memory_order_relaxed);
  s.requests = impl_->requests.load(std::memory_order_relaxed);
  s.requests_rejected = impl_->rejected.load(std::memory_order_relaxed);
  s.tls_handshake_failures = impl_->handshake_failures.load(std::memory_order_relaxed);
  s.header_timeouts = impl_->header_timeouts.load(std::memory_order_relaxed);
  s.body_timeouts = impl_->body_timeouts.load(std::memory_order_relaxed);
  return s;
}

} // namespace gavel::adapters
