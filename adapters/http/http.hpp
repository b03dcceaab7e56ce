#pragma once

#include "protocols/expected.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

/// HTTP/1.1 server and client on Boost.Beast (+ OpenSSL for https).
namespace gavel::adapters {

using protocols::expected;

using header_list = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive header lookup; empty when absent.
std::string_view find_header(const header_list& headers, std::string_view name);

/// ASCII lower case (header names, schemes, hosts); not the locale's.
std::string ascii_lower(std::string_view s);

/// Whether `s` begins with `prefix`, ignoring ASCII case.
bool starts_with_nocase(std::string_view s, std::string_view prefix);

/// The percent-decoded value (`%XX`, `+` a space) of `name` in the query of
/// `target` (path and query, as sent); empty when absent or without a value.
std::string query_param(std::string_view target, std::string_view name);

struct http_request {
  std::string method; ///< "GET", "POST", ...
  std::string target; ///< path and query, as sent
  header_list headers;
  std::string body;
  std::string_view header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  header_list headers; ///< extra headers (e.g. Retry-After)
  std::string body;
  /// Close the connection instead of writing this response (responses to
  /// earlier pipelined requests are still written first). For fault
  /// injection: the client sees its request vanish without an answer.
  bool drop_connection = false;
};

/// Completes one request. Callable from any thread, exactly once.
using http_responder = std::function<void(http_response)>;
/// Called on an I/O thread for every complete request; must not block.
using http_handler = std::function<void(http_request&&, http_responder)>;

/// Owns an io_context and the threads that run it.
class io_runtime {
public:
  explicit io_runtime(unsigned threads = 1);
  ~io_runtime(); ///< stops and joins
  io_runtime(const io_runtime&) = delete;
  io_runtime& operator=(const io_runtime&) = delete;
  boost::asio::io_context& context();
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

struct http_server_options {
  std::string listen = "127.0.0.1:8080";        ///< host:port; port 0 picks a free one
  std::size_t max_body_bytes = 4 * 1024 * 1024; ///< larger bodies get 413
  std::size_t max_header_bytes = 16 * 1024;
  /// The whole request header (and on https the TLS handshake) must arrive
  /// within this: from accept for a connection's first request, from the
  /// first byte of the request on a keep-alive connection. Beyond: closed.
  std::chrono::milliseconds header_timeout{10000};
  /// The whole body must arrive within this, from the end of its header.
  std::chrono::milliseconds body_timeout{30000};
  /// Keep-alive: time a connection may wait for the first byte of its next
  /// request before it is closed.
  std::chrono::milliseconds idle_timeout{60000};
  /// Time allowed to write one response (or the interim 100 Continue).
  std::chrono::milliseconds write_timeout{30000};
  /// Open connections beyond which a new one is answered 503 (plain HTTP;
  /// on https it is closed at once) and closed.
  std::size_t max_connections = 4096;
  /// https: PEM certificate chain (leaf first) and private key. Both empty:
  /// plain HTTP. One without the other, or files that do not load or do not
  /// match, make start() fail with code "listen".
  std::string tls_cert_file;
  std::string tls_key_file;
  /// https with client certificates (mTLS): PEM CA bundle; every client must
  /// present a certificate signed by one of them. Empty: none asked for.
  std::string client_ca_file;
};

/// Counters of one server, for metrics (all monotonic but connections_active).
struct http_server_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0; ///< answered 503 and closed: max_connections
  std::uint64_t connections_active = 0;
  std::uint64_t requests = 0;          ///< complete requests handed to the handler
  std::uint64_t requests_rejected = 0; ///< answered by the server itself (400, 413, 431)
  /// Connections closed because a request header (or TLS handshake) did not
  /// arrive within header_timeout.
  std::uint64_t header_timeouts = 0;
  /// Connections closed because a request body did not arrive within body_timeout.
  std::uint64_t body_timeouts = 0;
  /// https: connections closed because the TLS handshake failed.
  std::uint64_t tls_handshake_failures = 0;
};

/// Keep-alive HTTP/1.1 server. Answers 413 itself when a body is too large,
/// 400 for unparsable HTTP; everything else goes to the handler. Responses
/// to pipelined requests are written in request order.
class http_server {
public:
  http_server(io_runtime& io, http_server_options opts, http_handler handler);
  ~http_server();
  /// Binds and starts accepting. Error code "listen" with the reason.
  expected<std::uint16_t> start();
  /// Stops accepting new connections (existing ones finish their request).
  void stop_accepting();
  /// Closes everything.
  void stop();
  /// https: loads the certificate, key and client CA files again; new
  /// connections use them, open ones keep theirs. On failure (code "tls")
  /// the previous ones stay. Thread-safe.
  expected<protocols::done> reload_tls();
  std::uint16_t port() const;
  /// Thread-safe snapshot.
  http_server_stats stats() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// Parsed absolute URL.
struct url {
  std::string scheme; ///< "http" or "https"
  std::string host;
  std::uint16_t port = 0;   ///< defaulted from the scheme
  std::string target = "/"; ///< path and query
};
expected<url> parse_url(std::string_view text);

struct http_client_options {
  std::string ca_file; ///< extra CA bundle; system store is always loaded too
  /// A client certificate (PEM chain, leaf first) and its key, for servers
  /// that ask for one (mTLS). Empty: none presented.
  std::string client_cert_file;
  std::string client_key_file;
  /// Peer and host-name verification; on by default. Turning it off is only
  /// possible here, in code (tests), never from configuration.
  bool verify_peer = true;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
};

struct http_result {
  int status = 0; ///< 0 when the request failed before a response arrived
  std::string
      error; ///< transport error (connect, TLS, timeout, reset), empty on response
  header_list headers;
  std::string body;
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// One keep-alive connection to one origin (scheme, host, port). Requests are
/// sent one at a time in submission order (queued while one is in flight);
/// the connection is (re)established lazily, after any error or close. The
/// callback runs on the io thread.
class http_connection : public std::enable_shared_from_this<http_connection> {
public:
  static std::shared_ptr<http_connection> make(io_runtime& io, url origin,
                                               http_client_options opts = {});
  virtual ~http_connection() = default;
  virtual void async_request(std::string method, std::string target, header_list headers,
                             std::string body, std::function<void(http_result)> done) = 0;
  /// Blocking convenience for tools and tests (must not be called on the io thread).
  http_result request(std::string method, std::string target, header_list headers = {},
                      std::string body = {});
  virtual void close() = 0;
};

} // namespace gavel::adapters
