// Keep-alive HTTP/1.1 client connection to one origin, plain or TLS.
//
// Everything runs on one strand. Requests queue and go out one at a time; the
// socket is opened lazily and dropped after any error or a response without
// keep-alive, and the next request opens a new one. Failed requests are not
// retried here: whether a retry is safe is the caller's decision.
#include "adapters/http/beast.hpp"
#include "adapters/http/http.hpp"

#include <boost/asio/strand.hpp>
#include <deque>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <optional>
#include <poll.h>

namespace gavel::adapters {

namespace {

/// Responses larger than this are refused (the destinations answer with a few
/// KiB at most; this only bounds memory against a misbehaving peer).
constexpr std::uint64_t max_response_body = 64 * 1024 * 1024;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

/// One transport connection and everything its pending operations reference.
/// Operations hold it by shared_ptr, so dropping it while an operation is
/// still unwinding is safe.
struct transport {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  std::chrono::steady_clock::time_point deadline;
  bool ready = false; // connected (and handshaken)

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  template <class F> void visit(F&& f) {
    if (tls)
      f(*tls);
    else
      f(*plain);
  }

  void close() {
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  /// A kept-alive socket that became readable while idle was closed by the
  /// server (EOF, TLS close_notify) or is out of sync; either way unusable.
  /// One poll() is far cheaper than a request failing on a dead socket.
  bool still_usable() {
    if (buffer.size() != 0 || !lowest().socket().is_open())
      return false;
    pollfd pfd{};
    pfd.fd = lowest().socket().native_handle();
    pfd.events = POLLIN;
    return ::poll(&pfd, 1, 0) == 0;
  }
};

class client_connection final : public http_connection {
public:
  client_connection(net::io_context& ioc, url origin, http_client_options opts)
      : strand_(net::make_strand(ioc)), resolver_(strand_), origin_(std::move(origin)),
        opts_(std::move(opts)), port_text_(std::to_string(origin_.port)) {
    bool ipv6 = origin_.host.find(':') != std::string::npos;
    host_header_ = ipv6 ? "[" + origin_.host + "]" : origin_.host;
    bool default_port = (origin_.scheme == "https" && origin_.port == 443) ||
                        (origin_.scheme == "http" && origin_.port == 80);
    if (!default_port)
      host_header_ += ":" + port_text_;
    if (origin_.scheme == "https")
      init_tls();
  }

  void async_request(std::string method, std::string target, header_list headers,
                     std::string body, std::function<void(http_result)> done) override {
    net::post(strand_,
              [self = self_ptr(),
               p = pending{std::move(method), std::move(target), std::move(headers),
                           std::move(body), std::move(done)}]() mutable {
                self->queue_.push_back(std::move(p));
                self->process();
              });
  }

  void close() override {
    net::post(strand_, [self = self_ptr()] {
      self->drop_transport();
      auto queued = std::move(self->queue_);
      self->queue_.clear();
      self->busy_ = false;
      for (auto& p : queued) {
        http_result r;
        r.error = "closed";
        if (p.done)
          p.done(std::move(r));
      }
    });
  }

private:
  struct pending {
    std::string method;
    std::string target;
    header_list headers;
    std::string body;
    std::function<void(http_result)> done;
  };

  std::shared_ptr<client_connection> self_ptr() {
    return std::static_pointer_cast<client_connection>(shared_from_this());
  }

  void init_tls() {
    tls_ctx_.emplace(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls_ctx_->native_handle(), TLS1_2_VERSION);
    error_code ec;
    tls_ctx_->set_default_verify_paths(ec);
    if (ec)
      tls_setup_error_ = "tls: cannot load the system CA store: " + ec.message();
    if (!opts_.ca_file.empty()) {
      tls_ctx_->load_verify_file(opts_.ca_file, ec);
      if (ec)
        tls_setup_error_ =
            "tls: cannot load ca_file '" + opts_.ca_file + "': " + ec.message();
    }
    if (!opts_.client_cert_file.empty() || !opts_.client_key_file.empty()) {
      if (tls_ctx_->use_certificate_chain_file(opts_.client_cert_file, ec); ec)
        tls_setup_error_ = "tls: cannot load client certificate '" +
                           opts_.client_cert_file + "': " + ec.message();
      else if (tls_ctx_->use_private_key_file(opts_.client_key_file, ssl::context::pem,
                                              ec);
               ec)
        tls_setup_error_ = "tls: cannot load client key '" + opts_.client_key_file +
                           "': " + ec.message();
    }
  }

  void process() {
    if (busy_ || queue_.empty())
      return;
    busy_ = true;
    if (!tls_setup_error_.empty())
      return fail_now(tls_setup_error_);
    if (conn_ && !conn_->still_usable())
      drop_transport();
    if (!conn_)
      return connect();
    send();
  }

  void connect() {
    auto c = std::make_shared<transport>();
    if (tls_ctx_)
      c->tls.emplace(strand_, *tls_ctx_);
    else
      c->plain.emplace(strand_);
    conn_ = c;
    c->deadline = std::chrono::steady_clock::now() + opts_.connect_timeout;
    resolver_.async_resolve(
        origin_.host, port_text_, tcp::resolver::numeric_service,
        [self = self_ptr(), c](error_code ec, tcp::resolver::results_type results) {
          if (c != self->conn_)
            return;
          if (ec)
            return self->fail("resolve", ec);
          c->lowest().expires_at(c->deadline);
          c->lowest().async_connect(results,
                                    [self, c](error_code ec, const tcp::endpoint&) {
                                      self->on_connect(c, ec);
                                    });
        });
  }

