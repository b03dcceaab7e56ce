#define CAF_SUITE adapters.http
#include "adapters/http/http.hpp"
#include "adapters/tls_fixture.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

using namespace gavel::adapters;
using namespace std::chrono_literals;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto deadline = 10s;

/// Requests a handler has parked (not yet answered), for tests that answer
/// later, from other threads or never.
struct parked {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::pair<std::string, http_responder>> items;

  void add(std::string target, http_responder r) {
    {
      std::lock_guard lock{mtx};
      items.emplace_back(std::move(target), std::move(r));
    }
    cv.notify_all();
  }

  bool wait_for_count(std::size_t n) {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, deadline, [&] { return items.size() >= n; });
  }

  http_responder take(const std::string& target) {
    std::lock_guard lock{mtx};
    for (auto& [t, r] : items)
      if (t == target)
        return r;
    return {};
  }
};

http_response text(std::string body, int status = 200) {
  http_response r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

/// A raw client socket with deadline-bounded reads, for what the
/// http_connection cannot do on purpose (pipelining, garbage).
struct raw_client {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;

  explicit raw_client(std::uint16_t port) {
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  }

  void send(std::string_view bytes) {
    net::write(stream.socket(), net::buffer(bytes.data(), bytes.size()));
  }

  /// The next response, or an error code when none arrives in time.
  std::pair<boost::system::error_code, http::response<http::string_body>> read() {
    http::response<http::string_body> res;
    boost::system::error_code result = net::error::would_block;
    stream.expires_after(deadline);
    http::async_read(stream, buffer, res,
                     [&](boost::system::error_code ec, std::size_t) { result = ec; });
    ioc.restart();
    ioc.run();
    return {result, std::move(res)};
  }
};

struct fixture {
  io_runtime io{2};
  parked park;

  std::unique_ptr<http_server> make_server(http_handler handler,
                                           http_server_options opts = {}) {
    opts.listen = "127.0.0.1:0";
    auto server = std::make_unique<http_server>(io, opts, std::move(handler));
    auto port = server->start();
    CAF_REQUIRE(port.has_value());
    CAF_REQUIRE(*port != 0);
    CAF_REQUIRE_EQUAL(server->port(), *port);
    return server;
  }

  std::shared_ptr<http_connection> client(std::uint16_t port,
                                          http_client_options opts = {}) {
    auto origin = parse_url("http://127.0.0.1:" + std::to_string(port));
    CAF_REQUIRE(origin.has_value());
    return http_connection::make(io, *origin, opts);
  }

  /// Echoes method, target, body and the X-Test header back.
  static void echo(http_request&& req, http_responder respond) {
    auto r = text(req.method + " " + req.target + " " + req.body);
    r.headers.emplace_back("X-Echo-Test", std::string{req.header("x-test")});
    respond(std::move(r));
  }
};

} // namespace

CAF_TEST(parse_url defaults ports and target and keeps the query) {
  auto u = parse_url("https://Example.COM/v1/x?a=1#frag");
  CAF_REQUIRE(u.has_value());
  CAF_CHECK_EQUAL(u->scheme, "https");
  CAF_CHECK_EQUAL(u->host, "example.com");
  CAF_CHECK_EQUAL(u->port, 443u);
  CAF_CHECK_EQUAL(u->target, "/v1/x?a=1");
  u = parse_url("http://127.0.0.1:8080");
  CAF_REQUIRE(u.has_value());
  CAF_CHECK_EQUAL(u->port, 8080u);
  CAF_CHECK_EQUAL(u->target, "/");
  u = parse_url("http://h?q=1");
  CAF_REQUIRE(u.has_value());
  CAF_CHECK_EQUAL(u->port, 80u);
  CAF_CHECK_EQUAL(u->target, "/?q=1");
  u = parse_url("http://[::1]:9000/p");
  CAF_REQUIRE(u.has_value());
  CAF_CHECK_EQUAL(u->host, "::1");
  CAF_CHECK_EQUAL(u->port, 9000u);
  CAF_CHECK_EQUAL(u->target, "/p");
}

