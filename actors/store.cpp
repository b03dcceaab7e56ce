#include "actors/store.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "protocols/time.hpp"

#include <algorithm>
#include <unordered_set>

namespace gavel::actors {

caf::error make_error(errc x, std::string message) {
  return caf::error{static_cast<std::uint8_t>(x), caf::atom("gavel"),
                    caf::make_message(std::move(message))};
}

caf::error make_error(const protocols::error& e) {
  // Storage refusing writes is, to a writer, the database unable to make it
  // durable now (503, retry); the store reports the condition itself.
  auto code = e.code == "unavailable" || e.code == "storage" ? errc::unavailable
              : e.code == "in_doubt"                         ? errc::in_doubt
                                                             : errc::internal;
  return make_error(code, e.message);
}

namespace {

using store_ptr = store_impl_actor::stateful_pointer<store_state>;

/// The store's series (looked up once; updates are lock-free).
struct store_metrics {
  adapters::metrics::histogram& batch_events;
  adapters::metrics::histogram& commit_seconds;
  adapters::metrics::counter& commits_ok;
  adapters::metrics::counter& commits_failed;
  adapters::metrics::counter& events;
  adapters::metrics::gauge& head;
  adapters::metrics::gauge& up;

  static store_metrics& get() {
    namespace m = adapters::metrics;
    auto& r = m::global();
    static store_metrics x{
        r.histogram("gavel_store_commit_batch_events",
                    "Events written per outbox transaction.", m::size_buckets()),
        r.histogram("gavel_store_commit_duration_seconds",
                    "Duration of one outbox transaction (insert to COMMIT).",
                    m::latency_buckets()),
        r.counter("gavel_store_commits_total", "Outbox transactions, by outcome.",
                  {{"outcome", "ok"}}),
        r.counter("gavel_store_commits_total", "Outbox transactions, by outcome.",
                  {{"outcome", "failed"}}),
        r.counter("gavel_store_events_committed_total",
                  "Events made durable in the outbox."),
        r.gauge("gavel_outbox_head_position", "Highest committed outbox position."),
        r.gauge("gavel_database_up",
                "1 when the last database operation of the store succeeded.")};
    return x;
  }
};

void schedule_flush(store_ptr self) {
  if (!self->state.flush_scheduled) {
    self->state.flush_scheduled = true;
    self->send(self, atom::commit_due_v);
  }
}

/// Reads the outbox head once: what an earlier incarnation of the store
/// committed is not published by this one, so a subscriber must read up to
/// it from the outbox. Until it is known, subscriptions are refused.
bool learn_head(store_ptr self) {
  auto& st = self->state;
  if (st.head_known)
    return true;
  auto head = st.db->head_position();
  if (!head)
    return false;
  st.head_known = true;
  st.last_published = std::max(st.last_published, *head);
  // The head gauge starts where the outbox is, not at zero.
  store_metrics::get().head.set(static_cast<double>(st.last_published));
  return true;
}

/// Takes out of `batch` the requests with an event_id an earlier request of
/// the batch also holds (two auctions' producers sent the same one): they go
/// back to the front of the queue for the next commit, which finds the first
/// stored. Otherwise the whole commit would be refused for them. True when
/// any went back.
bool defer_repeated_ids(store_ptr self, std::vector<store_state::waiting>& batch,
                        std::size_t& events) {
  std::unordered_set<std::string_view> seen;
  std::vector<store_state::waiting> later;
  std::size_t w = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    bool repeated = false;
    for (const auto& e : batch[i].req.events)
      if (seen.count(e.event_id) != 0) {
        repeated = true;
        break;
      }
    if (repeated) {
      later.push_back(std::move(batch[i]));
      continue;
    }
    for (const auto& e : batch[i].req.events)
      seen.insert(e.event_id);
    if (w != i)
      batch[w] = std::move(batch[i]);
    ++w;
  }
  if (later.empty())
    return false;
  batch.resize(w);
  auto& st = self->state;
  for (auto& w : later) {
    events -= w.req.events.size();
    st.pending_events += w.req.events.size();
  }
  st.pending.insert(st.pending.begin(), std::make_move_iterator(later.begin()),
                    std::make_move_iterator(later.end()));
  schedule_flush(self);
  return true;
}

/// Answers, each on its own, the requests of `batch` holding an event of
/// `taken` (indices into `rows`, the batch's events in order), and removes
/// them from the batch: their auction decides (409 for another auction's
/// event_id, a reload for its own stale state).
void answer_taken(std::vector<store_state::waiting>& batch,
                  const std::vector<protocols::new_event>& rows,
                  const std::vector<adapters::pg_store::taken>& taken,
                  std::size_t& events) {
  std::vector<std::vector<std::pair<std::string, std::int64_t>>> per_request(
      batch.size());
  std::vector<std::size_t> owner_of(rows.size());
  std::size_t first = 0, w = 0;
  for (std::size_t i = 0; i < batch.size(); ++i)
    for (std::size_t j = 0; j < batch[i].req.events.size(); ++j)
      owner_of[first++] = i;
  for (const auto& t : taken)
    per_request[owner_of[t.index]].emplace_back(rows[t.index].event_id, t.owner);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (per_request[i].empty()) {
      if (w != i)
        batch[w] = std::move(batch[i]);
      ++w;
      continue;
    }
    GAVEL_LOG_WARN("store: auction {}: {} event(s) already stored (first: {} of "
                   "auction {}); its request is answered alone",
                   batch[i].req.auction.auction_id, per_request[i].size(),
                   per_request[i].front().first, per_request[i].front().second);
    events -= batch[i].req.events.size();
    persist_reply reply;
    reply.taken = std::move(per_request[i]);
    batch[i].rp.deliver(std::move(reply));
  }
  batch.resize(w);
}

