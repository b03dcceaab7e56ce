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
#include "adapters/http.hpp"

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <filesystem>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>

namespace gavel::adapters {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

/// Requests a connection may have with the handler before the server stops
/// reading from it (back-pressure on pipelining clients).
constexpr std::size_t max_in_flight = 16;

/// After an error response (400, 413) the server stops reading requests,
/// half-closes, and reads and discards what the client still sends until it
/// closes too (at most body_timeout and this many bytes): closing with unread
/// data makes the kernel send RST, which destroys the response at a client
/// that is still sending its body before it reads.
constexpr std::size_t max_drain_bytes = 64 * 1024 * 1024;

/// Refusals (503 for max_connections) in progress at once; beyond, a new
/// connection is closed without an answer, so a flood cannot grow them.
constexpr std::size_t max_refusing = 256;
constexpr std::chrono::milliseconds refusal_time{2000};

using beast_response = http::response<http::string_body>;

bool iequals(std::string_view a, std::string_view b) noexcept {
  return beast::iequals(a, b);
}

/// Builds the wire response; runs on whatever thread calls the responder, so
/// the formatting work stays off the I/O thread when the handler is elsewhere.
beast_response to_beast(http_response&& r, bool& close_requested) {
  beast_response res;
  res.result(r.status >= 100 && r.status <= 999 ? static_cast<unsigned>(r.status) : 500u);
  res.set(http::field::server, "gavel");
  if (!r.content_type.empty())
    res.set(http::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) {
    if (iequals(name, "connection")) {
      if (iequals(value, "close"))
        close_requested = true;
      continue;
    }
    // Framing is the server's business.
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding"))
      continue;
    res.insert(name, value);
  }
  res.body() = std::move(r.body);
  return res;
}

/// DESIGN §1.2's error body; code and message are the server's own constants.
std::string error_body(http::status status, std::string_view code,
                       std::string_view message) {
  return "{\"error\":{\"status\":" + std::to_string(static_cast<unsigned>(status)) +
         ",\"code\":\"" + std::string{code} + "\",\"field\":\"\",\"message\":\"" +
         std::string{message} + "\"}}";
}

beast_response error_response(http::status status, std::string_view code,
                              std::string_view message) {
  beast_response res{status, 11};
  res.set(http::field::server, "gavel");
  res.set(http::field::content_type, "application/json");
  res.body() = error_body(status, code, message);
  return res;
}

/// The whole answer to a connection over max_connections, made once.
const std::string& refusal_bytes() {
  static const std::string bytes = [] {
    auto res = error_response(http::status::service_unavailable, "too_many_connections",
                              "connection limit reached; retry");
    res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    res.prepare_payload();
    std::ostringstream os;
    os << res;
    return os.str();
  }();
  return bytes;
}

} // namespace

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
  /// Set by start() when the options name a certificate; sessions keep the
  /// server (and so this context) alive.
  std::optional<ssl::context> tls;

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
  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void refuse(tcp::socket socket);
  void close_acceptor();
  void stop();
};

class http_server::impl::session : public std::enable_shared_from_this<session> {
public:
  session(std::shared_ptr<impl> server, tcp::socket socket)
      : server_(std::move(server)),
        header_deadline_(clock::now() + server_->opts.header_timeout) {
    if (server_->tls)
      tls_.emplace(std::move(socket), *server_->tls);
    else
      plain_.emplace(std::move(socket));
  }

  ~session() {
    if (registered_) {
      std::lock_guard lock{server_->sessions_mtx};
      server_->sessions.erase(self_it_);
    }
    server_->active.fetch_sub(1, std::memory_order_relaxed);
  }

  void register_with_server() {
    std::lock_guard lock{server_->sessions_mtx};
    self_it_ = server_->sessions.insert(server_->sessions.end(), weak_from_this());
    registered_ = true;
  }

  void start() {
    net::dispatch(lowest().get_executor(), [self = shared_from_this()] {
      if (self->tls_)
        return self->handshake();
      self->do_read();
    });
  }

  /// From any thread; `then` runs on the session's strand once closed.
  template <class F> void close_from_outside(F then) {
    net::post(lowest().get_executor(),
              [self = shared_from_this(), then = std::move(then)] {
                self->close();
                then();
              });
  }

private:
  using clock = std::chrono::steady_clock;

  /// What the connection waits for, to tell the timeouts apart.
  enum class phase : std::uint8_t { handshake, idle, header, body, other };

  struct slot {
    std::optional<beast_response> res;
    unsigned version = 11;
    bool keep_alive = true;
    bool head = false;
    bool drop = false; // close instead of writing res
  };

  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  /// Runs `f` with the stream the HTTP layer reads and writes (TLS or plain).
  template <class F> void visit(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(*plain_);
  }