CAF_TEST(parse_url rejects other schemes and malformed authorities) {
  for (auto text : {"ftp://x/", "example.com/path", "http://", "http://:80/",
                    "http://h:0/", "http://h:65536/", "http://h:8x/", "http://h:/",
                    "http://[::1/", "http://user:pw@h/"}) {
    auto u = parse_url(text);
    CAF_CHECK(!u.has_value());
    if (!u)
      CAF_CHECK_EQUAL(u.err().code, "url");
  }
}

CAF_TEST(find_header ignores case and returns empty when absent) {
  header_list h{{"Content-Type", "a"}, {"X-One", "1"}};
  CAF_CHECK_EQUAL(std::string{find_header(h, "content-type")}, "a");
  CAF_CHECK_EQUAL(std::string{find_header(h, "X-ONE")}, "1");
  CAF_CHECK(find_header(h, "x-two").empty());
}

CAF_TEST_FIXTURE_SCOPE(http_tests, fixture)

CAF_TEST(query_param percent decodes the value of the first matching name) {
  CAF_CHECK_EQUAL(
      query_param("/v1/dead-letters?destination=web%20hook&limit=5", "destination"),
      "web hook");
  CAF_CHECK_EQUAL(query_param("/x?a=1&b=two+words&a=3", "b"), "two words");
  CAF_CHECK_EQUAL(query_param("/x?a=1&a=3", "a"), "1");
  CAF_CHECK_EQUAL(query_param("/x?ab=1", "a"), "");
  CAF_CHECK_EQUAL(query_param("/x?flag&b=2", "flag"), "");
  CAF_CHECK_EQUAL(query_param("/x?b=%zz", "b"), "%zz");
  CAF_CHECK_EQUAL(query_param("/x", "a"), "");
}

CAF_TEST(listen errors are reported with code listen) {
  http_server_options opts;
  opts.listen = "127.0.0.1:0";
  http_server first{io, opts, echo};
  auto port = first.start();
  CAF_REQUIRE(port.has_value());
  opts.listen = "127.0.0.1:" + std::to_string(*port);
  http_server second{io, opts, echo};
  auto taken = second.start();
  CAF_REQUIRE(!taken.has_value());
  CAF_CHECK_EQUAL(taken.err().code, "listen");
  CAF_MESSAGE("listen error: " << taken.err().message);
  opts.listen = "no-port-here";
  http_server third{io, opts, echo};
  auto bad = third.start();
  CAF_REQUIRE(!bad.has_value());
  CAF_CHECK_EQUAL(bad.err().code, "listen");
}

CAF_TEST(a GET and a POST round trip with headers and body) {
  auto server = make_server(echo);
  auto conn = client(server->port());
  auto get = conn->request("GET", "/v1/x?y=1", {{"X-Test", "hello"}});
  CAF_CHECK_EQUAL(get.status, 200);
  CAF_CHECK_EQUAL(get.error, "");
  CAF_CHECK_EQUAL(get.body, "GET /v1/x?y=1 ");
  CAF_CHECK_EQUAL(std::string{find_header(get.headers, "x-echo-test")}, "hello");
  CAF_CHECK_EQUAL(std::string{find_header(get.headers, "server")}, "gavel");
  CAF_CHECK_EQUAL(std::string{find_header(get.headers, "content-type")}, "text/plain");
  for (auto& [name, value] : get.headers)
    for (char c : name)
      CAF_CHECK(!(c >= 'A' && c <= 'Z'));
  std::string body(100 * 1024, 'b');
  auto post = conn->request("POST", "/v1/events", {{"X-Test", "big"}}, body);
  CAF_CHECK_EQUAL(post.status, 200);
  CAF_CHECK_EQUAL(post.body, "POST /v1/events " + body);
  CAF_CHECK_EQUAL(std::string{find_header(post.headers, "content-length")},
                  std::to_string(post.body.size()));
  CAF_CHECK(post.ok());
}

