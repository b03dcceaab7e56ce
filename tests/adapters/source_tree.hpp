#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace gavel::test {

/// The source tree: GAVEL_SOURCE_DIR when set, else three levels above this
/// file (CMake compiles it by its absolute path).
inline std::string source_dir() {
  if (const char* dir = std::getenv("GAVEL_SOURCE_DIR"); dir && *dir)
    return dir;
  return std::filesystem::path{__FILE__}
      .parent_path()
      .parent_path()
      .parent_path()
      .string();
}

} // namespace gavel::test
