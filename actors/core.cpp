#include "actors/core.hpp"

#include "adapters/log.hpp"
#include "protocols/resilience.hpp"
#include "protocols/time.hpp"

namespace gavel::actors {

namespace {

using core_ptr = core_impl_actor::stateful_pointer<core_state>;

void tell_gateways(core_ptr self) {
  auto& st = self->state;
  for (auto& g : st.dependents.gateways)
    caf::anon_send(g, atom::adopt_v, st.registry);
}

void set_up(core_ptr self) {
  auto& st = self->state;
  bool up = st.store && st.registry && !st.bumping;
  if (st.dependents.up)
    st.dependents.up->store(up);
  using cs = protocols::core_state;
  st.status.state = st.status.state == cs::failed ? cs::failed
                    : up                          ? cs::ok
                                                  : cs::restarting;
}

void adopt_store(core_ptr self, store_actor store) {
  auto& st = self->state;
  st.store = std::move(store);
  st.current->first = st.store;
  self->monitor(st.store);
  for (auto& d : st.dependents.destinations)
    self->send(d, atom::adopt_v, st.store);
}

void adopt_registry(core_ptr self, registry_actor registry) {
  auto& st = self->state;
  st.registry = std::move(registry);
  st.current->second = st.registry;
  self->monitor(st.registry);
  tell_gateways(self);
  set_up(self);
}

/// Records a crash; restarts after a backoff, or gives up over the limit.
void crashed(core_ptr self, std::string what) {
  auto& st = self->state;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto d = st.policy.on_crash(std::chrono::steady_clock::now(), unit(st.rng));
  st.status.last_error = std::move(what);
  st.status.last_error_ms = protocols::unix_now_ms();
  if (d.over_limit) {
    st.status.state = protocols::core_state::failed;
    ++st.generation; // cancels a restart that was due
    st.restart_pending = false;
    set_up(self);
    GAVEL_LOG_ERROR(
        "core: {} crashes within {} ms (limit {}): marked failed, not "
        "restarting; ingest answers 503 until POST /v1/components/core/restart "
        "(last: {})",
        d.crashes, st.policy.period().count(), st.policy.limit(), st.status.last_error);
    return;
  }
  set_up(self);
  if (st.restart_pending)
    return;
  auto delay = d.delay;
  GAVEL_LOG_WARN("core: {}; restarting in {} ms", st.status.last_error, delay.count());
  st.restart_pending = true;
  self->delayed_send(self, delay, atom::retry_v, ++st.generation);
}

/// Starts what is down: a new store (then a new registry), or a new registry
/// once the store fenced the old epoch off.
void restart(core_ptr self) {
  auto& st = self->state;
  st.restart_pending = false;
  if (st.status.state == protocols::core_state::failed || st.bumping ||
      (st.store && st.registry))
    return;
  auto epoch = st.status.epoch + 1;
  if (!st.store) {
    adopt_store(self, st.make.make_store(epoch));
    ++st.status.store_restarts;
    st.status.epoch = epoch;
    ++st.status.registry_restarts;
    adopt_registry(self, st.make.make_registry(st.store, epoch));
    GAVEL_LOG_INFO("core: store and registry restarted (epoch {})", epoch);
    return;
  }
  st.bumping = true;
  self->request(st.store, std::chrono::seconds{30}, atom::epoch_v, epoch)
      .then(
          [self, epoch](std::uint64_t) {
            auto& st = self->state;
            st.bumping = false;
            if (!st.store || st.registry ||
                st.status.state == protocols::core_state::failed)
              return;
            st.status.epoch = epoch;
            ++st.status.registry_restarts;
            adopt_registry(self, st.make.make_registry(st.store, epoch));
            GAVEL_LOG_INFO("core: registry restarted (epoch {})", epoch);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.bumping = false;
            if (!st.store || st.restart_pending)
              return; // the store's own failure schedules the restart
            GAVEL_LOG_WARN("core: the store did not fence the old registry off ({}); "
                           "trying again",
                           caf::to_string(err));
            st.restart_pending = true;
            self->delayed_send(self, st.settings.backoff_max / 10, atom::retry_v,
                               ++st.generation);
          });
}

} // namespace

core_impl_actor::behavior_type
core_supervisor(core_impl_actor::stateful_pointer<core_state> self,
                core_settings settings, core_factory make, core_dependents dependents,
                store_actor store, registry_actor registry) {
  auto& st = self->state;
  st.settings = settings;
  st.policy = protocols::restart_policy{settings.restart_limit, settings.restart_period,
                                        settings.backoff_min, settings.backoff_max};
  st.make = std::move(make);
  st.dependents = std::move(dependents);
  st.store = std::move(store);
  st.registry = std::move(registry);
  *st.current = {st.store, st.registry};
  self->monitor(st.store);
  self->monitor(st.registry);
  set_up(self);
  self->attach_functor([current = st.current] {
    if (current->second)
      caf::anon_send_exit(current->second, caf::exit_reason::user_shutdown);
    if (current->first)
      caf::anon_send_exit(current->first, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (self->getf(caf::abstract_actor::is_shutting_down_flag))
      return;
    auto reason = msg.reason ? caf::to_string(msg.reason) : std::string{"exited"};
    if (st.store && msg.source == st.store.address()) {
      st.store = nullptr;
      st.current->first = nullptr;
      st.bumping = false;
      if (st.registry) {
        // Its auction actors hold the old store and may hold state ahead of
        // an uncertain commit: the registry goes too (its auctions with it).
        self->send_exit(st.registry, caf::exit_reason::user_shutdown);
        st.registry = nullptr;
        st.current->second = nullptr;
        tell_gateways(self);
      }
      crashed(self, "store failed: " + reason);
      return;
    }
    if (st.registry && msg.source == st.registry.address()) {
      st.registry = nullptr;
      st.current->second = nullptr;
      tell_gateways(self);
      crashed(self, "registry failed: " + reason);
    }
    // Else: a registry this supervisor stopped itself (with its store).
  });
  return {
      [self](atom::status) { return self->state.status; },
      [self](atom::crash, std::string& which) {
        auto& st = self->state;
        if (which == "store" && st.store)
          self->send(st.store, atom::crash_v);
        else if (which == "registry" && st.registry)
          self->send(st.registry, atom::crash_v);
      },
      [self](atom::restart) {
        auto& st = self->state;
        if (st.status.state != protocols::core_state::failed)
          return;
        GAVEL_LOG_INFO("core: restart requested by an operator");
        st.status.state = protocols::core_state::restarting;
        st.policy.reset();
        ++st.generation;
        restart(self);
      },
      [self](atom::retry, std::uint64_t generation) {
        if (generation == self->state.generation)
          restart(self);
      },
  };
}

} // namespace gavel::actors