CAF_TEST(HEAD gets the headers of the GET without a body) {
  auto server = make_server(echo);
  auto conn = client(server->port());
  auto head = conn->request("HEAD", "/h");
  CAF_CHECK_EQUAL(head.status, 200);
  CAF_CHECK_EQUAL(head.body, "");
  CAF_CHECK_EQUAL(std::string{find_header(head.headers, "content-length")},
                  std::to_string(std::string{"HEAD /h "}.size()));
  // The connection is still in step: the next answer is the next request's.
  CAF_CHECK_EQUAL(conn->request("GET", "/g").body, "GET /g ");
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 1u);
}

CAF_TEST(Expect 100 - continue gets an interim response before the body) {
  auto server = make_server(echo);
  raw_client raw{server->port()};
  raw.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           "Expect: 100-continue\r\n\r\n");
  auto [ec1, interim] = raw.read();
  CAF_REQUIRE(!ec1);
  CAF_CHECK_EQUAL(interim.result_int(), 100u);
  raw.send("hello");
  auto [ec2, final_res] = raw.read();
  CAF_REQUIRE(!ec2);
  CAF_CHECK_EQUAL(final_res.result_int(), 200u);
  CAF_CHECK_EQUAL(final_res.body(), "POST /e hello");
}

CAF_TEST(keep - alive carries many requests over one connection in order) {
  auto server = make_server(echo);
  auto conn = client(server->port());
  for (int i = 0; i < 200; ++i) {
    auto r = conn->request("GET", "/n/" + std::to_string(i));
    CAF_REQUIRE_EQUAL(r.status, 200);
    CAF_REQUIRE_EQUAL(r.body, "GET /n/" + std::to_string(i) + " ");
  }
  // Asynchronous submissions from several threads: each thread's requests
  // complete in its submission order.
  constexpr int per_thread = 250;
  std::mutex mtx;
  std::vector<std::vector<int>> seen(4);
  std::promise<void> all_done;
  std::atomic<int> remaining{4 * per_thread};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        conn->async_request("GET", "/t/" + std::to_string(i), {}, {},
                            [&, t, i](http_result r) {
                              {
                                std::lock_guard lock{mtx};
                                seen[t].push_back(r.status == 200 ? i : -1);
                              }
                              if (--remaining == 0)
                                all_done.set_value();
                            });
    });
  for (auto& th : threads)
    th.join();
  CAF_REQUIRE(all_done.get_future().wait_for(deadline) == std::future_status::ready);
  for (auto& s : seen) {
    CAF_REQUIRE_EQUAL(s.size(), static_cast<std::size_t>(per_thread));
    for (int i = 0; i < per_thread; ++i)
      CAF_CHECK_EQUAL(s[i], i);
  }
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 1u);
  CAF_CHECK_EQUAL(server->stats().requests, 1200u);
}

CAF_TEST(a body over max_body_bytes is answered 413 and the connection closed) {
  http_server_options opts;
  opts.max_body_bytes = 1024;
  auto server = make_server(echo, opts);
  auto conn = client(server->port());
  auto r = conn->request("POST", "/v1/events", {}, std::string(64 * 1024, 'x'));
  CAF_CHECK_EQUAL(r.status, 413);
  CAF_CHECK_EQUAL(r.body, R"({"error":{"status":413,"code":"body_too_large","field":"",)"
                          R"("message":"body larger than 1024 bytes"}})");
  CAF_CHECK_EQUAL(std::string{find_header(r.headers, "connection")}, "close");
  // The next request opens a new connection and goes through.
  auto ok = conn->request("POST", "/v1/events", {}, std::string(1024, 'x'));
  CAF_CHECK_EQUAL(ok.status, 200);
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 2u);
  CAF_CHECK_EQUAL(server->stats().requests_rejected, 1u);
  // A chunked body that grows past the limit is caught while reading.
  raw_client raw{server->port()};
  raw.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "800\r\n" +
           std::string(0x800, 'y') + "\r\n0\r\n\r\n");
  auto [ec, res] = raw.read();
  CAF_REQUIRE(!ec);
  CAF_CHECK_EQUAL(res.result_int(), 413u);
}

