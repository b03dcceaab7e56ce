#define CAF_SUITE adapters.http_tls_server
// The server side of https (http_server_options::tls_cert_file/tls_key_file)
// against the project's own client with verification on, and the
// drop_connection response flag used by the sim emulators.
#include "adapters/http/http.hpp"
#include "adapters/tls_fixture.hpp"

#include <caf/test/unit_test.hpp>
#include <filesystem>

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

CAF_TEST(with client_ca only a client with a certificate of that CA gets an answer) {
  http_server_options opts;
  opts.client_ca_file = pki.ca_file();
  auto server = tls_server(opts);
  auto without = client("https", "127.0.0.1", server->port(), pki.ca_file());
  auto r = without->request("GET", "/");
  CAF_CHECK_EQUAL(r.status, 0);
  CAF_MESSAGE("no client certificate: " << r.error);
  auto origin = parse_url("https://127.0.0.1:" + std::to_string(server->port()));
  CAF_REQUIRE(origin.has_value());
  http_client_options with_cert;
  with_cert.ca_file = pki.ca_file();
  with_cert.client_cert_file = pki.path("client.pem");
  with_cert.client_key_file = pki.path("client.key");
  auto with = http_connection::make(io, *origin, with_cert);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(with->request("GET", "/mtls").status, 200);
  CAF_CHECK_GREATER_OR_EQUAL(server->stats().tls_handshake_failures, 1u);
}

CAF_TEST(client_ca without a certificate of the server fails start) {
  http_server_options opts;
  opts.listen = "127.0.0.1:0";
  opts.client_ca_file = pki.ca_file();
  http_server server{io, opts, echo};
  auto port = server.start();
  CAF_REQUIRE(!port.has_value());
  CAF_CHECK_EQUAL(port.err().code, "listen");
}

// The live files are copies the test replaces, as a certificate renewal
// does; "other" (a certificate for another host name) is what new
// connections see once it is reloaded: their verification fails.
CAF_TEST(reload_tls serves new files to new connections and keeps open ones) {
  auto copy = [&](const std::string& from, const std::string& to) {
    std::filesystem::copy_file(pki.path(from), pki.path(to),
                               std::filesystem::copy_options::overwrite_existing);
  };
  copy("good.pem", "live.pem");
  copy("good.key", "live.key");
  http_server_options opts;
  opts.tls_cert_file = pki.path("live.pem");
  opts.tls_key_file = pki.path("live.key");
  auto server = tls_server(opts);
  auto open = client("https", "127.0.0.1", server->port(), pki.ca_file());
  CAF_REQUIRE_EQUAL(open->request("GET", "/before").status, 200);
  copy("other.pem", "live.pem");
  copy("other.key", "live.key");
  auto reloaded = server->reload_tls();
  CAF_REQUIRE(reloaded);
  auto fresh =
      client("https", "127.0.0.1", server->port(), pki.ca_file())->request("GET", "/");
  CAF_CHECK_EQUAL(fresh.status, 0);
  CAF_CHECK(fresh.error.find("tls: certificate verify failed") == 0);
  // The connection opened before the reload goes on, on the same socket.
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(open->request("GET", "/after").status, 200);
  CAF_CHECK_EQUAL(server->stats().connections_accepted, 2u);
  // A key of another certificate: refused, and the previous pair stays.
  copy("good.key", "live.key");
  auto broken = server->reload_tls();
  CAF_REQUIRE(!broken);
  CAF_CHECK_EQUAL(broken.err().code, "tls");
  CAF_MESSAGE("failed reload: " << broken.err().message);
  CAF_CHECK(broken.err().message.find("previous certificate stays") != std::string::npos);
  auto still =
      client("https", "127.0.0.1", server->port(), pki.ca_file())->request("GET", "/");
  CAF_CHECK(still.error.find("tls: certificate verify failed") == 0);
  // Back to the good pair.
  copy("good.pem", "live.pem");
  CAF_REQUIRE(server->reload_tls());
  auto good =
      client("https", "127.0.0.1", server->port(), pki.ca_file())->request("GET", "/");
  CAF_CHECK_EQUAL(good.status, 200);
}

CAF_TEST(reload_tls on a plain server is an error) {
  http_server_options opts;
  opts.listen = "127.0.0.1:0";
  http_server plain{io, opts, echo};
  CAF_REQUIRE(plain.start().has_value());
  auto r = plain.reload_tls();
  CAF_REQUIRE(!r);
  CAF_CHECK_EQUAL(r.err().code, "tls");
}

CAF_TEST_FIXTURE_SCOPE_END()
