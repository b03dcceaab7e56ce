#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gavel::protocols {

/// Where a server listens, as written in `server.listen`.
struct listen_address {
  std::string host; ///< without brackets; empty when the text starts with ':'
  std::uint16_t port = 0;
};

/// Reads `host:port` or `[v6]:port` (an unbracketed IPv6 host splits at its
/// last colon). The port is decimal digits, 0..65535; the host is not
/// resolved here. Nothing when the text is neither form. The one reading of
/// this text: the configuration checks it with this and the HTTP server binds
/// what it returns.
std::optional<listen_address> parse_listen_address(std::string_view text);

/// Whether a listen host reaches only this machine: `localhost`, an IPv4
/// address in 127.0.0.0/8, or `::1`. Any other name (it could resolve
/// anywhere), and the empty host (every address), is not.
bool is_loopback_host(std::string_view host);

} // namespace gavel::protocols