  void handshake() {
    // The handshake is part of reading the first request's header.
    phase_ = phase::handshake;
    lowest().expires_at(header_deadline_);
    tls_->async_handshake(ssl::stream_base::server,
                          [self = shared_from_this()](error_code ec) {
                            if (ec) {
                              auto& counter = ec == beast::error::timeout
                                                  ? self->server_->header_timeouts
                                                  : self->server_->handshake_failures;
                              counter.fetch_add(1, std::memory_order_relaxed);
                              return self->close();
                            }
                            self->do_read();
                          });
  }

  http::request_parser<http::string_body>& fresh_parser() {
    parser_.emplace();
    parser_->body_limit(server_->opts.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(server_->opts.max_header_bytes, UINT32_MAX)));
    return *parser_;
  }

  std::size_t in_flight() const { return next_seq_ - write_seq_; }

  void do_read() {
    if (closed_ || reading_ || read_done_ || in_flight() >= max_in_flight)
      return;
    reading_ = true;
    fresh_parser();
    // A keep-alive connection with nothing buffered is idle until the next
    // request's first byte; its header deadline starts then. The first
    // request's deadline runs from accept, so a connection that never sends
    // a whole header is closed header_timeout after it was opened.
    if (!first_request_) {
      if (buffer_.size() == 0)
        return wait_for_request();
      header_deadline_ = clock::now() + server_->opts.header_timeout; // pipelined
    }
    first_request_ = false;
    read_header();
  }

  void wait_for_request() {
    phase_ = phase::idle;
    lowest().expires_after(server_->opts.idle_timeout);
    visit([&](auto& stream) {
      stream.async_read_some(buffer_.prepare(4096),
                             [self = shared_from_this()](error_code ec, std::size_t n) {
                               self->buffer_.commit(n);
                               if (ec)
                                 return self->on_read_error(ec);
                               self->header_deadline_ =
                                   clock::now() + self->server_->opts.header_timeout;
                               self->read_header();
                             });
    });
  }

  void read_header() {
    phase_ = phase::header;
    lowest().expires_at(header_deadline_);
    visit([&](auto& stream) {
      http::async_read_header(stream, buffer_, *parser_,
                              [self = shared_from_this()](error_code ec, std::size_t) {
                                self->on_read_header(ec);
                              });
    });
  }

  void on_read_header(error_code ec) {
    if (ec)
      return on_read_error(ec);
    auto& req = parser_->get();
    if (parser_->is_done())
      return on_request();
    // Answer "Expect: 100-continue" only when nothing is queued ahead of it:
    // an interim response must not overtake the answers to earlier requests.
    // A client that does not get it sends the body after its own short wait.
    if (iequals(req[http::field::expect], "100-continue") && in_flight() == 0 &&
        !writing_) {
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      writing_ = true;
      phase_ = phase::other;
      lowest().expires_after(server_->opts.write_timeout);
      visit([&](auto& stream) {
        net::async_write(stream, net::buffer(continue_line.data(), continue_line.size()),
                         [self = shared_from_this()](error_code ec, std::size_t) {
                           self->writing_ = false;
                           if (ec)
                             return self->close();
                           self->read_body();
                         });
      });
      return;
    }
    read_body();
  }

  void read_body() {
    phase_ = phase::body;
    lowest().expires_after(server_->opts.body_timeout);
    visit([&](auto& stream) {
      http::async_read(stream, buffer_, *parser_,
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (ec)
                           return self->on_read_error(ec);
                         self->on_request();
                       });
    });
  }

  void on_read_error(error_code ec) {
    reading_ = false;
    if (closed_)
      return;
    if (ec == http::error::body_limit) {
      // Usually from the Content-Length, before any of the body is read and
      // before a 100 Continue: the client learns it at once.
      server_->rejected.fetch_add(1, std::memory_order_relaxed);
      return queue_error(http::status::payload_too_large, "body_too_large",
                         "body larger than " +
                             std::to_string(server_->opts.max_body_bytes) + " bytes");
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      // A parse error (bad method, header too large, bad chunk, ...).
      server_->rejected.fetch_add(1, std::memory_order_relaxed);
      if (ec == http::error::header_limit)
        return queue_error(http::status::request_header_fields_too_large,
                           "header_too_large", "request header too large");
      return queue_error(http::status::bad_request, "bad_request",
                         "unparsable HTTP request");
    }
    if (ec == beast::error::timeout) {
      if (phase_ == phase::header)
        server_->header_timeouts.fetch_add(1, std::memory_order_relaxed);
      else if (phase_ == phase::body)
        server_->body_timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    // The client went away, half-closed, or timed out. Responses still owed
    // are written if the socket allows (a half-closed client may still read).
    read_done_ = true;
    if (in_flight() == 0 || ec == beast::error::timeout)
      close();
  }

  void queue_error(http::status status, std::string_view code, std::string_view message) {
    read_done_ = true;
    auto& s = slots_[next_seq_ % max_in_flight];
    s = slot{};
    s.res.emplace(error_response(status, code, message));
    s.keep_alive = false;
    s.res->keep_alive(false);
    s.res->prepare_payload();
    drain_after_write_ = true;
    ++next_seq_;
    do_write();
  }

  void on_request() {
    reading_ = false;
    server_->requests.fetch_add(1, std::memory_order_relaxed);
    auto msg = parser_->release();
    auto seq = next_seq_++;
    auto& s = slots_[seq % max_in_flight];
    s = slot{};
    s.version = msg.version();
    s.keep_alive = msg.keep_alive();
    s.head = msg.method() == http::verb::head;
    if (!s.keep_alive)
      read_done_ = true;

    http_request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    req.headers.reserve(8);
    for (const auto& field : msg)
      req.headers.emplace_back(std::string{field.name_string()},
                               std::string{field.value()});
    req.body = std::move(msg.body());

    // Keep reading: the next request may already be buffered (pipelining).
    do_read();

    if (server_->stopped.load(std::memory_order_relaxed)) {
      auto res = error_response(http::status::service_unavailable, "shutting_down",
                                "shutting down");
      return on_response(seq, std::move(res), true);
    }
    http_responder responder = [self = shared_from_this(), seq](http_response r) {
      bool close_requested = false;
      bool drop = r.drop_connection;
      auto res = to_beast(std::move(r), close_requested);
      net::post(self->lowest().get_executor(),
                [self, seq, close_requested, drop, res = std::move(res)]() mutable {
                  self->on_response(seq, std::move(res), close_requested, drop);
                });
    };
    try {
      server_->handler(std::move(req), std::move(responder));
    } catch (const std::exception&) {
      // A throwing handler is a bug; the client still gets an answer.
      on_response(seq,
                  error_response(http::status::internal_server_error, "internal_error",
                                 "internal error"),
                  false);
    }
  }

  void on_response(std::uint64_t seq, beast_response&& res, bool close_requested,
                   bool drop = false) {
    // Late (client gone, connection closed) or duplicate answers are dropped.
    if (closed_ || seq < write_seq_ || seq >= next_seq_)
      return;
    auto& s = slots_[seq % max_in_flight];
    if (s.res)
      return;
    if (close_requested)
      s.keep_alive = false;
    s.drop = drop;
    res.version(s.version);
    res.keep_alive(s.keep_alive);
    if (s.head) {
      res.content_length(res.body().size());
      res.body().clear();
    } else {
      res.prepare_payload();
    }
    s.res.emplace(std::move(res));
    do_write();
  }

  void do_write() {
    if (closed_ || writing_ || write_seq_ == next_seq_)
      return;
    auto& s = slots_[write_seq_ % max_in_flight];
    if (!s.res)
      return;
    if (s.drop)
      return close();
    writing_ = true;
    lowest().expires_after(server_->opts.write_timeout);
    visit([&](auto& stream) {
      http::async_write(stream, *s.res,
                        [self = shared_from_this()](error_code ec, std::size_t) {
                          self->on_write(ec);
                        });
    });
  }

  void on_write(error_code ec) {
    writing_ = false;
    if (ec)
      return close();
    auto& s = slots_[write_seq_ % max_in_flight];
    bool keep_alive = s.keep_alive;
    s.res.reset();
    ++write_seq_;
    if (!keep_alive) {
      // Pipelined requests behind a "Connection: close" are never answered
      // (RFC 9112 9.6): the client resends them on a new connection.
      if (drain_after_write_)
        return drain();
      return close();
    }
    if (read_done_ && in_flight() == 0)
      return close();
    do_read(); // resumes if back-pressure had paused reading
    do_write();
  }

  void drain() {
    phase_ = phase::other;
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(server_->opts.body_timeout);
    drain_some();
  }

  void drain_some() {
    if (closed_)
      return;
    auto buf = buffer_.prepare(std::min<std::size_t>(64 * 1024, max_drain_bytes));
    visit([&](auto& stream) {
      stream.async_read_some(buf,
                             [self = shared_from_this()](error_code ec, std::size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ >= max_drain_bytes)
                                 return self->close();
                               self->drain_some();
                             });
    });
  }

  void close() {
    if (closed_)
      return;
    closed_ = true;
    // No TLS close_notify: HTTP/1.1 framing (Content-Length) already tells
    // the client where the last response ends.
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    // The slots stay: a write may still be unwinding over one of them. They
    // go with the session, once the last handler has released it.
  }

  std::shared_ptr<impl> server_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<slot, max_in_flight> slots_;
  std::uint64_t next_seq_ = 0;  // number of the next request read
  std::uint64_t write_seq_ = 0; // number of the next response to write
  std::size_t drained_ = 0;
  clock::time_point header_deadline_;
  phase phase_ = phase::header;
  bool first_request_ = true;
  bool reading_ = false;
  bool writing_ = false;
  bool read_done_ = false; // no further requests are read on this connection
  bool drain_after_write_ = false;
  bool closed_ = false;
  bool registered_ = false;
  std::list<std::weak_ptr<session>>::iterator self_it_;
};

