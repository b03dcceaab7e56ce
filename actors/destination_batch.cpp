#include "actors/destination_batch.hpp"

#include <algorithm>

namespace gavel::actors {

using protocols::failure_class;

request_builder::request_builder(const adapters::batch_limits& limits, std::size_t cap)
    : limits_(limits), cap_(std::max<std::size_t>(1, std::min(cap, limits.max_records))) {
}

bool request_builder::full() const {
  if (records_ >= cap_)
    return true;
  return !limits_.mixes_auctions && !parts_.empty();
}

bool request_builder::open(std::int64_t auction, std::size_t first_size) {
  if (current_)
    close();
  if (full())
    return false;
  // The first record of a request always goes, whatever its size: the server
  // is the judge of a record that alone exceeds the limit.
  if (records_ > 0 && bytes_ + first_size > limits_.max_bytes)
    return false;
  current_ = batch_part{auction, 0};
  return true;
}

bool request_builder::add(std::size_t size, const std::string& key) {
  if (!current_ || records_ >= cap_ || current_->records >= limits_.max_per_auction)
    return false;
  if (records_ > 0 && bytes_ + size > limits_.max_bytes)
    return false;
  if (!key.empty() && !keys_.insert(key).second)
    return false;
  ++current_->records;
  ++records_;
  bytes_ += size;
  return true;
}

void request_builder::close() {
  if (current_ && current_->records > 0)
    parts_.push_back(*current_);
  current_.reset();
}

std::vector<auction_verdict> split_verdicts(const std::vector<batch_part>& parts,
                                            const adapters::delivery_result& result) {
  std::vector<auction_verdict> out;
  out.reserve(parts.size());
  std::size_t offset = 0;
  for (const auto& part : parts) {
    auction_verdict v;
    v.auction = part.auction;
    for (std::size_t k = 0; k < part.records; ++k) {
      adapters::record_outcome o;
      if (result.overall != failure_class::none)
        o = {result.overall, result.error, result.status};
      else if (offset + k < result.records.size())
        o = result.records[offset + k];
      if (o.outcome == failure_class::none) {
        ++v.delivered;
        continue;
      }
      v.failed = std::move(o);
      v.resent = part.records - k - 1;
      break;
    }
    offset += part.records;
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace gavel::actors