CAF_TEST(unparsable requests are answered 400) {
  auto server = make_server(echo);
  raw_client raw{server->port()};
  raw.send("NOT HTTP AT ALL\r\n\r\n");
  auto [ec, res] = raw.read();
  CAF_REQUIRE(!ec);
  CAF_CHECK_EQUAL(res.result_int(), 400u);
  CAF_CHECK_EQUAL(std::string{res[http::field::server]}, "gavel");
  CAF_CHECK(!res.keep_alive());
}

CAF_TEST(pipelined responses are written in request order) {
  auto server = make_server([this](http_request&& req, http_responder respond) {
    park.add(req.target, std::move(respond));
  });
  raw_client raw{server->port()};
  raw.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
           "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
           "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  // All three reach the handler before any is answered.
  CAF_REQUIRE(park.wait_for_count(3));
  // Answer from other threads, last first.
  for (auto target : {"/c", "/b", "/a"}) {
    auto respond = park.take(target);
    CAF_REQUIRE(respond != nullptr);
    std::thread{[respond, target] {
      respond(text(std::string{"answer "} + target));
    }}.join();
  }
  for (auto target : {"/a", "/b", "/c"}) {
    auto [ec, res] = raw.read();
    CAF_REQUIRE(!ec);
    CAF_CHECK_EQUAL(res.body(), std::string{"answer "} + target);
    CAF_CHECK(res.keep_alive());
  }
}

CAF_TEST(the client reconnects after the server closes the connection) {
  auto server = make_server([](http_request&& req, http_responder respond) {
    auto r = text("bye " + req.target);
    r.headers.emplace_back("Connection", "close");
    respond(std::move(r));
  });
  auto conn = client(server->port());
  for (int i = 0; i < 3; ++i) {
    auto r = conn->request("GET", "/" + std::to_string(i));
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK_EQUAL(r.body, "bye /" + std::to_string(i));
    CAF_CHECK_EQUAL(std::string{find_header(r.headers, "connection")}, "close");
  }
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 3u);
}

CAF_TEST(a server that went away is reported then reached again on restart) {
  auto server = make_server(echo);
  auto port = server->port();
  auto conn = client(port);
  CAF_CHECK_EQUAL(conn->request("GET", "/").status, 200);
  server->stop();
  server.reset();
  // The idle connection is dead now; the request fails or reconnects, but
  // never hangs, and is not retried behind the caller's back.
  auto gone = conn->request("GET", "/");
  CAF_CHECK_EQUAL(gone.status, 0);
  CAF_MESSAGE("after stop: " << gone.error);
  CAF_CHECK(!gone.error.empty());
  http_server_options opts;
  opts.listen = "127.0.0.1:" + std::to_string(port);
  http_server again{io, opts, echo};
  CAF_REQUIRE(again.start().has_value());
  CAF_CHECK_EQUAL(conn->request("GET", "/back").body, "GET /back ");
}

CAF_TEST(connection refused is status 0 with the reason) {
  std::uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor probe{ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
    port = probe.local_endpoint().port();
  }
  auto conn = client(port);
  auto r = conn->request("GET", "/");
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK_EQUAL(r.error, "connect: Connection refused");
  CAF_CHECK(!r.ok());
}

CAF_TEST(request timeout against a handler that never answers) {
  auto server = make_server([this](http_request&& req, http_responder respond) {
    if (req.target == "/never")
      return park.add(req.target, std::move(respond));
    respond(text("fine"));
  });
  http_client_options opts;
  opts.request_timeout = 300ms;
  auto conn = client(server->port(), opts);
  auto r = conn->request("GET", "/never");
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK(r.error.find("timeout") != std::string::npos);
  CAF_MESSAGE("timeout error: " << r.error);
  // Answering after the client gave up is harmless.
  auto late = park.take("/never");
  CAF_REQUIRE(late != nullptr);
  std::thread{[late] { late(text("too late")); }}.join();
  auto again = conn->request("GET", "/ok");
  CAF_CHECK_EQUAL(again.status, 200);
  CAF_CHECK_EQUAL(again.body, "fine");
}

