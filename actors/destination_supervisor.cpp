// The supervisor in front of one destination worker (actors/destination.hpp):
// restarts a failed worker under the restart policy, forwards the public
// protocol, and starts a new worker when the store is replaced.
#include "actors/destination.hpp"
#include "adapters/log.hpp"

#include <random>

namespace gavel::actors {

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
  s.state = st.failed ? protocols::destination_state::failed
                      : protocols::destination_state::restarting;
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
  st.policy = protocols::restart_policy{
      st.settings.restart_limit, st.settings.restart_period,
      std::chrono::milliseconds{100}, std::chrono::milliseconds{30000}};
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
    st.failure = "worker failed: " + caf::to_string(msg.reason);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto d = st.policy.on_crash(std::chrono::steady_clock::now(), unit(st.rng));
    if (d.over_limit) {
      st.failed = true;
      GAVEL_LOG_ERROR(
          "destination {}: {} crashes within {} ms (limit {}): marked failed, "
          "not restarting; delivery stops until `restart` (nothing is lost: "
          "the outbox keeps everything)",
          st.settings.name, d.crashes, st.policy.period().count(), st.policy.limit());
      return;
    }
    auto delay = d.delay;
    GAVEL_LOG_WARN("destination {}: {}; restart {} in {} ms", st.settings.name,
                   st.failure, st.restarts + 1, delay.count());
    st.restart_pending = true;
    self->delayed_send(self, delay, atom::restart_v);
  });
  return {
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
          st.policy.reset();
        }
        ++st.restarts;
        spawn_worker(self);
      },
      [self](atom::adopt, store_actor& store) {
        auto& st = self->state;
        st.store = std::move(store);
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