/// Takes the requests of the next commit out of `st.pending`: live ones
/// first, in arrival order, then backfill's, up to the batch limit (at least
/// one request). While live traffic flows (a live request waits, or one was
/// committed in the last second), backfill adds at most a 64th of the limit
/// to a commit: a live acknowledgement then never waits behind a long
/// backfill commit, not even one begun a moment before it arrived (DESIGN
/// §1.10). Reordering requests is safe: an auction has at most one request
/// pending. Sets `events` to the events taken.
std::vector<store_state::waiting> take_batch(store_state& st, std::size_t& events,
                                             caf::actor_clock::time_point now) {
  const auto limit = st.settings.max_batch_events;
  const bool live_waiting =
      std::any_of(st.pending.begin(), st.pending.end(),
                  [](const auto& w) { return !w.req.auction.backfilled; });
  if (live_waiting)
    st.live_seen = now;
  const bool live_flows = st.live_seen != caf::actor_clock::time_point{} &&
                          now - st.live_seen < store_state::live_memory;
  std::vector<bool> taken(st.pending.size(), false);
  std::vector<store_state::waiting> batch;
  events = 0;
  std::size_t backfill_events = 0;
  for (bool backfill : {false, true}) {
    auto room = backfill && live_flows ? limit / 64 : limit;
    for (std::size_t i = 0; i < st.pending.size(); ++i) {
      auto& w = st.pending[i];
      if (w.req.auction.backfilled != backfill)
        continue;
      auto n = w.req.events.size();
      if (!batch.empty() &&
          (events + n > limit || (backfill && backfill_events + n > room)))
        break;
      events += n;
      if (backfill)
        backfill_events += n;
      taken[i] = true;
      batch.push_back(std::move(w));
    }
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < st.pending.size(); ++i)
    if (!taken[i]) {
      if (kept != i)
        st.pending[kept] = std::move(st.pending[i]);
      ++kept;
    }
  st.pending.resize(kept);
  return batch;
}

