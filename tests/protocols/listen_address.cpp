#define CAF_SUITE protocols.listen_address
#include "protocols/listen_address.hpp"

#include <caf/test/unit_test.hpp>
#include <initializer_list>
#include <string>
#include <string_view>

using namespace gavel::protocols;

CAF_TEST(host and port split at the last colon or after the brackets) {
  struct row {
    std::string_view text;
    std::string_view host;
    std::uint16_t port;
  };
  for (auto [text, host, port] :
       std::initializer_list<row>{{"127.0.0.1:8080", "127.0.0.1", 8080},
                                  {"localhost:0", "localhost", 0},
                                  {"[::1]:8080", "::1", 8080},
                                  {"[::]:65535", "::", 65535},
                                  {"::1:8080", "::1", 8080},
                                  {":8080", "", 8080}}) {
    auto a = parse_listen_address(text);
    CAF_REQUIRE(a);
    CAF_CHECK_EQUAL(a->host, host);
    CAF_CHECK_EQUAL(a->port, port);
  }
}

CAF_TEST(anything else is not a listen address) {
  for (auto text :
       {"", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:80 ", "[::1]", "[::1]8080", "[::1:8080", "[]:8080"})
    CAF_CHECK(!parse_listen_address(text));
}

CAF_TEST(only addresses of this machine are loopback) {
  // The host is in the compared text, so a failure names it.
  auto seen = [](std::string_view host) {
    return std::string{host} + (is_loopback_host(host) ? ": loopback" : ": not");
  };
  for (std::string_view host :
       {"localhost", "127.0.0.1", "127.1.2.3", "127.255.255.255", "::1"})
    CAF_CHECK_EQUAL(seen(host), std::string{host} + ": loopback");
  for (std::string_view host : {"", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "127.0.0",
                                "127.0.0.1.5", "127.0.0.256", "127..0.1", "127.0.0.1 ",
                                "localhost.example", "gavel.internal", "1127.0.0.1"})
    CAF_CHECK_EQUAL(seen(host), std::string{host} + ": not");
}
