#define CAF_SUITE adapters.http_limits
#include "adapters/http/http.hpp"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/test/unit_test.hpp>
#include <chrono>

// The server's own limits that are answered at once: a connection over
// max_connections and a body over max_body_bytes. What takes time (the
// header, body and idle timeouts, a connection's slot coming back after it
// closes) is tested on a running Gavel: tests/e2e/http_limits.sh and
// stalled_clients.sh. Every wait here is for the server's answer or close.

using namespace gavel::adapters;
using namespace std::chrono_literals;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

/// How long an answer or a close may take: only catches "never".
constexpr auto never = 10s;

/// A raw client socket, for what a well-behaved client does not do.
struct raw_client {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;

  explicit raw_client(std::uint16_t port) {
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  }

  error_code send(std::string_view bytes) {
    error_code ec;
    net::write(stream.socket(), net::buffer(bytes.data(), bytes.size()), ec);
    return ec;
  }

  /// The next response, or the error that ended the wait.
  std::pair<error_code, http::response<http::string_body>> read() {
    http::response<http::string_body> res;
    error_code result = net::error::would_block;
    stream.expires_after(never);
    http::async_read(stream, buffer, res,
                     [&](error_code ec, std::size_t) { result = ec; });
    ioc.restart();
    ioc.run();
    return {result, std::move(res)};
  }

  /// Waits until the server closes the connection (end of stream or reset);
  /// false if it is still open after `never`.
  bool closed() {
    std::array<char, 1024> scratch{};
    for (;;) {
      error_code result = net::error::would_block;
      stream.expires_after(never);
      stream.async_read_some(net::buffer(scratch),
                             [&](error_code ec, std::size_t) { result = ec; });
      ioc.restart();
      ioc.run();
      if (result == beast::error::timeout)
        return false;
      if (result)
        return true;
    }
  }
};

http_response text(std::string body) {
  http_response r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

void echo(http_request&& req, http_responder respond) {
  respond(text(req.method + " " + req.target + " " + std::to_string(req.body.size())));
}

struct fixture {
  io_runtime io{2};

  std::unique_ptr<http_server> make_server(http_server_options opts) {
    opts.listen = "127.0.0.1:0";
    auto server = std::make_unique<http_server>(io, opts, echo);
    auto port = server->start();
    CAF_REQUIRE(port.has_value());
    return server;
  }

  /// A whole request on a fresh connection.
  int get(std::uint16_t port, std::string_view target = "/ok") {
    raw_client c{port};
    c.send("GET " + std::string{target} + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto [ec, res] = c.read();
    return ec ? -1 : static_cast<int>(res.result_int());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_limits_tests, fixture)

CAF_TEST(connections beyond max_connections are answered 503 and closed) {
  http_server_options opts;
  opts.max_connections = 2;
  auto server = make_server(opts);
  raw_client first{server->port()};
  first.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_REQUIRE(!first.read().first);
  raw_client second{server->port()};
  second.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_REQUIRE(!second.read().first);
  // Both are held open (keep-alive); a third is over the limit.
  raw_client third{server->port()};
  third.send("GET /third HTTP/1.1\r\nHost: x\r\n\r\n");
  auto [ec, res] = third.read();
  CAF_REQUIRE(!ec);
  CAF_CHECK_EQUAL(res.result_int(), 503u);
  CAF_CHECK_EQUAL(std::string{res[http::field::retry_after]}, "1");
  CAF_CHECK(!res.keep_alive());
  CAF_CHECK_EQUAL(res.body(),
                  R"({"error":{"status":503,"code":"too_many_connections",)"
                  R"("field":"","message":"connection limit reached; retry"}})");
  CAF_CHECK(third.closed());
  // Counted before the answer is written: read as soon as it has arrived.
  CAF_CHECK_EQUAL(server->stats().connections_refused, 1u);
  // A refused client that never sent anything still gets its answer.
  raw_client quiet{server->port()};
  auto [ec2, res2] = quiet.read();
  CAF_REQUIRE(!ec2);
  CAF_CHECK_EQUAL(res2.result_int(), 503u);
  // Refused connections hold no slot. (That a closed connection's slot comes
  // back takes the server a moment to see: tests/e2e/http_limits.sh.)
  CAF_CHECK_EQUAL(server->stats().connections_active, 2u);
}

CAF_TEST(a 20 MB body with Expect 100 - continue is answered 413 without 100 Continue) {
  auto server = make_server({});
  raw_client c{server->port()};
  c.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 20971520\r\nExpect: 100-continue\r\n\r\n");
  auto [ec, res] = c.read();
  CAF_REQUIRE(!ec);
  CAF_CHECK_EQUAL(res.result_int(), 413u); // not 100: the final answer comes at once
  CAF_CHECK(!res.keep_alive());
  CAF_CHECK_EQUAL(res.body(),
                  R"({"error":{"status":413,"code":"body_too_large",)"
                  R"("field":"","message":"body larger than 4194304 bytes"}})");
  CAF_CHECK(c.closed());
  // Counted before the answer is written: read as soon as it has arrived.
  CAF_CHECK_EQUAL(server->stats().requests_rejected, 1u);
  CAF_CHECK_EQUAL(server->stats().requests, 0u);
}

CAF_TEST(a 20 MB body sent without waiting is answered 413 that the client can read) {
  auto server = make_server({});
  raw_client c{server->port()};
  // A naive client writes its whole body before it reads anything: the
  // server must neither reset the connection under it nor lose the answer.
  std::string request =
      "POST /v1/events HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: 20971520\r\n\r\n";
  request.append(20 * 1024 * 1024, ' ');
  auto write_ec = c.send(request);
  CAF_CHECK_EQUAL(write_ec, error_code{});
  auto [ec, res] = c.read();
  CAF_REQUIRE_EQUAL(ec, error_code{});
  CAF_CHECK_EQUAL(res.result_int(), 413u);
  CAF_CHECK(!res.keep_alive());
  CAF_CHECK(c.closed());
  // The server is still fine.
  CAF_CHECK_EQUAL(get(server->port()), 200);
}

CAF_TEST_FIXTURE_SCOPE_END()