CAF_TEST(close fails queued requests and the next request reconnects) {
  auto server = make_server([this](http_request&& req, http_responder respond) {
    if (req.target == "/never")
      return park.add(req.target, std::move(respond));
    respond(text("fine"));
  });
  auto conn = client(server->port());
  std::promise<http_result> first;
  std::promise<http_result> second;
  conn->async_request("GET", "/never", {}, {},
                      [&](http_result r) { first.set_value(std::move(r)); });
  conn->async_request("GET", "/queued", {}, {},
                      [&](http_result r) { second.set_value(std::move(r)); });
  CAF_REQUIRE(park.wait_for_count(1));
  conn->close();
  auto f1 = first.get_future();
  auto f2 = second.get_future();
  CAF_REQUIRE(f1.wait_for(deadline) == std::future_status::ready);
  CAF_REQUIRE(f2.wait_for(deadline) == std::future_status::ready);
  CAF_CHECK_EQUAL(f1.get().error, "closed");
  CAF_CHECK_EQUAL(f2.get().error, "closed");
  CAF_CHECK_EQUAL(conn->request("GET", "/after").body, "fine");
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 2u);
}

CAF_TEST(https verifies the server against ca_file and its host name) {
  gavel::test::test_pki pki;
  gavel::test::tls_test_server good{pki.path("good.pem"), pki.path("good.key")};
  gavel::test::tls_test_server other{pki.path("other.pem"), pki.path("other.key")};
  auto https = [&](std::string host, std::uint16_t port, std::string ca_file) {
    auto origin = parse_url("https://" + host + ":" + std::to_string(port));
    CAF_REQUIRE(origin.has_value());
    http_client_options opts;
    opts.ca_file = std::move(ca_file);
    return http_connection::make(io, *origin, opts);
  };
  // Trusted CA, matching IP and name: success, and keep-alive works.
  auto conn = https("127.0.0.1", good.port(), pki.ca_file());
  for (int i = 0; i < 3; ++i) {
    auto r = conn->request("GET", "/secure");
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK_EQUAL(r.error, "");
    CAF_CHECK_EQUAL(r.body, "tls ok /secure");
  }
  CAF_CHECK_EQUAL(
      https("localhost", good.port(), pki.ca_file())->request("GET", "/n").status, 200);
  // Unknown CA.
  auto untrusted = https("127.0.0.1", good.port(), "")->request("GET", "/");
  CAF_CHECK_EQUAL(untrusted.status, 0);
  CAF_CHECK(untrusted.error.find("tls: certificate verify failed") == 0);
  CAF_MESSAGE("untrusted: " << untrusted.error);
  // Trusted CA, but the certificate names another host.
  auto mismatch = https("127.0.0.1", other.port(), pki.ca_file())->request("GET", "/");
  CAF_CHECK_EQUAL(mismatch.status, 0);
  CAF_CHECK(mismatch.error.find("tls: certificate verify failed") == 0);
  CAF_MESSAGE("mismatch: " << mismatch.error);
  // Verification off (code only, for tests): the untrusted server is reached.
  auto origin = parse_url("https://127.0.0.1:" + std::to_string(other.port()));
  http_client_options insecure;
  insecure.verify_peer = false;
  CAF_CHECK_EQUAL(
      http_connection::make(io, *origin, insecure)->request("GET", "/").status, 200);
  // A ca_file that does not exist is reported, not ignored.
  auto missing =
      https("127.0.0.1", good.port(), pki.path("nope.pem"))->request("GET", "/");
  CAF_CHECK_EQUAL(missing.status, 0);
  CAF_CHECK(missing.error.find("ca_file") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
