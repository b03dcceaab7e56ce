#include "actors/destination.hpp"

#include "adapters/log.hpp"
#include "protocols/crypto.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace gavel::actors {

namespace {

using self_ptr = destination_actor::stateful_pointer<destination_state>;
using adapters::outbox_record;

class webhook_sender final : public sender {
public:
  webhook_sender(adapters::io_runtime& io, const adapters::destination_config& cfg,
                 adapters::url target)
      : secret_(cfg.secret), target_(target.target) {
    adapters::http_client_options opts;
    opts.ca_file = cfg.ca_file;
    opts.request_timeout = cfg.request_timeout;
    for (unsigned i = 0; i < cfg.concurrency; ++i)
      conns_.push_back(adapters::http_connection::make(io, target, opts));
  }

  ~webhook_sender() override {
    for (auto& c : conns_)
      c->close();
  }

  void send(std::uint32_t lane, const outbox_record& rec,
            std::function<void(adapters::http_result)> done) override {
    auto ts = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    auto sig = protocols::webhook_signature(secret_, rec.event_id, ts, *rec.envelope);
    if (!sig) {
      adapters::http_result r;
      r.error = "signing: " + sig.err().message;
      done(std::move(r));
      return;
    }
    adapters::header_list headers{
        {"Content-Type", "application/json"},
        {"webhook-id", rec.event_id},
        {"webhook-timestamp", std::to_string(ts)},
        {"webhook-signature", *sig},
    };
    conns_[lane % conns_.size()]->async_request("POST", target_, std::move(headers),
                                                *rec.envelope, std::move(done));
  }

private:
  std::string secret_;
  std::string target_;
  std::vector<std::shared_ptr<adapters::http_connection>> conns_;
};

std::uint32_t lane_of(const destination_state& st, std::int64_t auction_id) {
  // A stable mix so neighbouring auction ids spread over lanes.
  auto x = static_cast<std::uint64_t>(auction_id) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::uint32_t>((x >> 32) % st.lanes.size());
}

void start(self_ptr self, std::uint32_t i) {
  auto& l = self->state.lanes[i];
  if (l.in_flight || l.queue.empty())
    return;
  l.in_flight = true;
  auto token = ++l.token;
  auto handle = caf::actor_cast<destination_actor>(self);
  self->state.out->send(i, l.queue.front(), [handle, i, token](adapters::http_result r) {
    caf::anon_send(handle, atom::delivered_v, i, token, std::move(r));
  });
}

void read_more(self_ptr self);

void mark_done(self_ptr self, std::int64_t pos) {
  auto& st = self->state;
  auto it = std::lower_bound(st.order.begin(), st.order.end(), pos,
                             [](const auto& e, std::int64_t p) { return e.first < p; });
  if (it != st.order.end() && it->first == pos)
    it->second = true;
  while (!st.order.empty() && st.order.front().second) {
    st.delivered_through = st.order.front().first;
    st.order.pop_front();
  }
  if (st.order.empty())
    st.delivered_through = std::max(st.delivered_through, st.loaded_through);
  read_more(self);
}

void enqueue(self_ptr self, outbox_record rec) {
  auto& st = self->state;
  st.loaded_through = rec.position;
  if (!st.settings.event_types.count(rec.type)) {
    st.order.emplace_back(rec.position, true);
    mark_done(self, rec.position);
    return;
  }
  st.order.emplace_back(rec.position, false);
  auto i = lane_of(st, rec.auction_id);
  st.lanes[i].queue.push_back(std::move(rec));
  start(self, i);
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
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.reading = false;
            st.last_error = "outbox read: " + caf::to_string(err);
            self->delayed_send(self, std::chrono::seconds{1}, atom::read_v);
          });
}

std::chrono::milliseconds backoff(destination_state& st, unsigned attempts) {
  const auto& r = st.settings.retry;
  double d = static_cast<double>(r.initial.count()) *
             std::pow(r.multiplier, static_cast<double>(attempts > 0 ? attempts - 1 : 0));
  d = std::min(d, static_cast<double>(r.max.count()));
  // "Equal jitter": half fixed, half random, so lanes that failed together
  // do not retry together.
  std::uniform_real_distribution<double> half(0.0, d / 2);
  return std::chrono::milliseconds{static_cast<std::int64_t>(d / 2 + half(st.rng))};
}

