// `sim verify --gavel URL --token T`: Gavel's digests of the closed auctions
// against the ones computed from what the destination received.
#include "adapters/http/http.hpp"
#include "sim/verify_digest.hpp"

#include <nlohmann/json.hpp>

namespace gavel::sim {

pull_check
check_against_gavel(const std::string& base_url, const std::string& token,
                    const std::map<std::int64_t, protocols::auction_digest>& received) {
  pull_check out;
  auto note = [&](std::string text) {
    if (out.examples.size() < 20)
      out.examples.push_back(std::move(text));
  };
  auto origin = adapters::parse_url(base_url);
  if (!origin) {
    out.failed = received.size();
    note("bad --gavel URL: " + origin.err().message);
    return out;
  }
  adapters::io_runtime io(1);
  auto conn = adapters::http_connection::make(io, *origin);
  std::string prefix = origin->target == "/" ? "" : origin->target;
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();
  for (const auto& [id, digest] : received) {
    ++out.auctions;
    auto r = conn->request("GET", prefix + "/v1/auctions/" + std::to_string(id),
                           {{"Authorization", "Bearer " + token}});
    if (r.status != 200) {
      ++out.failed;
      note("auction " + std::to_string(id) + ": GET /v1/auctions answered " +
           (r.status ? std::to_string(r.status) : r.error));
      continue;
    }
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("digest")) {
      ++out.failed;
      note("auction " + std::to_string(id) + ": answer without a digest");
      continue;
    }
    auto sha = j["digest"].value("sha256", std::string{});
    auto events = j["digest"].value("events", std::int64_t{-1});
    if (sha == digest.sha256 && events == digest.events) {
      ++out.equal;
    } else {
      ++out.mismatched;
      note("auction " + std::to_string(id) + ": Gavel " + sha + " (" +
           std::to_string(events) + " events), received " + digest.sha256 + " (" +
           std::to_string(digest.events) + " events)");
    }
  }
  conn->close();
  return out;
}

} // namespace gavel::sim
