#define CAF_SUITE adapters.config_security
// server.tls_cert / tls_key / client_ca / insecure_plain_http and a
// destination's pii / pii_key: what the configuration accepts and the error
// that names the key otherwise.
#include "adapters/config/config.hpp"
#include "config_checks.hpp"

#include <caf/test/unit_test.hpp>
#include <cstdlib>
#include <string>
#include <vector>

using namespace gavel::adapters;

namespace {

constexpr auto fails = gavel::test::config_fails;
using gavel::test::mentions;

} // namespace

CAF_TEST(plain HTTP off loopback is refused unless allowed) {
  for (auto listen :
       {"0.0.0.0:8080", "10.1.2.3:8080", "[::]:8080", "gavel.internal:8080"}) {
    auto e = fails(std::string{"[server]\nlisten = \""} + listen + "\"\n");
    CAF_CHECK_EQUAL(e.field, "server.listen");
    CAF_CHECK(mentions(e.message, "insecure_plain_http"));
    CAF_CHECK(mentions(e.message, "tls_cert"));
    CAF_CHECK(mentions(e.message, "test.toml:2"));
    auto allowed = parse_config(std::string{"[server]\nlisten = \""} + listen +
                                    "\"\ninsecure_plain_http = true\n",
                                "test.toml");
    CAF_CHECK(allowed);
  }
  for (auto listen : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2:0"}) {
    auto r =
        parse_config(std::string{"[server]\nlisten = \""} + listen + "\"\n", "test.toml");
    CAF_CHECK(r);
  }
  auto defaults = parse_config("", "test.toml");
  CAF_REQUIRE(defaults);
  CAF_CHECK_EQUAL(defaults->server.insecure_plain_http, false);
  CAF_CHECK(defaults->server.tls_cert.empty());
}

CAF_TEST(https on any address takes a certificate and its key) {
  auto r = parse_config(R"([server]
listen = "0.0.0.0:8443"
tls_cert = "/etc/gavel/tls/server.pem"
tls_key = "/etc/gavel/tls/server.key"
client_ca = "/etc/gavel/tls/clients.pem"
)",
                        "test.toml");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->server.tls_cert, "/etc/gavel/tls/server.pem");
  CAF_CHECK_EQUAL(r->server.tls_key, "/etc/gavel/tls/server.key");
  CAF_CHECK_EQUAL(r->server.client_ca, "/etc/gavel/tls/clients.pem");
}

CAF_TEST(a certificate without its key and client_ca without https are refused) {
  auto e = fails("[server]\ntls_cert = \"/c.pem\"\n");
  CAF_CHECK_EQUAL(e.field, "server.tls_key");
  CAF_CHECK(mentions(e.message, "both"));
  e = fails("[server]\ntls_key = \"/c.key\"\n");
  CAF_CHECK_EQUAL(e.field, "server.tls_cert");
  e = fails("[server]\nclient_ca = \"/ca.pem\"\n");
  CAF_CHECK_EQUAL(e.field, "server.client_ca");
  CAF_CHECK(mentions(e.message, "https"));
}

namespace {

std::string webhook(const std::string& more) {
  return R"([pii]
fields = ["bidder_email", "bidder_phone"]
[[destination]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)" + more;
}

} // namespace

CAF_TEST(a destination takes clear mask or hash and the pii fields) {
  auto r = parse_config(webhook(""), "test.toml");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->destinations[0].pii, "clear");
  CAF_CHECK_EQUAL(r->destinations[0].pii_fields,
                  (std::vector<std::string>{"bidder_email", "bidder_phone"}));
  r = parse_config(webhook("pii = \"mask\"\n"), "test.toml");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->destinations[0].pii, "mask");
  ::setenv("GAVEL_TEST_PII_KEY", "k3y-of-at-least-16-bytes", 1);
  r = parse_config(webhook("pii = \"hash\"\npii_key = \"env:GAVEL_TEST_PII_KEY\"\n"),
                   "test.toml");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->destinations[0].pii_key, "k3y-of-at-least-16-bytes");
  // Shown as a secret, never as its value.
  for (const auto& k : config_keys())
    if (k.key == "destination.pii_key")
      CAF_CHECK_EQUAL(k.default_value, "\"\"");
}

CAF_TEST(hash needs a key of 16 bytes and a key needs hash) {
  auto e = fails(webhook("pii = \"hash\"\n"));
  CAF_CHECK_EQUAL(e.field, "destination[0].pii_key");
  CAF_CHECK(mentions(e.message, "required"));
  e = fails(webhook("pii = \"hash\"\npii_key = \"short\"\n"));
  CAF_CHECK_EQUAL(e.field, "destination[0].pii_key");
  CAF_CHECK(mentions(e.message, "16 bytes"));
  CAF_CHECK(!mentions(e.message, "short\""));
  e = fails(webhook("pii = \"mask\"\npii_key = \"0123456789abcdef\"\n"));
  CAF_CHECK_EQUAL(e.field, "destination[0].pii_key");
  e = fails(webhook("pii = \"encrypt\"\n"));
  CAF_CHECK_EQUAL(e.field, "destination[0].pii");
}