void flush(store_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.pending.empty() && st.positions.empty() && st.progress.empty() &&
      st.dead_letters.empty() && st.resolved.empty())
    return;
  std::size_t events = 0;
  auto batch = take_batch(st, events, self->clock().now());
  st.pending_events -= events;
  auto positions = std::move(st.positions);
  st.positions.clear();
  auto progress = std::move(st.progress);
  st.progress.clear();
  auto dead_letters = std::move(st.dead_letters);
  st.dead_letters.clear();
  auto resolved = std::move(st.resolved);
  st.resolved.clear();
  if (!st.pending.empty())
    schedule_flush(self);

  auto fail = [&](const protocols::error& e) {
    // A server refusing writes still answers: "database unreachable" (and
    // its alert) would send people looking for the wrong fault.
    if (e.code != "storage")
      st.healthy->store(false);
    auto err = make_error(e);
    for (auto& w : batch)
      w.rp.deliver(err);
    // Positions are only hints: keep the newest for the next transaction.
    for (auto& [k, v] : positions)
      st.positions[k] = std::max(st.positions[k], v);
    for (auto& [k, v] : progress)
      st.progress[k] = std::max(st.progress[k], v);
    // Dead letters are not hints: they go into the next attempt, ahead of
    // anything recorded since, so a position never passes one.
    dead_letters.insert(dead_letters.end(),
                        std::make_move_iterator(st.dead_letters.begin()),
                        std::make_move_iterator(st.dead_letters.end()));
    st.dead_letters = std::move(dead_letters);
    resolved.insert(resolved.end(), st.resolved.begin(), st.resolved.end());
    st.resolved = std::move(resolved);
  };

  auto now = std::chrono::steady_clock::now();
  if (st.storage_refused && now < st.next_attempt) {
    fail({"storage", {}, "database storage refusing writes: " + st.storage_reason});
    if ((!st.positions.empty() || !st.dead_letters.empty()) && st.pending.empty())
      self->delayed_send(self, st.next_attempt - now, atom::commit_due_v);
    return;
  }
  if (!st.db->connected() && now < st.next_attempt) {
    fail({"unavailable", {}, "database unreachable (waiting before reconnecting)"});
    if ((!st.positions.empty() || !st.dead_letters.empty()) && st.pending.empty())
      self->delayed_send(self, st.next_attempt - now, atom::commit_due_v);
    return;
  }

  std::vector<protocols::new_event> rows;
  std::vector<protocols::auction_row> auctions;
  auto gather = [&] {
    rows.clear();
    auctions.clear();
    rows.reserve(events);
    auctions.reserve(batch.size());
    for (auto& w : batch) {
      for (auto& e : w.req.events)
        rows.push_back(e); // shares the envelope bytes
      auctions.push_back(w.req.auction);
    }
  };
  gather();
  if (defer_repeated_ids(self, batch, events))
    gather();
  std::vector<std::pair<std::string, std::int64_t>> pos(positions.begin(),
                                                        positions.end());
  auto& metrics = store_metrics::get();
  auto started = std::chrono::steady_clock::now();
  std::vector<protocols::delivery_progress> prog;
  prog.reserve(progress.size());
  for (auto& [k, v] : progress)
    prog.push_back({k.first, k.second, v});
  auto committed = st.db->commit(rows, auctions, pos, dead_letters, resolved, prog);
  if (!committed && committed.err().code == "taken") {
    // One event must never fail everyone else's commit: the requests holding
    // an event_id or sequence number already stored are answered on their
    // own, and the rest commit again. Rare, so the slow probe is fine here.
    auto found = st.db->find_taken(rows);
    if (found && !found->empty()) {
      answer_taken(batch, rows, *found, events);
      gather();
      committed = st.db->commit(rows, auctions, pos, dead_letters, resolved, prog);
    } else if (!found) {
      committed = found.err();
    }
    if (!committed && committed.err().code == "taken")
      committed = protocols::error{"internal",
                                   {},
                                   "commit refused (an event_id or sequence number "
                                   "already stored) but no event of it is"};
  }
  metrics.commit_seconds.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  (committed ? metrics.commits_ok : metrics.commits_failed).inc();
  metrics.up.set(committed ? 1 : 0);
  if (!committed) {
    const auto& e = committed.err();
    if (e.code == "internal")
      GAVEL_LOG_ERROR("store: commit of {} events failed: {}", rows.size(), e.message);
    else
      GAVEL_LOG_WARN("store: commit of {} events failed: {}", rows.size(), e.message);
    st.storage_refused = e.code == "storage";
    if (st.storage_refused) {
      st.storage_reason = e.message;
      if (st.settings.storage)
        st.settings.storage->fail(e.message, protocols::unix_now_ms());
    }
    if (!st.db->connected() || st.storage_refused) {
      st.backoff = std::clamp(st.backoff * 2, st.settings.reconnect_min,
                              st.settings.reconnect_max);
      st.next_attempt = std::chrono::steady_clock::now() + st.backoff;
    }
    fail(e);
    if ((!st.positions.empty() || !st.dead_letters.empty()) && st.pending.empty())
      self->delayed_send(self, std::max(st.backoff, std::chrono::milliseconds{100}),
                         atom::commit_due_v);
    return;
  }
  if (!st.healthy->exchange(true))
    GAVEL_LOG_INFO("store: database reachable");
  bool was_refused = std::exchange(st.storage_refused, false);
  if (st.settings.storage && st.settings.storage->clear(protocols::unix_now_ms()))
    was_refused = true;
  if (was_refused)
    GAVEL_LOG_INFO("store: database storage accepts writes again");
  st.backoff = std::chrono::milliseconds{0};
  const auto& ids = *committed;
  std::shared_ptr<std::vector<protocols::outbox_record>> republish;
  if (!rows.empty()) {
    metrics.batch_events.observe(static_cast<double>(rows.size()));
    metrics.events.inc(rows.size());
    metrics.head.set(static_cast<double>(*std::max_element(ids.begin(), ids.end())));
  }
  auto committed_ms = protocols::unix_now_ms();
  if (st.db->take_late_commit()) {
    // A commit answered "in doubt" turned out to have landed: its rows are
    // below this batch and were never published. Publish from the outbox
    // (destinations also catch up by themselves on any gap in positions).
    // Bounded: a read sized by however many rows lie past last_published
    // could hold every envelope of a long outage in memory at once. Past the
    // bound, publish only this batch: destinations read any hole in
    // positions from the outbox themselves (ADR 0009).
    constexpr std::size_t max_republish = 10000;
    if (auto late = st.db->read_outbox(st.last_published, max_republish);
        late && late->size() < max_republish) {
      GAVEL_LOG_WARN("store: {} row(s) of a commit resolved late published from the "
                     "outbox",
                     late->size() > rows.size() ? late->size() - rows.size() : 0);
      republish =
          std::make_shared<std::vector<protocols::outbox_record>>(std::move(*late));
    }
  }
  auto published = std::make_shared<std::vector<protocols::outbox_record>>();
  published->reserve(rows.size());
  std::size_t i = 0;
  for (auto& w : batch) {
    persist_reply reply;
    reply.positions.reserve(w.req.events.size());
    for (auto& e : w.req.events) {
      reply.positions.push_back(ids[i]);
      protocols::outbox_record rec;
      rec.position = ids[i];
      rec.auction_id = e.auction_id;
      rec.type = e.type;
      rec.bid_sequence = e.bid_sequence;
      rec.event_id = std::move(e.event_id);
      rec.envelope = std::move(e.envelope);
      rec.producer_ms = e.producer_ms;
      rec.created_ms = committed_ms;
      rec.backfill = e.backfill;
      published->push_back(std::move(rec));
      ++i;
    }
    w.rp.deliver(std::move(reply));
  }
  if (republish && !republish->empty())
    published = std::move(republish);
  if (!published->empty()) {
    std::sort(published->begin(), published->end(),
              [](const auto& a, const auto& b) { return a.position < b.position; });
    record_batch shared = std::move(published);
    st.last_published = std::max(st.last_published, shared->back().position);
    for (auto& d : st.subscribers)
      self->send(d, atom::committed_v, shared);
  }
}

} // namespace

