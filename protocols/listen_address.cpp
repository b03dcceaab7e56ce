#include "protocols/listen_address.hpp"

#include <charconv>

namespace gavel::protocols {

std::optional<listen_address> parse_listen_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close < 2 || close + 1 >= text.size() ||
        text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
      value > 65535)
    return std::nullopt;
  return listen_address{std::string{host}, static_cast<std::uint16_t>(value)};
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1")
    return true;
  // Dotted quad, each part 0..255, the first 127.
  unsigned first = 0;
  for (int part = 0; part < 4; ++part) {
    auto dot = host.find('.');
    if ((part < 3) == (dot == std::string_view::npos))
      return false; // too few parts, or too many
    auto text = host.substr(0, dot);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || text.size() > 3 || ec != std::errc{} ||
        end != text.data() + text.size() || value > 255)
      return false;
    if (part == 0)
      first = value;
    host = dot == std::string_view::npos ? std::string_view{} : host.substr(dot + 1);
  }
  return first == 127;
}

} // namespace gavel::protocols
