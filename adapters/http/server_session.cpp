// One server connection: reads requests (pipelined, up to max_in_flight with
// the handler at once), hands them to the handler and writes the responses
// strictly in request order, all on the connection's strand. Every wait has
// its own deadline (TLS handshake and header, body, keep-alive idle, write).
#include "adapters/http/server_impl.hpp"

#include <array>
#include <boost/asio/strand.hpp>

namespace gavel::adapters {

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

} // namespace

class http_server::impl::session : public std::enable_shared_from_this<session> {
public:
  session(std::shared_ptr<impl> server, tcp::socket socket)
      : server_(std::move(server)),
        header_deadline_(clock::now() + server_->opts.header_timeout) {
    if (tls_ctx_ = server_->current_tls(); tls_ctx_)
      tls_.emplace(std::move(socket), *tls_ctx_);
    else
      plain_.emplace(std::move(socket));
  }

  ~session() {
    if (registered_) {
      std::lock_guard lock{server_->sessions_mtx};
      server_->sessions.erase(self_it_);
    }
    if (!closed_)
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
    if (beast::iequals(req[http::field::expect], "100-continue") && in_flight() == 0 &&
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
    // The slot is the socket: it comes back now, not when the last handler
    // still holding this session lets go of it.
    server_->active.fetch_sub(1, std::memory_order_relaxed);
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
  /// The context this session was opened with (a reload does not touch it);
  /// declared first, so the stream using it goes first.
  std::shared_ptr<ssl::context> tls_ctx_;
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

void http_server::impl::open_session(tcp::socket socket) {
  auto s = std::make_shared<session>(shared_from_this(), std::move(socket));
  s->register_with_server();
  s->start();
}

void http_server::impl::close_session(const std::shared_ptr<session>& s,
                                      std::function<void()> then) {
  s->close_from_outside(std::move(then));
}

} // namespace gavel::adapters
