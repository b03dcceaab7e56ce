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

} // namespace gavel::protocols