namespace {

struct listen_address {
  std::string host;
  std::string port;
};

std::optional<listen_address> split_listen(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':')
      return std::nullopt;
    return listen_address{std::string{text.substr(1, close - 1)},
                          std::string{text.substr(close + 2)}};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto host = text.substr(0, colon);
  return listen_address{host.empty() ? std::string{"0.0.0.0"} : std::string{host},
                        std::string{text.substr(colon + 1)}};
}

protocols::error listen_error(std::string message) {
  return protocols::error{"listen", "", std::move(message)};
}

} // namespace

expected<std::uint16_t> http_server::impl::start() {
  if (auto port = bound_port.load(); port != 0)
    return port;
  auto addr = split_listen(opts.listen);
  if (!addr || addr->port.empty())
    return listen_error("invalid listen address '" + opts.listen + "' (want host:port)");
  if (auto err = setup_tls())
    return listen_error(std::move(*err));
  error_code ec;
  tcp::resolver resolver{ioc};
  auto endpoints =
      resolver.resolve(addr->host, addr->port,
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

/// Loads the certificate and key into a server context; the reason on failure.
std::optional<std::string> http_server::impl::setup_tls() {
  if (opts.tls_cert_file.empty() && opts.tls_key_file.empty())
    return std::nullopt;
  if (opts.tls_cert_file.empty() || opts.tls_key_file.empty())
    return "tls: both a certificate and a key file are needed";
  for (const auto* file : {&opts.tls_cert_file, &opts.tls_key_file}) {
    std::error_code fs_ec;
    if (!std::filesystem::is_regular_file(*file, fs_ec))
      return "tls: cannot read '" + *file + "': no such file";
  }
  ssl::context ctx{ssl::context::tls_server};
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                  ssl::context::single_dh_use);
  error_code ec;
  if (ctx.use_certificate_chain_file(opts.tls_cert_file, ec); ec)
    return "tls: cannot load certificate '" + opts.tls_cert_file + "': " + ec.message();
  if (ctx.use_private_key_file(opts.tls_key_file, ssl::context::pem, ec); ec)
    return "tls: cannot load key '" + opts.tls_key_file + "': " + ec.message();
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return "tls: the key '" + opts.tls_key_file + "' does not match the certificate";
  tls.emplace(std::move(ctx));
  return std::nullopt;
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
    auto s = std::make_shared<session>(shared_from_this(), std::move(socket));
    s->register_with_server();
    s->start();
  }
  do_accept();
}

