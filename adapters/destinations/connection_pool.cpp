#include "adapters/destinations/connection_pool.hpp"

namespace gavel::adapters::destinations {

using protocols::failure_class;

std::string describe(const http_result& r) {
  if (r.status == 0)
    return r.error.empty() ? std::string{"no response"} : r.error;
  return "HTTP " + std::to_string(r.status);
}

delivery_result whole(const http_result& r) {
  delivery_result out;
  out.status = r.status;
  out.overall = protocols::classify_status(r.status);
  if (out.overall != failure_class::none)
    out.error = describe(r);
  if (auto ra = protocols::parse_retry_after(find_header(r.headers, "Retry-After")))
    out.retry_after = *ra;
  out.rate_limited = r.status == 429;
  return out;
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string base_path(const std::string& target) {
  auto p = target.substr(0, target.find('?'));
  while (!p.empty() && p.back() == '/')
    p.pop_back();
  return p;
}

} // namespace gavel::adapters::destinations
