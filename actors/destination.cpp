#include "actors/destination.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "protocols/time.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace gavel::actors {

namespace {

using self_ptr = destination_worker_actor::stateful_pointer<destination_state>;
using protocols::failure_class;
using protocols::outbox_record;

void note_recent(destination_counters& c, bool dead) {
  auto now = protocols::unix_now_ms();
  c.recent.emplace_back(now, dead);
  while (!c.recent.empty() && c.recent.front().first < now - 300000)
    c.recent.pop_front();
}

void set_error(destination_state& st, std::string e) {
  st.last_error = std::move(e);
  st.last_error_ms = protocols::unix_now_ms();
}

void read_more(self_ptr self);
void dispatch(self_ptr self);

void mark_done(self_ptr self, std::int64_t pos) {
  self->state.marks.done(pos);
  read_more(self);
}

/// Records a dead (or parked) letter with the store; it is then done as far
/// as the delivered-through position is concerned.
void record_dead(self_ptr self, const destination_lanes::item& it,
                 protocols::dead_letter_status status, std::string reason, int attempts,
                 int http_status) {
  auto& st = self->state;
  protocols::dead_letter d;
  d.destination = st.settings.name;
  d.position = it.rec.position;
  d.auction_id = it.rec.auction_id;
  d.event_id = it.rec.event_id;
  d.type = it.rec.type;
  d.bid_sequence = it.rec.bid_sequence;
  d.status = status;
  d.reason = std::move(reason);
  d.attempts = attempts;
  d.http_status = http_status;
  d.envelope = it.rec.envelope;
  bool dead = status == protocols::dead_letter_status::dead;
  self->send(st.store, atom::dead_v, std::move(d));
  if (dead) {
    ++st.counters->dead_letters;
    note_recent(*st.counters, true);
  } else {
    ++st.counters->parked;
  }
  if (!it.redriven)
    mark_done(self, it.rec.position);
}

/// Dead-letters the head of an auction's queue and parks the auction: what
/// queues behind it is parked in the table too (its order is kept there).
void park(self_ptr self, destination_lanes::settled& s, std::string reason,
          int http_status) {
  auto& st = self->state;
  auto& head = *s.dead_item;
  GAVEL_LOG_ERROR("destination {}: {} (auction {}, position {}) dead-lettered after {} "
                  "attempt(s): {}; auction parked",
                  st.settings.name, head.rec.event_id, s.auction, head.rec.position,
                  s.attempts, reason);
  set_error(st, "dead letter " + head.rec.event_id + ": " + reason);
  record_dead(self, head, protocols::dead_letter_status::dead, reason,
              static_cast<int>(s.attempts), http_status);
  auto behind = "parked behind " + head.rec.event_id;
  for (auto& it : s.behind)
    record_dead(self, it, protocols::dead_letter_status::parked, behind, 0, 0);
}

void enqueue(self_ptr self, outbox_record rec) {
  auto& st = self->state;
  if (st.marks.load(rec.position, rec.auction_id, rec.created_ms)) {
    // Delivered (or dead-lettered) before a restart: not sent again.
    ++st.counters->skipped_after_restart;
    read_more(self);
    return;
  }
  if (!st.settings.event_types.count(rec.type) ||
      (rec.backfill && !st.settings.backfill)) {
    // Not for this destination: a backfilled auction is skipped whole, so an
    // opted-out destination never sees part of one.
    mark_done(self, rec.position);
    return;
  }
  if (!st.lanes.push(rec)) {
    destination_lanes::item it{std::move(rec), false};
    record_dead(self, it, protocols::dead_letter_status::parked,
                "auction parked (an earlier event is dead-lettered)", 0, 0);
  }
}

void schedule_dispatch(self_ptr self, std::chrono::milliseconds after) {
  auto& st = self->state;
  if (st.dispatch_scheduled)
    return;
  st.dispatch_scheduled = true;
  if (after.count() <= 0)
    self->send(self, atom::dispatch_v);
  else
    self->delayed_send(self, after, atom::dispatch_v);
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  if (st.settings.backfill)
    st.behind.set(st.m != destination_state::mode::live ||
                  st.marks.held() >= st.settings.window / 2);
  while (st.lanes.in_flight() < st.settings.concurrency && st.lanes.has_ready()) {
    auto now = std::chrono::steady_clock::now();
    if (!st.circuit.allow(now)) {
      auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(st.circuit.reopens_at() - now);
      if (st.circuit.current(now) != protocols::circuit_breaker::state::half_open)
        schedule_dispatch(self, std::max(wait, std::chrono::milliseconds{1}));
      return; // half-open: the probe's answer dispatches again
    }
    if (auto wait = st.client->acquire(now); wait.count() > 0) {
      // Not sending after all: give the probe back if this was one.
      if (st.circuit.current(now) == protocols::circuit_breaker::state::half_open)
        st.circuit.on_failure(now), st.circuit.on_success();
      schedule_dispatch(self, wait);
      return;
    }
    auto req = st.lanes.next(*st.client);
    if (!req)
      return;
    ++st.counters->requests;
    auto handle = caf::actor_cast<destination_worker_actor>(self);
    st.client->send(std::move(req->batch),
                    [handle, id = req->id](adapters::delivery_result r) {
                      caf::anon_send(handle, atom::delivered_v, id, std::move(r));
                    });
  }
}

void back_off(self_ptr self, const destination_lanes::settled& s,
              std::chrono::milliseconds at_least) {
  auto& st = self->state;
  ++st.counters->retries;
  note_recent(*st.counters, false);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto delay =
      protocols::backoff_delay(st.settings.retry.initial, st.settings.retry.max,
                               st.settings.retry.multiplier, s.attempts, unit(st.rng));
  delay = std::max(delay, at_least);
  if (s.attempts == 1 || s.attempts % 10 == 0)
    GAVEL_LOG_WARN(
        "destination {}: auction {} failed ({}), attempt {}, retrying in {} ms",
        st.settings.name, s.auction, st.last_error, s.attempts, delay.count());
  self->delayed_send(self, delay, atom::retry_v, s.auction, s.token);
}

void observe_latency(destination_state& st, const outbox_record& rec) {
  if (rec.created_ms <= 0)
    return;
  auto ms = static_cast<double>(
      std::max<std::int64_t>(0, protocols::unix_now_ms() - rec.created_ms));
  if (!st.latency)
    st.latency = &adapters::metrics::global().histogram(
        "gavel_delivery_latency_seconds",
        "Commit (acknowledgement) to delivery confirmed by the destination, per event.",
        adapters::metrics::latency_buckets(), {{"destination", st.settings.name}});
  st.latency->observe(ms / 1000.0);
  auto& q = st.counters->latencies_ms;
  q.push_back(ms);
  if (q.size() > 1000)
    q.pop_front();
}

void on_delivered(self_ptr self, std::uint64_t id, adapters::delivery_result& r) {
  auto& st = self->state;
  auto answered = st.lanes.answer(id, r, st.client->limits().max_records);
  if (!answered)
    return;
  auto now = std::chrono::steady_clock::now();
  if (r.overall == failure_class::transient) {
    ++st.counters->failures_transient;
    set_error(st, r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error);
    // A server asking us to slow down is not a broken destination.
    if (!r.rate_limited) {
      auto before = st.circuit.times_opened();
      st.circuit.on_failure(now);
      if (st.circuit.times_opened() != before) {
        ++st.counters->circuit_opens;
        GAVEL_LOG_WARN("destination {}: circuit open after {} failed requests ({})",
                       st.settings.name, st.circuit.consecutive_failures(),
                       st.last_error);
      }
    }
  } else {
    if (st.circuit.current(now) != protocols::circuit_breaker::state::closed)
      GAVEL_LOG_INFO("destination {}: circuit closed", st.settings.name);
    st.circuit.on_success();
  }
  if (answered->batch_rejected) {
    ++st.counters->failures_permanent;
    set_error(st, "batch of " + std::to_string(answered->records) + " rejected (" +
                      r.error + "); retrying in batches of " +
                      std::to_string(st.lanes.batch_cap()));
  }
  for (auto& s : answered->auctions) {
    for (auto& done : s.delivered) {
      ++st.counters->delivered;
      observe_latency(st, done.rec);
      if (done.redriven)
        self->send(st.store, atom::resolve_v, st.settings.name, done.rec.position);
      else
        mark_done(self, done.rec.position);
    }
    if (s.backoff) {
      if (r.overall == failure_class::none) {
        ++st.counters->failures_transient;
        set_error(st, s.backoff->reason);
      }
      back_off(self, s, r.retry_after);
    } else if (s.dead) {
      ++st.counters->failures_permanent;
      park(self, s, s.dead->reason.empty() ? r.error : s.dead->reason,
           s.dead->status ? s.dead->status : r.status);
    }
  }
  dispatch(self);
}

void read_more(self_ptr self) {
  auto& st = self->state;
  if (st.m != destination_state::mode::catching_up || st.reading ||
      st.marks.held() + st.settings.page > st.settings.window)
    return;
  st.reading = true;
  self->request(st.reader, std::chrono::seconds{30}, atom::read_v,
                st.marks.loaded_through(), static_cast<std::uint64_t>(st.settings.page))
      .then(
          [self](std::vector<outbox_record>& rows) {
            auto& st = self->state;
            st.reading = false;
            auto n = rows.size();
            for (auto& r : rows)
              if (r.position > st.marks.loaded_through())
                enqueue(self, std::move(r));
            if (n < st.settings.page && st.marks.loaded_through() >= st.max_seen_live) {
              if (st.m != destination_state::mode::live)
                GAVEL_LOG_INFO("destination {}: caught up at position {}, live",
                               st.settings.name, st.marks.loaded_through());
              st.m = destination_state::mode::live;
              st.marks.settle();
            } else {
              read_more(self);
            }
            dispatch(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.reading = false;
            set_error(st, "outbox read: " + caf::to_string(err));
            self->delayed_send(self, std::chrono::seconds{1}, atom::read_v);
          });
}

/// Start-up, in order: subscribe to the live feed (learning the last
/// position published before it, which catch-up must reach), load the parked
/// auctions (their new events must not overtake the dead letter), load the
/// stored position, then catch up from the outbox.
void start_up(self_ptr self) {
  auto& st = self->state;
  auto retry = [self](const char* what) {
    return [self, what](caf::error& err) {
      auto& st = self->state;
      set_error(st, std::string{what} + ": " + caf::to_string(err));
      GAVEL_LOG_WARN("destination {}: {}", st.settings.name, st.last_error);
      self->delayed_send(self, std::chrono::seconds{1}, atom::read_v);
    };
  };
  auto load_position = [self, retry] {
    auto& st = self->state;
    self->request(st.reader, std::chrono::seconds{30}, atom::position_v, st.settings.name)
        .then(
            [self, retry](std::int64_t pos) {
              auto& st = self->state;
              self->request(st.reader, std::chrono::seconds{30}, atom::progress_v,
                            st.settings.name, pos)
                  .then(
                      [self, pos](auction_progress& done) {
                        auto& st = self->state;
                        st.marks.resume(pos, done);
                        st.m = destination_state::mode::catching_up;
                        auto parked = st.lanes.parked();
                        GAVEL_LOG_INFO(
                            "destination {}: resuming after position {} ({} auction(s) "
                            "parked, {} delivered further), catching up to at least {}",
                            st.settings.name, pos, parked, done.size(), st.max_seen_live);
                        read_more(self);
                      },
                      retry("load progress"));
            },
            retry("load position"));
  };
  auto load_parked = [self, retry, load_position] {
    auto& st = self->state;
    self->request(st.reader, std::chrono::seconds{30}, atom::parked_v, st.settings.name)
        .then(
            [self, load_position](std::vector<std::int64_t>& parked) {
              for (auto a : parked)
                self->state.lanes.park(a);
              load_position();
            },
            retry("load parked auctions"));
  };
  if (st.subscribed) {
    load_parked();
    return;
  }
  self->request(st.store, std::chrono::seconds{30}, atom::subscribe_v,
                caf::actor_cast<feed_actor>(self))
      .then(
          [self, load_parked](std::int64_t last_published) {
            auto& st = self->state;
            st.subscribed = true;
            st.max_seen_live = std::max(st.max_seen_live, last_published);
            load_parked();
          },
          retry("subscribe"));
}

/// Loads an auction's dead letters (the lanes marked it as redriving) and
/// sends them first, in position order.
void redrive_one(self_ptr self, std::int64_t auction) {
  auto& st = self->state;
  self->request(st.store, std::chrono::seconds{60}, atom::take_dead_v, st.settings.name,
                auction)
      .then(
          [self, auction](std::vector<protocols::dead_letter>& rows) {
            auto& st = self->state;
            std::vector<outbox_record> letters;
            for (auto& d : rows) {
              outbox_record rec;
              rec.position = d.position;
              rec.auction_id = d.auction_id;
              rec.type = d.type;
              rec.bid_sequence = d.bid_sequence;
              rec.event_id = std::move(d.event_id);
              rec.envelope = std::move(d.envelope);
              letters.push_back(std::move(rec));
            }
            st.lanes.redriven(auction, std::move(letters));
            GAVEL_LOG_INFO("destination {}: redriving {} dead letter(s) of auction {}",
                           st.settings.name, rows.size(), auction);
            dispatch(self);
          },
          [self, auction](caf::error& err) {
            auto& st = self->state;
            set_error(st, "redrive: " + caf::to_string(err));
            // Still parked: what queued meanwhile joins the parked letters.
            for (auto& it : st.lanes.redrive_failed(auction))
              record_dead(self, it, protocols::dead_letter_status::parked,
                          "auction parked (redrive failed)", 0, 0);
          });
}

destination_status make_status(destination_state& st) {
  destination_status s;
  s.name = st.settings.name;
  s.kind = st.settings.kind;
  auto now = std::chrono::steady_clock::now();
  auto circuit = st.circuit.current(now);
  s.circuit = circuit;
  bool retrying = st.lanes.retrying();
  using ds = protocols::destination_state;
  s.state = circuit != protocols::circuit_breaker::state::closed ? ds::circuit_open
            : retrying                                           ? ds::retrying
            : st.m != destination_state::mode::live              ? ds::catching_up
                                                                 : ds::ok;
  s.delivered_through = st.marks.delivered_through();
  s.loaded_through = st.marks.loaded_through();
  s.head_position = std::max(st.marks.loaded_through(), st.max_seen_live);
  const auto& c = *st.counters;
  s.delivered = c.delivered;
  s.requests = c.requests;
  s.retries = c.retries;
  s.failures_transient = c.failures_transient;
  s.failures_permanent = c.failures_permanent;
  s.dead_letters = c.dead_letters;
  s.parked = c.parked;
  s.circuit_opens = c.circuit_opens;
  auto cutoff = protocols::unix_now_ms() - 300000;
  for (const auto& [t, dead] : c.recent)
    if (t >= cutoff)
      ++(dead ? s.dead_letters_5m : s.retries_5m);
  s.parked_auctions = st.lanes.parked();
  s.in_memory = st.marks.held();
  s.oldest_undelivered_ms = st.marks.oldest_pending_ms().value_or(0);
  s.last_error = st.last_error;
  s.last_error_ms = st.last_error_ms;
  if (!c.latencies_ms.empty()) {
    std::vector<double> v(c.latencies_ms.begin(), c.latencies_ms.end());
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
      return v[std::min(v.size() - 1,
                        static_cast<std::size_t>(q * static_cast<double>(v.size())))];
    };
    s.latency_p50_ms = at(0.5);
    s.latency_p99_ms = at(0.99);
    s.latency_max_ms = v.back();
  }
  return s;
}

} // namespace