namespace {

/// Answers one connection over max_connections with a canned 503, then
/// half-closes and reads until the client closes (so the answer is not lost
/// to a reset), all within refusal_time.
class refusal : public std::enable_shared_from_this<refusal> {
public:
  refusal(tcp::socket socket, std::shared_ptr<std::atomic<std::size_t>> refusing)
      : stream_(std::move(socket)), refusing_(std::move(refusing)) {}
  ~refusal() { refusing_->fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    stream_.expires_after(refusal_time);
    const auto& bytes = refusal_bytes();
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec)
                         return;
                       error_code ignored;
                       self->stream_.socket().shutdown(tcp::socket::shutdown_send,
                                                       ignored);
                       self->stream_.expires_after(refusal_time);
                       self->discard();
                     });
  }

private:
  void discard() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (!ec)
                                self->discard();
                            });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<std::atomic<std::size_t>> refusing_;
  std::array<char, 4096> scratch_{};
};

} // namespace

void http_server::impl::refuse(tcp::socket socket) {
  // On https the answer would need a TLS handshake first: more work than
  // the connection limit is there to save, so those are closed at once.
  if (tls || refusing->fetch_add(1, std::memory_order_relaxed) >= max_refusing) {
    if (!tls)
      refusing->fetch_sub(1, std::memory_order_relaxed);
    error_code ignored;
    socket.close(ignored);
    return;
  }
  std::make_shared<refusal>(std::move(socket), refusing)->start();
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
    s->close_from_outside([latch] { latch->done(); });
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
