// libFuzzer target: protocols::json::parse on arbitrary bytes.
//
// Besides "never crashes", it checks the parser's own promise: whatever it
// accepts serialises to a text that parses back to the same value (the
// envelope is built by dump() and consumers parse it).
#include "protocols/json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace gavel::protocols;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto v = json::parse(text);
  if (!v) {
    // Every failure carries one of the documented codes (duplicate_key:
    // once repeated keys are refused, ADR 0009).
    const auto& code = v.err().code;
    if (code != "malformed" && code != "too_deep" && code != "duplicate_key")
      std::abort();
    return 0;
  }
  auto out = json::dump(*v);
  auto again = json::parse(out);
  if (!again || !(*again == *v))
    std::abort();
  return 0;
}
