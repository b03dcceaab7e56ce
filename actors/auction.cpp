#include "actors/auction.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "protocols/fingerprint.hpp"
#include "protocols/log_throttle.hpp"

#include <algorithm>
#include <mutex>
#include <optional>

namespace gavel::actors {

using protocols::event_type;
using protocols::unix_ms;
using status = ingest_result::status;

unix_ms next_heartbeat(unix_ms last, std::optional<unix_ms> end,
                       const auction_settings& s) {
  auto every = s.heartbeat_interval.count();
  if (!end)
    return last + every;
  auto window_start = *end - s.final_window.count();
  auto window_end = *end + s.final_window.count();
  if (last < window_start)
    return std::min(last + every, window_start);
  if (last < window_end)
    return last + s.final_heartbeat_interval.count();
  return last + every;
}

std::int64_t heartbeat_cadence_seconds(unix_ms now, std::optional<unix_ms> end,
                                       const auction_settings& s) {
  if (end && now >= *end - s.final_window.count() && now < *end + s.final_window.count())
    return s.final_heartbeat_interval.count() / 1000;
  return s.heartbeat_interval.count() / 1000;
}

namespace {

using self_ptr = auction_impl_actor::stateful_pointer<auction_state>;

ingest_result rejected(std::string event_id, protocols::ingest_error why,
                       std::string field, std::string message) {
  ingest_result r;
  r.st = status::rejected;
  r.event_id = std::move(event_id);
  r.error = why;
  r.error_field = std::move(field);
  r.error_message = std::move(message);
  return r;
}

ingest_result unavailable_result(std::string event_id) {
  return rejected(std::move(event_id), protocols::ingest_error::unavailable, {},
                  "cannot make the event durable now; retry");
}

void process(self_ptr self);

/// Publishes the committed state to the board (operations API) and counts
/// heartbeats (metrics).
void publish(self_ptr self, bool heartbeat, unix_ms now) {
  static auto& heartbeats = adapters::metrics::global().counter(
      "gavel_heartbeat_events_total", "producer.heartbeat events committed.");
  if (heartbeat)
    heartbeats.inc();
  auto& st = self->state;
  if (!st.deps->board)
    return;
  auction_view v;
  v.auction_id = st.id;
  v.end_date = st.row.end_date;
  v.closed = st.row.closed;
  v.last_sequence = st.row.last_sequence;
  v.heartbeat_count = st.row.heartbeat_count;
  st.deps->board->update(v, heartbeat, now);
}

void arm_idle(self_ptr self) {
  auto& st = self->state;
  if (!st.row.closed || st.deps->registry == nullptr)
    return;
  auto gen = ++st.idle_generation;
  self->delayed_send(self, st.deps->settings.idle_timeout, atom::idle_due_v, gen);
}

void arm_heartbeat(self_ptr self) {
  auto& st = self->state;
  if (!st.exists || st.row.closed) {
    ++st.heartbeat_generation; // cancels a pending timer
    st.heartbeat_armed = false;
    return;
  }
  auto now = st.deps->clock();
  auto due = next_heartbeat(st.heartbeat_base, st.row.end_date, st.deps->settings);
  auto gen = ++st.heartbeat_generation;
  st.heartbeat_armed = true;
  self->delayed_send(self, std::chrono::milliseconds{std::max<unix_ms>(0, due - now)},
                     atom::heartbeat_v, gen);
}

void fail_queue(self_ptr self) {
  for (auto& p : self->state.queue)
    if (!p.is_heartbeat)
      p.rp.deliver(unavailable_result(p.ev.event_id()));
  self->state.queue.clear();
}

void apply_snapshot(self_ptr self, protocols::auction_snapshot& snap) {
  auto& st = self->state;
  st.exists = snap.exists;
  st.row = snap.row;
  st.row.auction_id = st.id;
  st.bids.clear();
  st.bids.reserve(snap.bids.size());
  for (auto& [bid, seq] : snap.bids)
    st.bids.emplace(bid, seq);
  st.bid_prints.clear();
  for (std::size_t i = 0; i < snap.bid_prints.size() && i < snap.bids.size(); ++i)
    st.bid_prints.emplace(snap.bids[i].first, snap.bid_prints[i]);
  st.loaded = true;
  st.heartbeat_base = st.deps->clock();
}

void load(self_ptr self) {
  auto& st = self->state;
  if (st.loading)
    return;
  st.loading = true;
  self->request(st.deps->reader, st.deps->settings.store_timeout, atom::load_v, st.id)
      .then(
          [self](protocols::auction_snapshot& snap) {
            self->state.loading = false;
            apply_snapshot(self, snap);
            if (self->state.exists)
              publish(self, false, self->state.deps->clock());
            arm_heartbeat(self);
            arm_idle(self);
            process(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.loading = false;
            GAVEL_LOG_WARN("auction {}: cannot load state: {}", st.id,
                           caf::to_string(err));
            fail_queue(self);
            // Heartbeats must resume even if no event arrives: try again later.
            self->delayed_send(self, std::chrono::seconds{1}, atom::load_v);
          });
}

/// One decided queue item of an in-flight batch.
using outcome = auction_state::outcome;

/// A resent bid whose content differs from the stored one is still a
/// duplicate (docs/ingest.md), but it is a producer bug worth seeing: counted and
/// logged (ids only: no bidder data in logs).
void check_duplicate_content(self_ptr self, const protocols::ingest_event& ev,
                             std::uint64_t stored) {
  static auto& differing = adapters::metrics::global().counter(
      "gavel_ingest_conflicting_duplicates_total",
      "Duplicates (same event_id) whose content differs from the stored event "
      "(a producer bug; still answered duplicate).");
  if (protocols::fingerprint(protocols::json::dump(ev.data)) == stored)
    return;
  differing.inc();
  // One line per 10 s at most: a history resent in another format (CSV
  // after JSON lines) differs in every event; the counter has them all.
  static std::mutex mtx;
  static protocols::log_throttle throttle{std::chrono::seconds{10}};
  std::optional<std::uint64_t> left_out;
  {
    std::lock_guard lock{mtx};
    left_out = throttle.admit(protocols::log_throttle::clock::now());
  }
  if (!left_out)
    return;
  GAVEL_LOG_WARN("auction {}: {} resent with content that differs from the stored "
                 "event (a producer bug); answered duplicate, stored event kept{}",
                 self->state.id, ev.event_id(),
                 *left_out == 0 ? std::string{}
                                : " (" + std::to_string(*left_out) +
                                      " more like it since the last such line; see "
                                      "gavel_ingest_conflicting_duplicates_total)");
}

/// The store committed nothing of this request: some of its events are
/// already stored. Another auction's event_id is this producer's mistake
/// (409, every time it is sent); this auction's own means its state is stale
/// (read it again). Everything else is sequenced again, in its order.
void on_taken(self_ptr self,
              const std::vector<std::pair<std::string, std::int64_t>>& taken,
              std::vector<outcome>& outcomes, bool heartbeat_emitted) {
  auto& st = self->state;
  bool stale = false;
  std::vector<std::string_view> conflicts;
  for (const auto& [event_id, owner] : taken) {
    if (owner == st.id)
      stale = true;
    else
      conflicts.push_back(event_id);
  }
  std::vector<auction_state::pending> again;
  for (auto& o : outcomes) {
    if (std::find(conflicts.begin(), conflicts.end(), o.result.event_id) !=
        conflicts.end()) {
      GAVEL_LOG_WARN("auction {}: {} is already stored for another auction (a producer "
                     "bug): rejected",
                     st.id, o.result.event_id);
      o.rp.deliver(rejected(
          o.result.event_id, protocols::ingest_error::event_id_conflict, "event_id",
          o.result.event_id + " is already stored for another auction"));
    } else if (o.depends_on_batch && o.ev) {
      again.push_back({std::move(*o.ev), std::move(o.rp), false});
    } else {
      o.rp.deliver(std::move(o.result));
    }
  }
  for (auto it = again.rbegin(); it != again.rend(); ++it)
    st.queue.push_front(std::move(*it));
  if (stale) {
    GAVEL_LOG_WARN("auction {}: state behind the outbox; reading it again", st.id);
    st.loaded = false;
    st.heartbeat_armed = false;
    ++st.heartbeat_generation;
    load(self);
    return;
  }
  if (heartbeat_emitted)
    arm_heartbeat(self);
  process(self);
}

// Sequences as many queued items as one persist request takes, against a
// copy of the state; the copy becomes the state only after COMMIT.
void process(self_ptr self) {
  auto& st = self->state;
  if (!st.loaded) {
    if (!st.queue.empty())
      load(self);
    return;
  }
  if (st.in_flight || st.queue.empty())
    return;
  const auto now = st.deps->clock();
  auto row = st.row;
  bool exists = st.exists;
  std::unordered_map<std::int64_t, std::int64_t> new_bids;
  std::unordered_map<std::int64_t, std::uint64_t> new_prints;
  std::vector<outcome> outcomes;
  persist_request req;
  bool heartbeat_emitted = false;
  bool replan = false;

  auto emit = [&](std::string event_id, event_type type, std::int64_t seq,
                  const protocols::json::value& data, std::int64_t bid_id,
                  std::string bidder) {
    protocols::envelope_metadata meta{event_id, type, now, seq};
    protocols::new_event e;
    e.event_id = std::move(event_id);
    e.auction_id = st.id;
    e.type = type;
    e.bid_sequence = seq;
    e.bid_id = bid_id;
    e.bidder_user_id = std::move(bidder);
    e.producer_ms = now;
    e.backfill = row.backfilled;
    e.envelope =
        std::make_shared<const std::string>(protocols::make_envelope(meta, data));
    req.events.push_back(std::move(e));
  };
  auto open_implicitly = [&](const protocols::ingest_event& first) {
    exists = true;
    row.backfilled = first.backfill;
    row.last_sequence = 1;
    emit(protocols::opened_event_id(st.id), event_type::auction_opened, 1,
         protocols::synthesized_open_data(first), 0, {});
    replan = true;
  };

  while (!st.queue.empty() && req.events.size() < st.deps->settings.max_batch) {
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    if (p.is_heartbeat) {
      if (!exists || row.closed)
        continue;
      ++row.heartbeat_count;
      auto cadence = heartbeat_cadence_seconds(now, row.end_date, st.deps->settings);
      emit(protocols::heartbeat_event_id(st.id, row.heartbeat_count),
           event_type::producer_heartbeat, row.last_sequence,
           protocols::heartbeat_data(st.id, row.end_date, row.total_bid_count, cadence),
           0, {});
      heartbeat_emitted = true;
      continue;
    }
    auto& ev = p.ev;
    outcome o;
    o.rp = std::move(p.rp);
    o.has_promise = true;
    auto& r = o.result;
    r.event_id = ev.event_id();
    switch (ev.type) {
    case event_type::auction_opened:
      if (exists) {
        r.st = status::duplicate;
        r.bid_sequence = 1;
        o.depends_on_batch = !st.exists;
      } else {
        exists = true;
        row.backfilled = ev.backfill;
        row.last_sequence = 1;
        if (ev.end_date)
          row.end_date = ev.end_date;
        emit(r.event_id, event_type::auction_opened, 1, ev.data, 0, {});
        r.st = status::accepted;
        r.bid_sequence = 1;
        o.depends_on_batch = true;
        replan = true;
      }
      break;
    case event_type::bid_placed: {
      if (auto it = st.bids.find(ev.bid_id); it != st.bids.end()) {
        r.st = status::duplicate;
        r.bid_sequence = it->second;
        if (auto pt = st.bid_prints.find(ev.bid_id); pt != st.bid_prints.end())
          check_duplicate_content(self, ev, pt->second);
      } else if (auto jt = new_bids.find(ev.bid_id); jt != new_bids.end()) {
        r.st = status::duplicate;
        r.bid_sequence = jt->second;
        o.depends_on_batch = true;
        if (auto pt = new_prints.find(ev.bid_id); pt != new_prints.end())
          check_duplicate_content(self, ev, pt->second);
      } else if (row.closed) {
        r = rejected(r.event_id, protocols::ingest_error::closed, "data.auction_id",
                     "auction " + std::to_string(st.id) + " is closed");
        o.depends_on_batch = !st.row.closed;
      } else {
        if (!exists)
          open_implicitly(ev);
        auto seq = ++row.last_sequence;
        ++row.total_bid_count;
        if (!ev.price.empty())
          row.current_price = ev.price;
        if (ev.end_date && ev.end_date != row.end_date) {
          row.end_date = ev.end_date;
          replan = true;
        }
        new_bids.emplace(ev.bid_id, seq);
        emit(r.event_id, event_type::bid_placed, seq, ev.data, ev.bid_id,
             ev.bidder_user_id);
        req.events.back().bid_ms = ev.bid_timestamp;
        new_prints.emplace(ev.bid_id, protocols::fingerprint(protocols::envelope_data(
                                          *req.events.back().envelope)));
        r.st = status::accepted;
        r.bid_sequence = seq;
        o.depends_on_batch = true;
      }
      break;
    }
    case event_type::auction_closed:
      if (row.closed) {
        r.st = status::duplicate;
        r.bid_sequence = row.last_sequence;
        o.depends_on_batch = !st.row.closed;
      } else {
        if (!exists)
          open_implicitly(ev);
        row.closed = true;
        if (ev.end_date)
          row.end_date = ev.end_date;
        auto data = ev.data;
        data.set("total_bid_count", protocols::json::value::integer(row.total_bid_count));
        if (auto* price = data.find("current_price");
            price != nullptr && (price->is_number() || price->is_string()) &&
            !price->text.empty())
          row.current_price = price->text;
        else if (!row.current_price.empty())
          data.set("current_price", protocols::json::value::number(row.current_price));
        emit(r.event_id, event_type::auction_closed, row.last_sequence, data, 0, {});
        r.st = status::accepted;
        r.bid_sequence = row.last_sequence;
        o.depends_on_batch = true;
      }
      break;
    case event_type::producer_heartbeat:
      r = rejected(r.event_id, protocols::ingest_error::invalid, "event_type",
                   "producer.heartbeat is produced by Gavel");
      break;
    }
    if (o.depends_on_batch)
      o.ev = std::move(p.ev);
    outcomes.push_back(std::move(o));
  }

  if (req.events.empty()) {
    // Only answers from committed state: nothing to wait for.
    for (auto& o : outcomes)
      o.rp.deliver(std::move(o.result));
    process(self);
    return;
  }

  req.auction = row;
  req.auction.auction_id = st.id;
  req.epoch = st.deps->epoch;
  st.in_flight = true;
  auto shared_outcomes = std::make_shared<std::vector<outcome>>(std::move(outcomes));
  st.in_flight_outcomes = shared_outcomes;
  // No timeout: the store always answers (after COMMIT, or with an error
  // when it fails), and if the store itself dies its supervisor stops this
  // actor with the registry. A timeout would cost a locked insert into CAF's
  // clock per commit, and could not tell whether the commit happened anyway.
  self->request(st.deps->store, caf::infinite, atom::persist_v, std::move(req))
      .then(
          [self, row, exists, new_bids = std::move(new_bids),
           new_prints = std::move(new_prints), shared_outcomes, heartbeat_emitted, replan,
           now](persist_reply& reply) mutable {
            auto& st = self->state;
            st.in_flight = false;
            st.in_flight_outcomes.reset();
            if (!reply.taken.empty()) {
              on_taken(self, reply.taken, *shared_outcomes, heartbeat_emitted);
              return;
            }
            bool opened_now = !st.exists && exists;
            bool closed_now = !st.row.closed && row.closed;
            st.row = row;
            st.exists = exists;
            st.bids.merge(new_bids);
            st.bid_prints.merge(new_prints);
            for (auto& o : *shared_outcomes)
              o.rp.deliver(std::move(o.result));
            publish(self, heartbeat_emitted, now);
            if (opened_now)
              st.heartbeat_base = now;
            if (heartbeat_emitted)
              st.heartbeat_base = now;
            if (closed_now) {
              arm_heartbeat(self); // cancels
              arm_idle(self);
            } else if (replan || heartbeat_emitted || !st.heartbeat_armed) {
              arm_heartbeat(self);
            }
            process(self);
          },
          [self, shared_outcomes](caf::error& err) {
            auto& st = self->state;
            st.in_flight = false;
            st.in_flight_outcomes.reset();
            GAVEL_LOG_WARN("auction {}: persist failed: {}", st.id, caf::to_string(err));
            for (auto& o : *shared_outcomes) {
              if (o.depends_on_batch)
                o.rp.deliver(unavailable_result(o.result.event_id));
              else
                o.rp.deliver(std::move(o.result));
            }
            // Whether the commit happened is unknown (the connection may have
            // broken during COMMIT): the database is the truth, read it again.
            st.loaded = false;
            st.heartbeat_armed = false;
            ++st.heartbeat_generation;
            fail_queue(self);
            load(self);
          });
}

} // namespace

auction_impl_actor::behavior_type
auction(auction_impl_actor::stateful_pointer<auction_state> self, std::int64_t id,
        std::shared_ptr<const auction_deps> deps) {
  self->state.id = id;
  self->state.deps = std::move(deps);
  self->state.row.auction_id = id;
  if (auto board = self->state.deps->board)
    self->attach_functor([board, id](const caf::error&) { board->remove(id); });
  // Stopped with its registry (shutdown or a registry restart): whoever waits
  // hears 503 now, not at its deadline. A commit in flight may still land; the
  // producer's retry then gets `duplicate` from the successor.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (auto answers = std::move(st.in_flight_outcomes))
      for (auto& o : *answers)
        if (o.has_promise)
          o.rp.deliver(unavailable_result(o.result.event_id));
    fail_queue(self);
    self->quit(msg.reason);
  });
  load(self);
  return {
      [self](atom::ingest, protocols::ingest_event& ev) -> caf::result<ingest_result> {
        auto& st = self->state;
        ++st.received;
        ++st.idle_generation; // any traffic cancels passivation
        auto rp = self->make_response_promise<ingest_result>();
        st.queue.push_back({std::move(ev), rp, false});
        process(self);
        return rp;
      },
      [self](atom::heartbeat, std::uint64_t gen) {
        auto& st = self->state;
        if (gen != st.heartbeat_generation)
          return;
        st.heartbeat_armed = false;
        auction_state::pending p;
        p.is_heartbeat = true;
        st.queue.push_back(std::move(p));
        process(self);
      },
      [self](atom::idle_due, std::uint64_t gen) {
        auto& st = self->state;
        if (gen != st.idle_generation || st.in_flight || !st.queue.empty() ||
            !st.row.closed)
          return;
        if (st.deps->registry)
          self->send(st.deps->registry, atom::idle_v, st.id, st.received);
      },
      [self](atom::passivate) { self->quit(); },
      [self](atom::load) {
        if (!self->state.loaded)
          load(self);
      },
  };
}

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, auction_deps deps) {
  auto shared = std::make_shared<auction_deps>(std::move(deps));
  shared->registry = caf::actor_cast<registry_actor>(self);
  self->state.deps = shared;
  auto spawn_auction = [self](std::int64_t id) -> registry_state::entry& {
    auto& st = self->state;
    auto [it, fresh] = st.auctions->try_emplace(id);
    if (fresh) {
      it->second.handle = self->spawn(auction, id, st.deps);
      self->monitor(it->second.handle);
    }
    return it->second;
  };
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& auctions = *self->state.auctions;
    for (auto it = auctions.begin(); it != auctions.end(); ++it) {
      if (it->second.handle.address() == msg.source) {
        if (msg.reason)
          GAVEL_LOG_ERROR("auction {} actor failed: {}", it->first,
                          caf::to_string(msg.reason));
        auctions.erase(it);
        break;
      }
    }
  });
  // The auctions die with the registry (their timers must not keep the
  // actor system alive at shutdown).
  self->attach_functor([auctions = self->state.auctions](const caf::error&) {
    for (auto& [id, e] : *auctions)
      caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
  });
  // Auctions still open must keep their heartbeats after a restart.
  self->request(shared->reader, std::chrono::seconds{60}, atom::open_list_v)
      .then(
          [spawn_auction](std::vector<std::int64_t>& ids) {
            for (auto id : ids)
              spawn_auction(id);
            if (!ids.empty())
              GAVEL_LOG_INFO("registry: resumed {} open auctions", ids.size());
          },
          [](caf::error& err) {
            GAVEL_LOG_WARN("registry: cannot list open auctions: {}",
                           caf::to_string(err));
          });
  return {
      [self, spawn_auction](atom::ingest, protocols::ingest_event& ev) {
        auto& e = spawn_auction(ev.auction_id);
        ++e.forwarded;
        return self->delegate(e.handle, atom::ingest_v, std::move(ev));
      },
      [self](atom::idle, std::int64_t id, std::uint64_t processed) {
        auto& auctions = *self->state.auctions;
        auto it = auctions.find(id);
        // Messages forwarded after the auction asked are still in its mailbox.
        if (it == auctions.end() || it->second.forwarded != processed)
          return;
        self->demonitor(it->second.handle.address());
        self->send(it->second.handle, atom::passivate_v);
        auctions.erase(it);
      },
      [self](atom::status) -> std::uint64_t { return self->state.auctions->size(); },
      [self](atom::crash) {
        GAVEL_LOG_WARN("registry: crashing on request (fault injection)");
        self->quit(make_error(errc::internal, "crash requested (fault injection)"));
      },
  };
}

} // namespace gavel::actors
