#include "protocols/backfill.hpp"

#include <algorithm>

namespace gavel::protocols {

double backfill_job::percent_complete() const noexcept {
  if (done())
    return 100.0;
  if (file_size <= 0)
    return 0.0;
  return std::min(100.0,
                  100.0 * static_cast<double>(offset) / static_cast<double>(file_size));
}

std::int64_t backfill_job::rejected_total() const noexcept {
  std::int64_t n = 0;
  for (const auto& [code, count] : rejected)
    n += count;
  return n;
}

bool valid_job_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

} // namespace gavel::protocols
