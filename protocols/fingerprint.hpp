#pragma once

#include <cstdint>
#include <string_view>

/// Content fingerprints of stored events, so that a duplicate whose content
/// differs from the stored one (a producer bug) can be seen without keeping
/// every event's bytes in memory.
namespace gavel::protocols {

/// FNV-1a, 64 bits: not a defence against anyone, only a cheap identity check.
inline std::uint64_t fingerprint(std::string_view bytes) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// The `data` member of an envelope made by make_envelope (it is the last
/// member: `{"metadata":{...},"data":<data>}`); empty when not found.
inline std::string_view envelope_data(std::string_view envelope) noexcept {
  constexpr std::string_view marker = R"(},"data":)";
  auto at = envelope.find(marker);
  if (at == std::string_view::npos || envelope.size() < at + marker.size() + 1)
    return {};
  return envelope.substr(at + marker.size(), envelope.size() - (at + marker.size()) - 1);
}

} // namespace gavel::protocols
