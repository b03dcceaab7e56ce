#pragma once

#include <string>
#include <string_view>

/// The build's version and the commit it was built from (`gavel --version`,
/// `sim --version`), written by protocols/version.cmake at build time.
namespace gavel {

std::string_view version() noexcept;
/// `git describe --always --dirty` of the source tree; "unknown" without git.
std::string_view commit() noexcept;

/// "<program> <version> (commit <commit>)".
inline std::string version_line(std::string_view program) {
  return std::string{program} + " " + std::string{version()} + " (commit " +
         std::string{commit()} + ")";
}

} // namespace gavel
