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
#include <optional>
#include <sys/socket.h>
#include <thread>

// The server's own limits: how long a client may take over a header, a body
// or an idle keep-alive, how many connections it may hold, and how a body
// over the limit is refused. Timeouts are shortened to fractions of a second;
// the checks bound them from both sides loosely (a shared machine is slow).

using namespace gavel::adapters;
using namespace std::chrono_literals;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

/// Long enough to mean "never" for timeouts of a few hundred milliseconds.
constexpr auto never = 10s;

/// A raw client socket, for what a well-behaved client does not do.
struct raw_client {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  clock_type::time_point opened = clock_type::now();

  explicit raw_client(std::uint16_t port) {
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    opened = clock_type::now();
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
  /// the time since `from`, or nullopt if it is still open after `never`.
  std::optional<clock_type::duration> closed_after(clock_type::time_point from) {
    std::array<char, 1024> scratch{};
    for (;;) {
      error_code result = net::error::would_block;
      stream.expires_after(never);
      stream.async_read_some(net::buffer(scratch),
                             [&](error_code ec, std::size_t) { result = ec; });
      ioc.restart();
      ioc.run();
      if (result == beast::error::timeout)
        return std::nullopt;
      if (result)
        return clock_type::now() - from;
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

/// The server's counters once `done` holds for them (or as they are after
/// `never`). http_server publishes its counters only as a snapshot, stats(),
/// and tells no one when one changes, so this is the one place here that
/// polls: a short pause between snapshots; the deadline only catches "never".
template <class Done> http_server_stats stats_once(const http_server& server, Done done) {
  auto deadline = clock_type::now() + never;
  auto s = server.stats();
  while (!done(s) && clock_type::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    s = server.stats();
  }
  return s;
}

/// A counter once it reaches `want` (or its value after `never`): the server
/// counts a timeout just after the client has seen the close.
std::uint64_t counted(const http_server& server, std::uint64_t http_server_stats::*field,
                      std::uint64_t want) {
  return stats_once(server,
                    [&](const http_server_stats& s) { return s.*field >= want; }).*
         field;
}

bool between(std::optional<clock_type::duration> d, clock_type::duration lo,
             clock_type::duration hi) {
  return d && *d >= lo && *d <= hi;
}

std::string show(std::optional<clock_type::duration> d) {
  if (!d)
    return "still open";
  return std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(*d).count()) +
         " ms";
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_limits_tests, fixture)

CAF_TEST(
    a stalled partial header is closed at the header deadline while others are served) {
  http_server_options opts;
  opts.header_timeout = 400ms;
  opts.idle_timeout = never; // not the limit that applies here
  auto server = make_server(opts);
  raw_client stalled{server->port()};
  CAF_REQUIRE(!stalled.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Le"));
  // Dripping a byte now and then does not move the deadline.
  raw_client dripping{server->port()};
  // (Plain send(2) on the descriptor: the asio socket object is not shared
  // across threads, the main thread reads through it meanwhile.)
  std::thread drip{[fd = dripping.stream.socket().native_handle()] {
    for (char c : std::string_view{"GET /slow HTTP/1.1\r\nHost: x\r\n"}) {
      if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1)
        return;
      // The pause is the behaviour under test, not a wait: a byte every
      // 50 ms (the whole header would take ~1.5 s) keeps the connection
      // busy, and the header deadline (400 ms) must cut it off all the same.
      std::this_thread::sleep_for(50ms);
    }
  }};
  // Meanwhile a normal request on another connection is served.
  CAF_CHECK_EQUAL(get(server->port()), 200);
  auto stalled_closed = stalled.closed_after(stalled.opened);
  CAF_MESSAGE("stalled header closed after " << show(stalled_closed));
  CAF_CHECK(between(stalled_closed, 350ms, 5s));
  auto dripping_closed = dripping.closed_after(dripping.opened);
  drip.join();
  CAF_MESSAGE("dripping header closed after " << show(dripping_closed));
  CAF_CHECK(between(dripping_closed, 350ms, 5s));
  CAF_CHECK_EQUAL(counted(*server, &http_server_stats::header_timeouts, 2), 2u);
  CAF_CHECK_EQUAL(get(server->port()), 200);
}

CAF_TEST(a connection that sends nothing is closed at the header deadline) {
  http_server_options opts;
  opts.header_timeout = 300ms;
  opts.idle_timeout = never;
  auto server = make_server(opts);
  raw_client silent{server->port()};
  auto closed = silent.closed_after(silent.opened);
  CAF_MESSAGE("silent connection closed after " << show(closed));
  CAF_CHECK(between(closed, 250ms, 5s));
}

CAF_TEST(keep - alive waits idle_timeout for a request then header_timeout for its header) {
  http_server_options opts;
  opts.header_timeout = 300ms;
  opts.idle_timeout = 1500ms;
  auto server = make_server(opts);
  // Idle after a request: closed at the idle deadline, not the header one.
  raw_client idle{server->port()};
  idle.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  auto [ec, res] = idle.read();
  CAF_REQUIRE(!ec);
  CAF_CHECK_EQUAL(res.result_int(), 200u);
  auto served = clock_type::now();
  auto idle_closed = idle.closed_after(served);
  CAF_MESSAGE("idle keep-alive closed after " << show(idle_closed));
  CAF_CHECK(between(idle_closed, 1200ms, 6s));
  // A next request started after a pause still has its whole header_timeout.
  raw_client paused{server->port()};
  paused.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_REQUIRE(!paused.read().first);
  // The pause is the behaviour under test, not a wait: idle for longer than
  // header_timeout (300 ms) but within idle_timeout (1.5 s); the next request
  // must still get its whole header_timeout, not what is left of one.
  std::this_thread::sleep_for(500ms);
  paused.send("GET /two HTTP/1.1\r\nHost: x\r\n\r\n");
  auto [ec2, res2] = paused.read();
  CAF_REQUIRE(!ec2);
  CAF_CHECK_EQUAL(res2.body(), "GET /two 0");
  // ... and a stalled one is closed at that header deadline.
  auto started = clock_type::now();
  paused.send("GET /three HTTP/1.1\r\nHo");
  auto stalled_closed = paused.closed_after(started);
  CAF_MESSAGE("stalled keep-alive header closed after " << show(stalled_closed));
  CAF_CHECK(between(stalled_closed, 250ms, 1200ms));
  CAF_CHECK_EQUAL(counted(*server, &http_server_stats::header_timeouts, 1), 1u);
}

CAF_TEST(a stalled body is closed at the body deadline) {
  http_server_options opts;
  opts.body_timeout = 400ms;
  auto server = make_server(opts);
  raw_client stalled{server->port()};
  stalled.send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  auto closed = stalled.closed_after(stalled.opened);
  CAF_MESSAGE("stalled body closed after " << show(closed));
  CAF_CHECK(between(closed, 350ms, 5s));
  CAF_CHECK_EQUAL(counted(*server, &http_server_stats::body_timeouts, 1), 1u);
  CAF_CHECK_EQUAL(server->stats().requests, 0u);
}

CAF_TEST(connections beyond max_connections are answered 503 and closed) {
  http_server_options opts;
  opts.max_connections = 2;
  auto server = make_server(opts);
  auto first = std::make_unique<raw_client>(server->port());
  first->send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  CAF_REQUIRE(!first->read().first);
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
  CAF_CHECK(third.closed_after(clock_type::now()).has_value());
  CAF_CHECK_EQUAL(counted(*server, &http_server_stats::connections_refused, 1), 1u);
  // A refused client that never sent anything still gets its answer.
  raw_client quiet{server->port()};
  auto [ec2, res2] = quiet.read();
  CAF_REQUIRE(!ec2);
  CAF_CHECK_EQUAL(res2.result_int(), 503u);
  // Once one closes, a new connection is served again: wait until the server
  // has released the closed one's slot (refused connections hold none), then
  // the next connection is within the limit.
  first.reset();
  auto released = stats_once(
      *server, [](const http_server_stats& s) { return s.connections_active < 2; });
  CAF_CHECK_EQUAL(released.connections_active, 1u);
  CAF_CHECK_EQUAL(get(server->port()), 200);
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
  CAF_CHECK(c.closed_after(clock_type::now()).has_value());
  CAF_CHECK_EQUAL(counted(*server, &http_server_stats::requests_rejected, 1), 1u);
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
  CAF_CHECK(c.closed_after(clock_type::now()).has_value());
  // The server is still fine.
  CAF_CHECK_EQUAL(get(server->port()), 200);
}

CAF_TEST_FIXTURE_SCOPE_END()