  void on_connect(const std::shared_ptr<transport>& c, error_code ec) {
    if (c != conn_)
      return;
    if (ec)
      return fail("connect", ec);
    error_code ignored;
    c->lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (!c->tls) {
      c->ready = true;
      return send();
    }
    auto* handle = c->tls->native_handle();
    // SNI carries names only (RFC 6066), never address literals.
    if (!is_ip_literal(origin_.host) &&
        !SSL_set_tlsext_host_name(handle, const_cast<char*>(origin_.host.c_str())))
      return fail_now("tls: cannot set SNI host name");
    if (opts_.verify_peer) {
      c->tls->set_verify_mode(ssl::verify_peer);
      // OpenSSL's own host check (what ssl::host_name_verification wraps, as
      // a callback) records why it failed ("Hostname mismatch", "IP address
      // mismatch"), which the error text then names.
      auto* param = SSL_get0_param(handle);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int set = is_ip_literal(origin_.host)
                    ? X509_VERIFY_PARAM_set1_ip_asc(param, origin_.host.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, origin_.host.c_str(), 0);
      if (set != 1)
        return fail_now("tls: cannot set the expected host name '" + origin_.host + "'");
    } else {
      c->tls->set_verify_mode(ssl::verify_none);
    }
    c->lowest().expires_at(c->deadline);
    c->tls->async_handshake(ssl::stream_base::client,
                            [self = self_ptr(), c](error_code ec) {
                              if (c != self->conn_)
                                return;
                              if (ec)
                                return self->fail("tls", ec);
                              c->ready = true;
                              self->send();
                            });
  }

  void send() {
    auto& c = conn_;
    auto& p = queue_.front();
    auto& req = c->req;
    req = {};
    req.version(11);
    if (auto verb = http::string_to_verb(p.method); verb != http::verb::unknown)
      req.method(verb);
    else
      req.method_string(p.method);
    req.target(p.target);
    bool has_host = false;
    for (auto& [name, value] : p.headers) {
      if (beast::iequals(name, "host"))
        has_host = true;
      req.insert(name, value);
    }
    if (!has_host)
      req.set(http::field::host, host_header_);
    if (req.find(http::field::user_agent) == req.end())
      req.set(http::field::user_agent, "gavel");
    req.body() = std::move(p.body);
    req.prepare_payload();
    c->deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
    c->lowest().expires_at(c->deadline);
    c->visit([&](auto& stream) {
      http::async_write(stream, c->req,
                        [self = self_ptr(), c = c](error_code ec, std::size_t) {
                          self->on_write(c, ec);
                        });
    });
  }

  void on_write(const std::shared_ptr<transport>& c, error_code ec) {
    if (c != conn_)
      return;
    if (ec)
      return fail("write", ec);
    c->parser.emplace();
    c->parser->body_limit(max_response_body);
    if (c->req.method() == http::verb::head)
      c->parser->skip(true);
    c->lowest().expires_at(c->deadline);
    c->visit([&](auto& stream) {
      http::async_read(
          stream, c->buffer, *c->parser,
          [self = self_ptr(), c](error_code ec, std::size_t) { self->on_read(c, ec); });
    });
  }

  void on_read(const std::shared_ptr<transport>& c, error_code ec) {
    if (c != conn_)
      return;
    if (ec)
      return fail("read", ec);
    auto res = c->parser->release();
    http_result r;
    r.status = static_cast<int>(res.result_int());
    r.headers.reserve(8);
    for (const auto& field : res)
      r.headers.emplace_back(ascii_lower(field.name_string()),
                             std::string{field.value()});
    r.body = std::move(res.body());
    if (!res.keep_alive())
      drop_transport();
    complete(std::move(r));
  }

  /// Error text for people: "<stage>: <reason>", with the certificate
  /// verification result spelled out for TLS failures.
  std::string describe(std::string_view stage, error_code ec) const {
    if (ec == beast::error::timeout) {
      if (stage == "write" || stage == "read")
        return "timeout: no response within " +
               std::to_string(opts_.request_timeout.count()) + "ms";
      return std::string{stage} + ": timeout after " +
             std::to_string(opts_.connect_timeout.count()) + "ms";
    }
    if (stage == "read" && (ec == http::error::end_of_stream || ec == net::error::eof ||
                            ec == ssl::error::stream_truncated))
      return "read: connection closed by server";
    std::string text = std::string{stage} + ": " + ec.message();
    if (stage == "tls" && conn_ && conn_->tls) {
      auto verify = SSL_get_verify_result(conn_->tls->native_handle());
      if (verify != X509_V_OK)
        text += std::string{": "} + X509_verify_cert_error_string(verify);
    }
    return text;
  }

  void fail(std::string_view stage, error_code ec) { fail_now(describe(stage, ec)); }

  void fail_now(std::string error) {
    drop_transport();
    http_result r;
    r.error = std::move(error);
    complete(std::move(r));
  }

  void complete(http_result r) {
    auto done = std::move(queue_.front().done);
    queue_.pop_front();
    busy_ = false;
    // Start the next request first: its I/O overlaps the callback.
    process();
    if (done)
      done(std::move(r));
  }

  void drop_transport() {
    if (!conn_)
      return;
    conn_->close();
    conn_.reset();
  }

  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  url origin_;
  http_client_options opts_;
  std::string port_text_;
  std::string host_header_;
  std::optional<ssl::context> tls_ctx_;
  std::string tls_setup_error_;
  std::shared_ptr<transport> conn_;
  std::deque<pending> queue_;
  bool busy_ = false;
};

} // namespace

std::shared_ptr<http_connection> http_connection::make(io_runtime& io, url origin,
                                                       http_client_options opts) {
  return std::make_shared<client_connection>(io.context(), std::move(origin),
                                             std::move(opts));
}

} // namespace gavel::adapters