destination_settings make_destination_settings(const adapters::destination_config& cfg) {
  destination_settings s;
  s.name = cfg.name;
  s.kind = cfg.kind;
  for (const auto& t : cfg.event_types)
    if (auto x = protocols::parse_event_type(t))
      s.event_types.insert(*x);
  s.backfill = adapters::effective_backfill(cfg);
  s.concurrency = adapters::effective_concurrency(cfg);
  s.window = std::max<std::size_t>(cfg.window, 100);
  s.page = std::min<std::size_t>(2000, s.window / 4);
  s.retry = cfg.retry;
  s.circuit_failures = cfg.circuit_failures;
  s.circuit_open = cfg.circuit_open;
  s.restart_limit = cfg.restart_limit;
  s.restart_period = cfg.restart_period;
  return s;
}

destination_worker_actor::behavior_type
destination_worker(destination_worker_actor::stateful_pointer<destination_state> self,
                   destination_settings settings,
                   std::shared_ptr<adapters::destination_client> client,
                   std::shared_ptr<destination_counters> counters, store_actor store,
                   reader_actor reader) {
  auto& st = self->state;
  st.settings = std::move(settings);
  // Backfill takes at most half the requests in flight (at least one): the
  // other half is always free for live auctions (DESIGN §1.10).
  st.lanes.set_backfill_limit(std::max<std::size_t>(1, st.settings.concurrency / 2));
  st.behind.attach(st.settings.backfill_behind);
  if (st.settings.backfill)
    st.behind.set(true); // until caught up
  if (st.settings.jitter_seed != 0)
    st.rng.seed(st.settings.jitter_seed);
  st.client = std::move(client);
  st.counters = counters ? std::move(counters) : std::make_shared<destination_counters>();
  st.store = std::move(store);
  st.reader = std::move(reader);
  st.circuit = protocols::circuit_breaker{
      st.settings.circuit_failures, st.settings.circuit_open,
      std::max(st.settings.retry.max, st.settings.circuit_open)};
  start_up(self);
  self->delayed_send(self, st.settings.position_interval, atom::save_pos_v);
  self->attach_functor([client = st.client] { client->close(); });
  return {
      [self](atom::committed, record_batch& batch) {
        auto& st = self->state;
        if (batch->empty())
          return;
        if (st.m != destination_state::mode::live) {
          st.max_seen_live = std::max(st.max_seen_live, batch->back().position);
          return;
        }
        st.max_seen_live = std::max(st.max_seen_live, batch->back().position);
        for (const auto& rec : *batch) {
          if (rec.position <= st.marks.loaded_through())
            continue;
          if (rec.position > st.marks.loaded_through() + 1) {
            // A hole below this batch: positions the live feed never showed
            // (a commit resolved late, or numbers an aborted commit used).
            // Only the outbox can say which: never move past it unread.
            GAVEL_LOG_INFO("destination {}: positions {}..{} not seen live, reading "
                           "them from the outbox",
                           st.settings.name, st.marks.loaded_through() + 1,
                           rec.position - 1);
            st.m = destination_state::mode::catching_up;
            st.max_seen_live = batch->back().position;
            read_more(self);
            break;
          }
          if (st.marks.held() >= st.settings.window) {
            // Behind: stop holding envelopes; the outbox is the buffer.
            GAVEL_LOG_INFO("destination {}: {} in memory, catching up from the outbox",
                           st.settings.name, st.marks.held());
            st.m = destination_state::mode::catching_up;
            st.max_seen_live = batch->back().position;
            read_more(self);
            break;
          }
          enqueue(self, rec);
        }
        dispatch(self);
      },
      [self](atom::status) { return make_status(self->state); },
      [self](atom::redrive, std::int64_t auction) -> std::uint64_t {
        auto targets = self->state.lanes.start_redrive(auction);
        for (auto a : targets)
          redrive_one(self, a);
        return targets.size();
      },
      [self](atom::crash) {
        GAVEL_LOG_WARN("destination {}: crashing on request (fault injection)",
                       self->state.settings.name);
        self->quit(make_error(errc::internal, "crash requested (fault injection)"));
      },
      [self](atom::delivered, std::uint64_t id, adapters::delivery_result& r) {
        on_delivered(self, id, r);
      },
      [self](atom::retry, std::int64_t auction, std::uint64_t token) {
        if (self->state.lanes.retry_due(auction, token))
          dispatch(self);
      },
      [self](atom::dispatch) {
        self->state.dispatch_scheduled = false;
        dispatch(self);
      },
      [self](atom::read) {
        auto& st = self->state;
        if (st.m == destination_state::mode::starting)
          start_up(self);
        else
          read_more(self);
      },
      [self](atom::save_pos) {
        auto& st = self->state;
        if (st.marks.save_due()) {
          auto [through, progress] = st.marks.take_save();
          self->send(st.store, atom::position_v, st.settings.name, through,
                     std::move(progress));
        }
        self->delayed_send(self, st.settings.position_interval, atom::save_pos_v);
      },
  };
}

} // namespace gavel::actors
