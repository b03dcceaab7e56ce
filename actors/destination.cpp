#include "actors/destination.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace gavel::actors {

namespace {

using self_ptr = destination_worker_actor::stateful_pointer<destination_state>;
using protocols::failure_class;
using protocols::outbox_record;
using lane_t = destination_state::lane;

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void note_recent(destination_counters& c, bool dead) {
  auto now = unix_ms_now();
  c.recent.emplace_back(now, dead);
  while (!c.recent.empty() && c.recent.front().first < now - 300000)
    c.recent.pop_front();
}

void set_error(destination_state& st, std::string e) {
  st.last_error = std::move(e);
  st.last_error_ms = unix_ms_now();
}

void read_more(self_ptr self);
void dispatch(self_ptr self);

void make_ready(destination_state& st, std::int64_t auction, lane_t& l) {
  if (!l.ready && !l.waiting && !l.parked && !l.redriving && l.in_flight == 0 &&
      !l.queue.empty()) {
    l.ready = true;
    st.ready.push_back(auction);
  }
}

void mark_done(self_ptr self, std::int64_t pos) {
  auto& st = self->state;
  auto it =
      std::lower_bound(st.order.begin(), st.order.end(), pos,
                       [](const auto& e, std::int64_t p) { return e.position < p; });
  if (it != st.order.end() && it->position == pos) {
    it->done = true;
    auto& p = st.progress_unsaved[it->auction_id];
    p = std::max(p, pos);
  }
  while (!st.order.empty() && st.order.front().done) {
    st.delivered_through = st.order.front().position;
    st.order.pop_front();
  }
  if (st.order.empty())
    st.delivered_through = std::max(st.delivered_through, st.loaded_through);
  read_more(self);
}

/// Records a dead (or parked) letter with the store; it is then done as far
/// as the delivered-through position is concerned.
void record_dead(self_ptr self, const destination_state::item& it, std::string status,
                 std::string reason, int attempts, int http_status) {
  auto& st = self->state;
  protocols::dead_letter d;
  d.destination = st.settings.name;
  d.position = it.rec.position;
  d.auction_id = it.rec.auction_id;
  d.event_id = it.rec.event_id;
  d.type = it.rec.type;
  d.bid_sequence = it.rec.bid_sequence;
  d.status = std::move(status);
  d.reason = std::move(reason);
  d.attempts = attempts;
  d.http_status = http_status;
  d.envelope = it.rec.envelope;
  bool dead = d.status == "dead";
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
void park(self_ptr self, std::int64_t auction, lane_t& l, std::string reason,
          int http_status) {
  auto& st = self->state;
  auto head = std::move(l.queue.front());
  l.queue.pop_front();
  GAVEL_LOG_ERROR("destination {}: {} (auction {}, position {}) dead-lettered after {} "
                  "attempt(s): {}; auction parked",
                  st.settings.name, head.rec.event_id, auction, head.rec.position,
                  l.attempts + 1, reason);
  set_error(st, "dead letter " + head.rec.event_id + ": " + reason);
  record_dead(self, head, "dead", reason, static_cast<int>(l.attempts + 1), http_status);
  auto behind = "parked behind " + head.rec.event_id;
  l.parked = true;
  l.attempts = 0;
  l.waiting = false;
  ++l.token;
  auto rest = std::move(l.queue);
  l.queue.clear();
  for (auto& it : rest)
    record_dead(self, it, "parked", behind, 0, 0);
}

void enqueue(self_ptr self, outbox_record rec) {
  auto& st = self->state;
  st.loaded_through = rec.position;
  auto auction = rec.auction_id;
  bool done_already = false;
  if (rec.position <= st.done_before_max) {
    // Delivered (or dead-lettered) before a restart, though the prefix
    // position had not passed it: not sent again.
    auto it = st.done_before.find(auction);
    done_already = it != st.done_before.end() && rec.position <= it->second;
    if (done_already)
      ++st.counters->skipped_after_restart;
  } else if (!st.done_before.empty()) {
    st.done_before.clear();
  }
  if (done_already || !st.settings.event_types.count(rec.type)) {
    st.order.push_back({rec.position, true, rec.created_ms, auction});
    mark_done(self, rec.position);
    return;
  }
  st.order.push_back({rec.position, false, rec.created_ms, auction});
  auto& l = st.lanes[auction];
  if (l.parked && !l.redriving) {
    destination_state::item it{std::move(rec), false};
    record_dead(self, it, "parked", "auction parked (an earlier event is dead-lettered)",
                0, 0);
    return;
  }
  l.queue.push_back({std::move(rec), false});
  make_ready(st, auction, l);
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
  auto limits = st.client->limits();
  if (st.batch_cap == 0)
    st.batch_cap = limits.max_records;
  while (st.requests.size() < st.settings.concurrency && !st.ready.empty()) {
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
    // Fill the request from the ready auctions, each contributing a prefix
    // of its queue (many records of one auction, in order, when the kind
    // allows it); an auction that could not join keeps its place in line.
    request_builder builder{limits, st.batch_cap};
    std::vector<outbox_record> batch;
    std::vector<std::int64_t> deferred;
    while (!st.ready.empty() && !builder.full()) {
      auto auction = st.ready.front();
      auto it = st.lanes.find(auction);
      if (it == st.lanes.end()) {
        st.ready.pop_front();
        continue;
      }
      auto& l = it->second;
      if (!l.ready || l.parked || l.redriving || l.waiting || l.in_flight > 0 ||
          l.queue.empty()) {
        l.ready = false;
        st.ready.pop_front();
        continue;
      }
      if (!builder.open(auction, st.client->size_of(l.queue.front().rec)))
        break;
      st.ready.pop_front();
      std::size_t n = 0;
      while (n < l.queue.size() && builder.add(st.client->size_of(l.queue[n].rec),
                                               st.client->batch_key(l.queue[n].rec))) {
        batch.push_back(l.queue[n].rec);
        ++n;
      }
      builder.close();
      if (n == 0) {
        // Its head clashes with a record already in the request (same id):
        // it goes first in the next one.
        deferred.push_back(auction);
        continue;
      }
      l.ready = false;
      l.in_flight = n;
    }
    for (auto a = deferred.rbegin(); a != deferred.rend(); ++a)
      st.ready.push_front(*a);
    if (batch.empty())
      return;
    destination_state::request req;
    req.parts = builder.parts();
    req.records = batch.size();
    auto id = ++st.next_request;
    st.requests.emplace(id, std::move(req));
    ++st.counters->requests;
    auto handle = caf::actor_cast<destination_worker_actor>(self);
    st.client->send(std::move(batch), [handle, id](adapters::delivery_result r) {
      caf::anon_send(handle, atom::delivered_v, id, std::move(r));
    });
  }
}

void back_off(self_ptr self, std::int64_t auction, lane_t& l,
              std::chrono::milliseconds at_least) {
  auto& st = self->state;
  ++l.attempts;
  ++st.counters->retries;
  note_recent(*st.counters, false);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto delay =
      protocols::backoff_delay(st.settings.retry.initial, st.settings.retry.max,
                               st.settings.retry.multiplier, l.attempts, unit(st.rng));
  delay = std::max(delay, at_least);
  if (l.attempts == 1 || l.attempts % 10 == 0)
    GAVEL_LOG_WARN(
        "destination {}: auction {} failed ({}), attempt {}, retrying in {} ms",
        st.settings.name, auction, st.last_error, l.attempts, delay.count());
  l.waiting = true;
  self->delayed_send(self, delay, atom::retry_v, auction, ++l.token);
}

void observe_latency(destination_state& st, const outbox_record& rec) {
  if (rec.created_ms <= 0)
    return;
  auto ms =
      static_cast<double>(std::max<std::int64_t>(0, unix_ms_now() - rec.created_ms));
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
  auto found = st.requests.find(id);
  if (found == st.requests.end())
    return;
  auto req = std::move(found->second);
  st.requests.erase(found);
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
  bool batch_rejected = r.overall == failure_class::permanent && req.records > 1;
  if (batch_rejected) {
    // Split: the next requests carry half as many records, until the one
    // the server rejects travels alone.
    ++st.counters->failures_permanent;
    st.batch_cap = std::max<std::size_t>(1, req.records / 2);
    set_error(st, "batch of " + std::to_string(req.records) + " rejected (" + r.error +
                      "); retrying in batches of " + std::to_string(st.batch_cap));
  } else if (r.overall == failure_class::none && r.records.empty()) {
    st.batch_cap = std::min(st.client->limits().max_records, st.batch_cap * 2);
  }
  for (auto& v : split_verdicts(req.parts, r)) {
    auto auction = v.auction;
    auto it = st.lanes.find(auction);
    if (it == st.lanes.end())
      continue;
    auto& l = it->second;
    l.in_flight = 0;
    if (batch_rejected) {
      make_ready(st, auction, l);
      continue;
    }
    for (std::size_t k = 0; k < v.delivered && !l.queue.empty(); ++k) {
      auto done = std::move(l.queue.front());
      l.queue.pop_front();
      l.attempts = 0;
      ++st.counters->delivered;
      observe_latency(st, done.rec);
      if (done.redriven)
        self->send(st.store, atom::resolve_v, st.settings.name, done.rec.position);
      else
        mark_done(self, done.rec.position);
    }
    // The first record not delivered stays at the head; the v.resent records
    // behind it stay queued after it, so none of them overtakes it.
    if (v.failed && !l.queue.empty()) {
      const auto& o = *v.failed;
      if (o.outcome == failure_class::transient) {
        if (r.overall == failure_class::none) {
          ++st.counters->failures_transient;
          set_error(st, o.reason);
        }
        back_off(self, auction, l, r.retry_after);
      } else {
        ++st.counters->failures_permanent;
        park(self, auction, l, o.reason.empty() ? r.error : o.reason,
             o.status ? o.status : r.status);
      }
    }
    make_ready(st, auction, l);
    if (l.queue.empty() && !l.parked && !l.redriving && !l.waiting && l.in_flight == 0)
      st.lanes.erase(it);
  }
  dispatch(self);
}

void read_more(self_ptr self) {
  auto& st = self->state;
  if (st.m != destination_state::mode::catching_up || st.reading ||
      st.order.size() + st.settings.page > st.settings.window)
    return;
  st.reading = true;
  self->request(st.reader, std::chrono::seconds{30}, atom::read_v, st.loaded_through,
                static_cast<std::uint64_t>(st.settings.page))
      .then(
          [self](std::vector<outbox_record>& rows) {
            auto& st = self->state;
            st.reading = false;
            auto n = rows.size();
            for (auto& r : rows)
              if (r.position > st.loaded_through)
                enqueue(self, std::move(r));
            if (n < st.settings.page && st.loaded_through >= st.max_seen_live) {
              if (st.m != destination_state::mode::live)
                GAVEL_LOG_INFO("destination {}: caught up at position {}, live",
                               st.settings.name, st.loaded_through);
              st.m = destination_state::mode::live;
              if (st.order.empty())
                st.delivered_through = std::max(st.delivered_through, st.loaded_through);
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
                        st.delivered_through = st.saved_through = st.loaded_through = pos;
                        st.done_before.clear();
                        st.done_before_max = 0;
                        for (auto& [auction, at] : done) {
                          st.done_before[auction] = at;
                          st.done_before_max = std::max(st.done_before_max, at);
                        }
                        st.m = destination_state::mode::catching_up;
                        auto parked = std::count_if(
                            st.lanes.begin(), st.lanes.end(),
                            [](const auto& kv) { return kv.second.parked; });
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
                self->state.lanes[a].parked = true;
              load_position();
            },
            retry("load parked auctions"));
  };
  if (st.subscribed) {
    load_parked();
    return;
  }
  self->request(st.store, std::chrono::seconds{30}, atom::subscribe_v,
                caf::actor_cast<destination_actor>(self))
      .then(
          [self, load_parked](std::int64_t last_published) {
            auto& st = self->state;
            st.subscribed = true;
            st.max_seen_live = std::max(st.max_seen_live, last_published);
            load_parked();
          },
          retry("subscribe"));
}

void redrive_one(self_ptr self, std::int64_t auction) {
  auto& st = self->state;
  auto& l = st.lanes[auction];
  if (!l.parked || l.redriving)
    return;
  l.redriving = true;
  self->request(st.store, std::chrono::seconds{60}, atom::take_dead_v, st.settings.name,
                auction)
      .then(
          [self, auction](std::vector<protocols::dead_letter>& rows) {
            auto& st = self->state;
            auto& l = st.lanes[auction];
            l.redriving = false;
            // Dead letters first (position order), then what arrived while
            // they loaded.
            std::deque<destination_state::item> q;
            for (auto& d : rows) {
              outbox_record rec;
              rec.position = d.position;
              rec.auction_id = d.auction_id;
              rec.type = d.type;
              rec.bid_sequence = d.bid_sequence;
              rec.event_id = std::move(d.event_id);
              rec.envelope = std::move(d.envelope);
              q.push_back({std::move(rec), true});
            }
            for (auto& it : l.queue)
              q.push_back(std::move(it));
            l.queue = std::move(q);
            l.parked = false;
            l.attempts = 0;
            GAVEL_LOG_INFO("destination {}: redriving {} dead letter(s) of auction {}",
                           st.settings.name, rows.size(), auction);
            make_ready(st, auction, l);
            dispatch(self);
          },
          [self, auction](caf::error& err) {
            auto& st = self->state;
            auto& l = st.lanes[auction];
            l.redriving = false;
            set_error(st, "redrive: " + caf::to_string(err));
            // Still parked: what queued meanwhile joins the parked letters.
            auto rest = std::move(l.queue);
            l.queue.clear();
            for (auto& it : rest)
              record_dead(self, it, "parked", "auction parked (redrive failed)", 0, 0);
          });
}

destination_status make_status(destination_state& st) {
  destination_status s;
  s.name = st.settings.name;
  s.kind = st.settings.kind;
  auto now = std::chrono::steady_clock::now();
  auto circuit = st.circuit.current(now);
  s.circuit = circuit == protocols::circuit_breaker::state::closed ? "closed"
              : circuit == protocols::circuit_breaker::state::open ? "open"
                                                                   : "half-open";
  bool retrying = std::any_of(st.lanes.begin(), st.lanes.end(),
                              [](const auto& kv) { return kv.second.attempts > 0; });
  s.state = circuit != protocols::circuit_breaker::state::closed ? "circuit-open"
            : retrying                                           ? "retrying"
            : st.m != destination_state::mode::live              ? "catching-up"
                                                                 : "ok";
  s.delivered_through = st.delivered_through;
  s.loaded_through = st.loaded_through;
  s.head_position = std::max(st.loaded_through, st.max_seen_live);
  const auto& c = *st.counters;
  s.delivered = c.delivered;
  s.requests = c.requests;
  s.retries = c.retries;
  s.failures_transient = c.failures_transient;
  s.failures_permanent = c.failures_permanent;
  s.dead_letters = c.dead_letters;
  s.parked = c.parked;
  s.circuit_opens = c.circuit_opens;
  auto cutoff = unix_ms_now() - 300000;
  for (auto& [t, dead] : c.recent)
    if (t >= cutoff)
      ++(dead ? s.dead_letters_5m : s.retries_5m);
  s.parked_auctions = static_cast<std::size_t>(std::count_if(
      st.lanes.begin(), st.lanes.end(), [](const auto& kv) { return kv.second.parked; }));
  s.in_memory = st.order.size();
  for (const auto& o : st.order)
    if (!o.done) {
      s.oldest_undelivered_ms = o.created_ms;
      break;
    }
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
  if (cfg.event_types.empty())
    s.event_types = {
        protocols::event_type::auction_opened, protocols::event_type::bid_placed,
        protocols::event_type::auction_closed, protocols::event_type::producer_heartbeat};
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
  if (st.settings.jitter_seed != 0)
    st.rng.seed(st.settings.jitter_seed);
  st.client = std::move(client);
  st.counters = counters ? std::move(counters) : std::make_shared<destination_counters>();
  st.store = store;
  st.reader = reader;
  st.circuit = protocols::circuit_breaker{
      st.settings.circuit_failures, st.settings.circuit_open,
      std::max(st.settings.retry.max, st.settings.circuit_open)};
  start_up(self);
  self->delayed_send(self, st.settings.position_interval, atom::flush_v);
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
          if (rec.position <= st.loaded_through)
            continue;
          if (rec.position > st.loaded_through + 1) {
            // A hole below this batch: positions the live feed never showed
            // (a commit resolved late, or numbers an aborted commit used).
            // Only the outbox can say which: never move past it unread.
            GAVEL_LOG_INFO("destination {}: positions {}..{} not seen live, reading "
                           "them from the outbox",
                           st.settings.name, st.loaded_through + 1, rec.position - 1);
            st.m = destination_state::mode::catching_up;
            st.max_seen_live = batch->back().position;
            read_more(self);
            break;
          }
          if (st.order.size() >= st.settings.window) {
            // Behind: stop holding envelopes; the outbox is the buffer.
            GAVEL_LOG_INFO("destination {}: {} in memory, catching up from the outbox",
                           st.settings.name, st.order.size());
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
        auto& st = self->state;
        std::vector<std::int64_t> targets;
        for (auto& [a, l] : st.lanes)
          if (l.parked && !l.redriving && (auction == 0 || a == auction))
            targets.push_back(a);
        for (auto a : targets)
          redrive_one(self, a);
        return targets.size();
      },
      [self](atom::crash) {
        GAVEL_LOG_WARN("destination {}: crashing on request (fault injection)",
                       self->state.settings.name);
        self->quit(make_error(errc::internal, "crash requested (fault injection)"));
      },
      [self](atom::restart) {},
      [](atom::subscribe, caf::actor&) {
        // Its supervisor handles a new store (by starting a new worker).
      },
      [self](atom::delivered, std::uint64_t id, adapters::delivery_result& r) {
        on_delivered(self, id, r);
      },
      [self](atom::retry, std::int64_t auction, std::uint64_t token) {
        auto& st = self->state;
        auto it = st.lanes.find(auction);
        if (it == st.lanes.end() || it->second.token != token)
          return;
        it->second.waiting = false;
        make_ready(st, auction, it->second);
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
      [self](atom::flush) {
        auto& st = self->state;
        if (st.delivered_through > st.saved_through || !st.progress_unsaved.empty()) {
          auction_progress progress;
          for (auto& [auction, pos] : st.progress_unsaved)
            if (pos > st.delivered_through)
              progress.emplace_back(auction, pos);
          st.progress_unsaved.clear();
          self->send(st.store, atom::position_v, st.settings.name, st.delivered_through,
                     std::move(progress));
          st.saved_through = st.delivered_through;
        }
        self->delayed_send(self, st.settings.position_interval, atom::flush_v);
      },
  };
}

// -- supervisor ----------------------------------------------------------------

namespace {

using sup_ptr = destination_actor::stateful_pointer<destination_supervisor_state>;

void spawn_worker(sup_ptr self) {
  auto& st = self->state;
  if (!st.store)
    return; // started when the core supervisor hands over the store
  auto client = st.make_client();
  st.worker = self->spawn(destination_worker, st.settings, std::move(client), st.counters,
                          st.store, st.reader);
  self->monitor(st.worker);
  *st.current = st.worker;
}

destination_status supervisor_status(destination_supervisor_state& st) {
  destination_status s;
  s.name = st.settings.name;
  s.kind = st.settings.kind;
  s.state = st.failed ? "failed" : "restarting";
  s.last_error = st.failure;
  s.delivered = st.counters->delivered;
  s.requests = st.counters->requests;
  s.retries = st.counters->retries;
  s.failures_transient = st.counters->failures_transient;
  s.failures_permanent = st.counters->failures_permanent;
  s.dead_letters = st.counters->dead_letters;
  s.parked = st.counters->parked;
  s.circuit_opens = st.counters->circuit_opens;
  s.restarts = st.restarts;
  return s;
}

} // namespace

destination_actor::behavior_type destination_supervisor(
    destination_actor::stateful_pointer<destination_supervisor_state> self,
    destination_settings settings, client_factory make_client, store_actor store,
    reader_actor reader) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.make_client = std::move(make_client);
  st.counters = std::make_shared<destination_counters>();
  st.store = store;
  st.reader = reader;
  spawn_worker(self);
  self->attach_functor([current = st.current] {
    if (*current)
      caf::anon_send_exit(*current, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.worker.address())
      return;
    st.worker = nullptr;
    if (st.replacing) {
      // Stopped on purpose for a new store: start again at once (no crash).
      st.replacing = false;
      ++st.restarts;
      spawn_worker(self);
      return;
    }
    if (!msg.reason || self->getf(caf::abstract_actor::is_shutting_down_flag))
      return; // a normal exit (shutdown)
    auto now = std::chrono::steady_clock::now();
    st.crashes.push_back(now);
    while (!st.crashes.empty() && st.crashes.front() < now - st.settings.restart_period)
      st.crashes.pop_front();
    st.failure = "worker failed: " + caf::to_string(msg.reason);
    if (st.crashes.size() > st.settings.restart_limit) {
      st.failed = true;
      GAVEL_LOG_ERROR(
          "destination {}: {} crashes within {} ms (limit {}): marked failed, "
          "not restarting; delivery stops until `restart` (nothing is lost: "
          "the outbox keeps everything)",
          st.settings.name, st.crashes.size(), st.settings.restart_period.count(),
          st.settings.restart_limit);
      return;
    }
    st.consecutive = static_cast<unsigned>(st.crashes.size());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto delay = protocols::backoff_delay(std::chrono::milliseconds{100},
                                          std::chrono::milliseconds{30000}, 2.0,
                                          st.consecutive, unit(st.rng));
    GAVEL_LOG_WARN("destination {}: {}; restart {} in {} ms", st.settings.name,
                   st.failure, st.restarts + 1, delay.count());
    st.restart_pending = true;
    self->delayed_send(self, delay, atom::restart_v);
  });
  return {
      [self](atom::committed, record_batch&) {
        // The worker subscribes to the store itself.
      },
      [self](atom::status) -> caf::result<destination_status> {
        auto& st = self->state;
        if (!st.worker)
          return supervisor_status(st);
        auto rp = self->make_response_promise<destination_status>();
        self->request(st.worker, std::chrono::seconds{5}, atom::status_v)
            .then(
                [self, rp](destination_status& s) mutable {
                  s.restarts = self->state.restarts;
                  rp.deliver(std::move(s));
                },
                [self, rp](caf::error&) mutable {
                  rp.deliver(supervisor_status(self->state));
                });
        return rp;
      },
      [self](atom::redrive, std::int64_t auction) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        if (!st.worker)
          return make_error(errc::unavailable,
                            "destination " + st.settings.name +
                                (st.failed ? " has failed" : " is restarting"));
        return self->delegate(st.worker, atom::redrive_v, auction);
      },
      [self](atom::crash) {
        if (self->state.worker)
          self->send(self->state.worker, atom::crash_v);
      },
      [self](atom::restart) {
        auto& st = self->state;
        st.restart_pending = false;
        if (st.worker || st.replacing)
          return;
        if (st.failed) {
          // An operator's restart: a clean slate.
          st.failed = false;
          st.crashes.clear();
          st.consecutive = 0;
        }
        ++st.restarts;
        spawn_worker(self);
      },
      [self](atom::subscribe, caf::actor& store) {
        auto& st = self->state;
        st.store = caf::actor_cast<store_actor>(store);
        if (st.replacing)
          return; // the worker on its way down is replaced by one for this store
        if (st.worker) {
          // Its subscription, and whatever it sent the old store, are gone
          // with the old store: a new worker resumes from the stored
          // position (at-least-once) and subscribes to the new one.
          GAVEL_LOG_INFO("destination {}: new store, restarting the worker",
                         st.settings.name);
          st.replacing = true;
          self->send_exit(st.worker, caf::exit_reason::user_shutdown);
          return;
        }
        if (!st.failed && !st.restart_pending)
          spawn_worker(self);
      },
  };
}

} // namespace gavel::actors
