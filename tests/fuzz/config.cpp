// libFuzzer target: adapters::parse_config on arbitrary TOML text. Any input
// must give a config or an error naming a key, never a crash or an exception;
// what it accepts must be usable by the code that consumes it.
#include "adapters/config/config.hpp"

#include "protocols/crypto.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace gavel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // A `file:` secret reads the named file; keep the fuzzer away from
  // devices and pseudo-files that block or never end (/dev/stdin,
  // /proc/self/fd/0, /dev/zero): they prove nothing about the parser.
  if (text.find("file:") != text.npos) {
    for (std::string_view bad : {"dev", "proc", "sys", "fd", "run"})
      if (text.find(bad) != text.npos)
        return 0;
  }
  auto cfg = adapters::parse_config(text, "fuzz");
  if (!cfg)
    return 0;
  for (const auto& d : cfg->destinations) {
    (void)adapters::effective_concurrency(d);
    // The config's check of a webhook secret and the signer's decoding are
    // two pieces of code: a secret the one accepts must sign, or Gavel would
    // start and then fail every delivery of that destination.
    if (d.kind == "webhook" && !protocols::webhook_signature(d.secret, "id", 0, "body"))
      std::abort();
  }
  return 0;
}