store_impl_actor::behavior_type
store(store_impl_actor::stateful_pointer<store_state> self,
      adapters::pg_store::options db, store_settings settings,
      std::shared_ptr<std::atomic<bool>> healthy) {
  self->state.db = std::make_unique<adapters::pg_store>(std::move(db));
  self->state.settings = settings;
  self->state.healthy =
      healthy ? std::move(healthy) : std::make_shared<std::atomic<bool>>(false);
  self->state.epoch = settings.epoch;
  if (auto ok = self->state.db->ensure_connected(); ok) {
    self->state.healthy->store(true);
    store_metrics::get().up.set(1);
    learn_head(self);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const auto& d) { return d.address() == msg.source; }),
               subs.end());
  });
  return {
      [self](atom::persist, persist_request& req) -> caf::result<persist_reply> {
        auto& st = self->state;
        if (req.epoch != st.epoch)
          return make_error(errc::unavailable, "auction actor of registry epoch " +
                                                   std::to_string(req.epoch) +
                                                   " fenced off (now " +
                                                   std::to_string(st.epoch) + ")");
        auto rp = self->make_response_promise<persist_reply>();
        st.pending_events += req.events.size();
        st.pending.push_back({std::move(req), rp});
        schedule_flush(self);
        return rp;
      },
      [self](atom::position, std::string& name, std::int64_t pos,
             auction_progress& progress) {
        auto& st = self->state;
        for (auto& [auction, at] : progress)
          if (at > pos) {
            auto& p = st.progress[{name, auction}];
            p = std::max(p, at);
          }
        auto& p = st.positions[name];
        p = std::max(p, pos);
        schedule_flush(self);
      },
      [self](atom::subscribe, feed_actor& d) -> caf::result<std::int64_t> {
        if (!learn_head(self))
          return make_error(errc::unavailable,
                            "outbox head unknown (database unreachable)");
        self->monitor(d);
        self->state.subscribers.push_back(std::move(d));
        return self->state.last_published;
      },
      [self](atom::commit_due) { flush(self); },
      [self](atom::dead, protocols::dead_letter& d) {
        self->state.dead_letters.push_back(std::move(d));
        schedule_flush(self);
      },
      [self](atom::resolve, std::string& dest, std::int64_t pos) {
        self->state.resolved.emplace_back(std::move(dest), pos);
        schedule_flush(self);
      },
      [self](atom::take_dead, std::string& dest,
             std::int64_t auction) -> caf::result<std::vector<protocols::dead_letter>> {
        auto& st = self->state;
        // What this destination recorded before asking must be visible.
        if (!st.dead_letters.empty() || !st.resolved.empty())
          flush(self);
        if (!st.dead_letters.empty())
          return make_error(errc::unavailable, "dead letters not yet committed");
        auto rows = st.db->dead_letters(dest, auction, 0, 1000000);
        if (!rows)
          return make_error(rows.err());
        return std::move(*rows);
      },
      [self](atom::epoch, std::uint64_t epoch) -> std::uint64_t {
        auto& st = self->state;
        // Everything an older epoch asked for is committed (or failed) now,
        // before its successor can load state; later requests are fenced.
        while (!st.pending.empty())
          flush(self);
        st.epoch = std::max(st.epoch, epoch);
        return st.epoch;
      },
      [self](atom::crash) {
        GAVEL_LOG_WARN("store: crashing on request (fault injection)");
        self->quit(make_error(errc::internal, "crash requested (fault injection)"));
      },
      [self](atom::health) -> bool {
        auto& st = self->state;
        if (!st.db->connected())
          st.healthy->store(static_cast<bool>(st.db->ensure_connected()));
        return st.healthy->load();
      },
  };
}

} // namespace gavel::actors
