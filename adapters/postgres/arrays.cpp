#include "adapters/postgres/arrays.hpp"

namespace gavel::adapters::postgres {

void append_text_array(std::string& out, const std::vector<std::string_view>& xs,
                       bool empty_is_null) {
  std::size_t bytes = 2;
  for (auto x : xs)
    bytes += x.size() + 3;
  out.reserve(out.size() + bytes + bytes / 8);
  out += '{';
  bool first = true;
  for (auto x : xs) {
    if (!first)
      out += ',';
    first = false;
    if (empty_is_null && x.empty()) {
      out += "NULL";
      continue;
    }
    out += '"';
    // Copy runs between the characters that need a backslash at once.
    const char* run = x.data();
    const char* end = x.data() + x.size();
    for (const char* p = run; p != end; ++p) {
      if (*p == '"' || *p == '\\') {
        out.append(run, p);
        out += '\\';
        out += *p;
        run = p + 1;
      }
    }
    out.append(run, end);
    out += '"';
  }
  out += '}';
}

} // namespace gavel::adapters::postgres