void start_up(self_ptr self) {
  auto& st = self->state;
  self->request(st.reader, std::chrono::seconds{30}, atom::position_v, st.settings.name)
      .then(
          [self](std::int64_t pos) {
            auto& st = self->state;
            st.delivered_through = st.saved_through = st.loaded_through = pos;
            st.m = destination_state::mode::catching_up;
            GAVEL_LOG_INFO("destination {}: resuming after position {}", st.settings.name,
                           pos);
            read_more(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.last_error = "load position: " + caf::to_string(err);
            GAVEL_LOG_WARN("destination {}: {}", st.settings.name, st.last_error);
            self->delayed_send(self, std::chrono::seconds{1}, atom::read_v);
          });
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
  s.lanes = std::max(1u, cfg.concurrency);
  s.window = std::max<std::size_t>(cfg.window, 100);
  s.page = std::min<std::size_t>(2000, s.window / 4);
  s.retry = cfg.retry;
  return s;
}

std::shared_ptr<sender> make_webhook_sender(adapters::io_runtime& io,
                                            const adapters::destination_config& cfg) {
  auto u = adapters::parse_url(cfg.url);
  if (!u)
    return nullptr;
  return std::make_shared<webhook_sender>(io, cfg, *u);
}

destination_actor::behavior_type
destination(destination_actor::stateful_pointer<destination_state> self,
            destination_settings settings, std::shared_ptr<sender> out, store_actor store,
            reader_actor reader) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.out = std::move(out);
  st.store = store;
  st.reader = reader;
  st.lanes.resize(st.settings.lanes);
  self->send(store, atom::subscribe_v, caf::actor_cast<destination_actor>(self));
  start_up(self);
  self->delayed_send(self, st.settings.position_interval, atom::flush_v);
  return {
      [self](atom::committed, record_batch& batch) {
        auto& st = self->state;
        if (batch->empty())
          return;
        if (st.m != destination_state::mode::live) {
          st.max_seen_live = std::max(st.max_seen_live, batch->back().position);
          return;
        }
        for (const auto& rec : *batch) {
          if (rec.position <= st.loaded_through)
            continue;
          if (st.order.size() >= st.settings.window) {
            // Behind: stop holding envelopes; the outbox is the buffer.
            GAVEL_LOG_INFO("destination {}: {} in memory, catching up from the outbox",
                           st.settings.name, st.order.size());
            st.m = destination_state::mode::catching_up;
            st.max_seen_live = batch->back().position;
            read_more(self);
            return;
          }
          enqueue(self, rec);
        }
      },
      [self](atom::status) {
        auto& st = self->state;
        destination_status s;
        s.name = st.settings.name;
        s.kind = st.settings.kind;
        bool retrying = std::any_of(st.lanes.begin(), st.lanes.end(),
                                    [](const auto& l) { return l.attempts > 0; });
        s.state = retrying                                ? "retrying"
                  : st.m != destination_state::mode::live ? "catching-up"
                                                          : "ok";
        s.delivered_through = st.delivered_through;
        s.loaded_through = st.loaded_through;
        s.delivered = st.delivered;
        s.retries = st.retries;
        s.in_memory = st.order.size();
        s.last_error = st.last_error;
        return s;
      },
      [self](atom::delivered, std::uint32_t i, std::uint64_t token,
             adapters::http_result& r) {
        auto& st = self->state;
        if (i >= st.lanes.size())
          return;
        auto& l = st.lanes[i];
        if (token != l.token || !l.in_flight)
          return;
        l.in_flight = false;
        if (r.ok()) {
          auto pos = l.queue.front().position;
          l.queue.pop_front();
          l.attempts = 0;
          ++st.delivered;
          start(self, i);
          mark_done(self, pos);
          return;
        }
        ++l.attempts;
        ++st.retries;
        st.last_error = r.status != 0 ? "HTTP " + std::to_string(r.status) : r.error;
        auto delay = backoff(st, l.attempts);
        if (l.attempts == 1 || l.attempts % 10 == 0)
          GAVEL_LOG_WARN("destination {}: {} failed ({}), attempt {}, retrying in {} ms",
                         st.settings.name, l.queue.front().event_id, st.last_error,
                         l.attempts, delay.count());
        self->delayed_send(self, delay, atom::retry_v, i, token);
      },
      [self](atom::retry, std::uint32_t i, std::uint64_t token) {
        auto& st = self->state;
        if (i < st.lanes.size() && st.lanes[i].token == token)
          start(self, i);
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
        if (st.delivered_through > st.saved_through) {
          self->send(st.store, atom::position_v, st.settings.name, st.delivered_through);
          st.saved_through = st.delivered_through;
        }
        self->delayed_send(self, st.settings.position_interval, atom::flush_v);
      },
  };
}

} // namespace gavel::actors
