#define CAF_SUITE adapters.http_tls_server
// The server side of https (http_server_options::tls_cert_file/tls_key_file)
// against the project's own client with verification on, and the
// drop_connection response flag used by the sim emulators.
#include "adapters/http/http.hpp"
#include "adapters/tls_fixture.hpp"

#include <caf/test/unit_test.hpp>

using namespace gavel::adapters;

namespace {

struct fixture {
  gavel::test::test_pki pki;
  io_runtime io{2};

  static void echo(http_request&& req, http_responder respond) {
    http_response r;
    r.content_type = "text/plain";
    r.body = req.method + " " + req.target + " " + req.body;
    if (req.target == "/drop")
      r.drop_connection = true;
    respond(std::move(r));
  }

  std::unique_ptr<http_server> tls_server(http_server_options opts = {}) {
    opts.listen = "127.0.0.1:0";
    if (opts.tls_cert_file.empty())
      opts.tls_cert_file = pki.path("good.pem");
    if (opts.tls_key_file.empty())
      opts.tls_key_file = pki.path("good.key");
    auto server = std::make_unique<http_server>(io, opts, echo);
    auto port = server->start();
    CAF_REQUIRE(port.has_value());
    return server;
  }

  std::shared_ptr<http_connection> client(const std::string& scheme,
                                          const std::string& host, std::uint16_t port,
                                          std::string ca_file) {
    auto origin = parse_url(scheme + "://" + host + ":" + std::to_string(port));
    CAF_REQUIRE(origin.has_value());
    http_client_options opts;
    opts.ca_file = std::move(ca_file);
    opts.request_timeout = std::chrono::milliseconds{5000};
    return http_connection::make(io, *origin, opts);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_tls_server_tests, fixture)

CAF_TEST(a TLS server and the verifying client talk over one keep - alive connection) {
  auto server = tls_server();
  auto conn = client("https", "127.0.0.1", server->port(), pki.ca_file());
  for (int i = 0; i < 5; ++i) {
    auto r = conn->request("POST", "/v1/x?i=" + std::to_string(i),
                           {{"Content-Type", "text/plain"}}, "body");
    CAF_CHECK_EQUAL(r.error, "");
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK_EQUAL(r.body, "POST /v1/x?i=" + std::to_string(i) + " body");
  }
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 1u);
  // The certificate also names localhost.
  auto by_name = client("https", "localhost", server->port(), pki.ca_file());
  CAF_CHECK_EQUAL(by_name->request("GET", "/n").status, 200);
  CAF_CHECK_EQUAL(server->stats().tls_handshake_failures, 0u);
}

CAF_TEST(a client without the test CA fails verification and the server survives) {
  auto server = tls_server();
  auto untrusted = client("https", "127.0.0.1", server->port(), "")->request("GET", "/");
  CAF_CHECK_EQUAL(untrusted.status, 0);
  CAF_CHECK(untrusted.error.find("tls: certificate verify failed") == 0);
  CAF_MESSAGE("untrusted: " << untrusted.error);
  // Plain HTTP spoken to a TLS port gets no HTTP answer.
  auto plain = client("http", "127.0.0.1", server->port(), "")->request("GET", "/");
  CAF_CHECK_EQUAL(plain.status, 0);
  CAF_MESSAGE("plain to tls: " << plain.error);
  auto good = client("https", "127.0.0.1", server->port(), pki.ca_file());
  CAF_CHECK_EQUAL(good->request("GET", "/after").status, 200);
  CAF_CHECK_GREATER_OR_EQUAL(server->stats().tls_handshake_failures, 1u);
}

CAF_TEST(a certificate for another host name fails verification) {
  http_server_options opts;
  opts.tls_cert_file = pki.path("other.pem");
  opts.tls_key_file = pki.path("other.key");
  auto server = tls_server(opts);
  auto r =
      client("https", "127.0.0.1", server->port(), pki.ca_file())->request("GET", "/");
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_CHECK(r.error.find("tls: certificate verify failed") == 0);
}

CAF_TEST(bad TLS settings make start fail with code listen) {
  auto try_start = [&](std::string cert, std::string key) {
    http_server_options opts;
    opts.listen = "127.0.0.1:0";
    opts.tls_cert_file = std::move(cert);
    opts.tls_key_file = std::move(key);
    http_server server{io, opts, echo};
    auto port = server.start();
    CAF_CHECK(!port.has_value());
    if (!port) {
      CAF_CHECK_EQUAL(port.err().code, "listen");
      CAF_MESSAGE("tls setup error: " << port.err().message);
    }
  };
  try_start(pki.path("good.pem"), "");
  try_start(pki.path("missing.pem"), pki.path("good.key"));
  try_start(pki.path("good.pem"), pki.path("other.key")); // key of another cert
}

CAF_TEST(drop_connection closes without an answer over TLS and plain HTTP) {
  auto server = tls_server();
  auto conn = client("https", "127.0.0.1", server->port(), pki.ca_file());
  auto dropped = conn->request("POST", "/drop", {}, "x");
  CAF_CHECK_EQUAL(dropped.status, 0);
  CAF_MESSAGE("dropped: " << dropped.error);
  // The next request reconnects.
  CAF_CHECK_EQUAL(conn->request("GET", "/again").status, 200);

  http_server_options opts;
  opts.listen = "127.0.0.1:0";
  http_server plain{io, opts, echo};
  auto port = plain.start();
  CAF_REQUIRE(port.has_value());
  auto pconn = client("http", "127.0.0.1", *port, "");
  CAF_CHECK_EQUAL(pconn->request("POST", "/drop").status, 0);
  CAF_CHECK_EQUAL(pconn->request("GET", "/again").status, 200);
}

CAF_TEST_FIXTURE_SCOPE_END()
