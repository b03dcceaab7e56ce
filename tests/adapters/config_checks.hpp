#pragma once

// What the configuration tests share: the error of a text that must not
// parse, and whether a message mentions something.

#include "adapters/config/config.hpp"

#include <caf/test/unit_test.hpp>
#include <string>
#include <string_view>

namespace gavel::test {

/// The error of a configuration text that must not parse.
inline protocols::error config_fails(std::string_view text) {
  auto r = adapters::parse_config(text, "test.toml");
  if (r) {
    CAF_FAIL("expected an error, the configuration parsed: " << text);
  }
  return r.err();
}

inline bool mentions(const std::string& message, std::string_view what) {
  return message.find(what) != std::string::npos;
}

} // namespace gavel::test
