#include "protocols/source.hpp"

#include <algorithm>

namespace gavel::protocols {

std::optional<source_kind> parse_source_kind(std::string_view text) noexcept {
  for (auto k :
       {source_kind::http, source_kind::postgres_inbox, source_kind::mysql_inbox})
    if (to_string(k) == text)
      return k;
  return std::nullopt;
}

bool valid_source_name(std::string_view name) noexcept {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

} // namespace gavel::protocols
