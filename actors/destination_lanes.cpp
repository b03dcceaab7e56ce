#include "actors/destination_lanes.hpp"

#include <algorithm>

namespace gavel::actors {

using protocols::failure_class;
using protocols::outbox_record;

std::deque<std::int64_t>& destination_lanes::line_of(const lane& l) {
  // Every record of an auction has the same lane (records.hpp), so its head
  // tells.
  return !l.queue.empty() && l.queue.front().rec.backfill ? ready_backfill_ : ready_;
}

void destination_lanes::make_ready(std::int64_t auction, lane& l) {
  if (!l.ready && !l.waiting && !l.parked && !l.redriving && l.in_flight == 0 &&
      !l.queue.empty()) {
    l.ready = true;
    line_of(l).push_back(auction);
  }
}

bool destination_lanes::push(outbox_record rec) {
  auto auction = rec.auction_id;
  auto& l = lanes_[auction];
  if (l.parked && !l.redriving)
    return false;
  l.queue.push_back({std::move(rec), false});
  make_ready(auction, l);
  return true;
}

std::optional<destination_lanes::request>
destination_lanes::next(const adapters::destination_client& client) {
  auto limits = client.limits();
  if (batch_cap_ == 0)
    batch_cap_ = limits.max_records;
  // Each ready auction contributes a prefix of its queue (many records of
  // one auction, in order, when the kind allows it); an auction that could
  // not join keeps its place in line.
  request_builder builder{limits, batch_cap_};
  request out;
  std::vector<std::int64_t> deferred, deferred_backfill;
  // Live auctions first. Backfilled ones go only in a request without live
  // records (and while backfill may have one more request in flight): a
  // live record's request stays as small, and as quick to answer, as
  // without backfill.
  const bool backfill_may_join = backfill_room();
  bool carries_backfill = false, carries_live = false;
  while ((!ready_.empty() ||
          (backfill_may_join && !carries_live && !ready_backfill_.empty())) &&
         !builder.full()) {
    const bool live = !ready_.empty();
    auto& line = live ? ready_ : ready_backfill_;
    auto auction = line.front();
    auto it = lanes_.find(auction);
    if (it == lanes_.end()) {
      line.pop_front();
      continue;
    }
    auto& l = it->second;
    if (!l.ready || l.parked || l.redriving || l.waiting || l.in_flight > 0 ||
        l.queue.empty()) {
      l.ready = false;
      line.pop_front();
      continue;
    }
    if (!builder.open(auction, client.size_of(l.queue.front().rec)))
      break;
    line.pop_front();
    std::size_t n = 0;
    while (n < l.queue.size() && builder.add(client.size_of(l.queue[n].rec),
                                             client.batch_key(l.queue[n].rec))) {
      out.batch.push_back(l.queue[n].rec);
      ++n;
    }
    builder.close();
    if (n == 0) {
      // Its head clashes with a record already in the request (same id):
      // it goes first in the next one.
      (live ? deferred : deferred_backfill).push_back(auction);
      continue;
    }
    l.ready = false;
    l.in_flight = n;
    carries_backfill |= !live;
    carries_live |= live;
  }
  for (auto a = deferred.rbegin(); a != deferred.rend(); ++a)
    ready_.push_front(*a);
  for (auto a = deferred_backfill.rbegin(); a != deferred_backfill.rend(); ++a)
    ready_backfill_.push_front(*a);
  if (out.batch.empty())
    return std::nullopt;
  out.id = ++next_request_;
  out.parts = builder.parts();
  requests_.emplace(out.id, sent{out.parts, out.batch.size(), carries_backfill});
  if (carries_backfill)
    ++backfill_in_flight_;
  return out;
}

std::optional<destination_lanes::answered>
destination_lanes::answer(std::uint64_t id, const adapters::delivery_result& r,
                          std::size_t max_records) {
  auto found = requests_.find(id);
  if (found == requests_.end())
    return std::nullopt;
  auto req = std::move(found->second);
  requests_.erase(found);
  if (req.backfill)
    --backfill_in_flight_;
  bool batch_rejected = r.overall == failure_class::permanent && req.records > 1;
  if (batch_rejected)
    // Split: the next requests carry half as many records, until the one
    // the server rejects travels alone.
    batch_cap_ = std::max<std::size_t>(1, req.records / 2);
  else if (r.overall == failure_class::none && r.records.empty())
    batch_cap_ = std::min(max_records, batch_cap_ * 2);
  answered out;
  out.batch_rejected = batch_rejected;
  out.records = req.records;
  for (auto& v : split_verdicts(req.parts, r)) {
    auto it = lanes_.find(v.auction);
    if (it == lanes_.end())
      continue;
    auto& l = it->second;
    l.in_flight = 0;
    if (batch_rejected) {
      make_ready(v.auction, l);
      continue;
    }
    settled s;
    s.auction = v.auction;
    for (std::size_t k = 0; k < v.delivered && !l.queue.empty(); ++k) {
      s.delivered.push_back(std::move(l.queue.front()));
      l.queue.pop_front();
      l.attempts = 0;
    }
    // The first record not delivered stays at the head; the v.resent
    // records behind it stay queued after it, so none of them overtakes it.
    if (v.failed && !l.queue.empty()) {
      if (v.failed->outcome == failure_class::transient) {
        s.backoff = *v.failed;
        s.attempts = ++l.attempts;
        l.waiting = true;
        s.token = ++l.token;
      } else {
        s.dead = *v.failed;
        s.attempts = l.attempts + 1;
        s.dead_item = std::move(l.queue.front());
        l.queue.pop_front();
        l.parked = true;
        l.attempts = 0;
        l.waiting = false;
        ++l.token;
        for (auto& behind : l.queue)
          s.behind.push_back(std::move(behind));
        l.queue.clear();
      }
    }
    make_ready(v.auction, l);
    if (l.queue.empty() && !l.parked && !l.redriving && !l.waiting && l.in_flight == 0)
      lanes_.erase(it);
    out.auctions.push_back(std::move(s));
  }
  return out;
}

bool destination_lanes::retry_due(std::int64_t auction, std::uint64_t token) {
  auto it = lanes_.find(auction);
  if (it == lanes_.end() || it->second.token != token)
    return false;
  it->second.waiting = false;
  make_ready(auction, it->second);
  return true;
}

std::vector<std::int64_t> destination_lanes::start_redrive(std::int64_t auction) {
  std::vector<std::int64_t> targets;
  for (auto& [a, l] : lanes_)
    if (l.parked && !l.redriving && (auction == 0 || a == auction))
      targets.push_back(a);
  for (auto a : targets)
    lanes_[a].redriving = true;
  return targets;
}

void destination_lanes::redriven(std::int64_t auction,
                                 std::vector<outbox_record> letters) {
  auto& l = lanes_[auction];
  l.redriving = false;
  // Dead letters first (position order), then what arrived while they loaded.
  std::deque<item> q;
  for (auto& rec : letters)
    q.push_back({std::move(rec), true});
  for (auto& it : l.queue)
    q.push_back(std::move(it));
  l.queue = std::move(q);
  l.parked = false;
  l.attempts = 0;
  make_ready(auction, l);
}

std::vector<destination_lanes::item>
destination_lanes::redrive_failed(std::int64_t auction) {
  auto& l = lanes_[auction];
  l.redriving = false;
  std::vector<item> rest;
  for (auto& it : l.queue)
    rest.push_back(std::move(it));
  l.queue.clear();
  return rest;
}

std::size_t destination_lanes::parked() const {
  return static_cast<std::size_t>(std::count_if(
      lanes_.begin(), lanes_.end(), [](const auto& kv) { return kv.second.parked; }));
}

bool destination_lanes::retrying() const {
  return std::any_of(lanes_.begin(), lanes_.end(),
                     [](const auto& kv) { return kv.second.attempts > 0; });
}

} // namespace gavel::actors
