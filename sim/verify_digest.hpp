#pragma once

// `sim verify --gavel URL`: each closed auction's digest computed from what a
// destination received, checked against Gavel's own (GET /v1/auctions/<id>,
// DESIGN §1.8). The digests here are pure; verify_pull.cpp asks Gavel.

#include "protocols/pull.hpp"
#include "sim/verify.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gavel::sim {

/// The digest of every auction whose `auction.closed` arrived, from the
/// arrivals alone (each event_id once, redeliveries ignored, heartbeats and
/// bad signatures left out): protocols::digest_of over what was received.
std::map<std::int64_t, protocols::auction_digest>
closed_auction_digests(const std::vector<arrival_record>& arrivals);

struct pull_check {
  std::size_t auctions = 0;   ///< closed auctions compared
  std::size_t equal = 0;      ///< digest and event count equal
  std::size_t mismatched = 0; ///< Gavel's digest differs from the received one
  std::size_t failed = 0;     ///< Gavel did not answer 200 for the auction
  std::vector<std::string> examples;
  bool ok() const noexcept { return mismatched == 0 && failed == 0; }
};

/// Asks Gavel at `base_url` (with bearer `token`) for each auction of
/// `received` and compares. Blocking.
pull_check
check_against_gavel(const std::string& base_url, const std::string& token,
                    const std::map<std::int64_t, protocols::auction_digest>& received);

} // namespace gavel::sim
