#include "actors/api/gateway.hpp"

namespace gavel::actors::api {

submission_ptr make_submission(protocols::ingest_body& body, bool backfill) {
  auto sub = std::make_shared<submission>();
  sub->results.resize(body.items.size());
  for (std::size_t i = 0; i < body.items.size(); ++i) {
    auto& item = body.items[i];
    if (item) {
      item->backfill = backfill;
      sub->slots.push_back(i);
      sub->events.push_back(std::move(*item));
    } else {
      auto& r = sub->results[i];
      r.st = ingest_result::status::rejected;
      r.error = protocols::ingest_error::invalid;
      r.error_field = item.err().field;
      r.error_message = item.err().message;
    }
  }
  return sub;
}

namespace {

void reject_unavailable(submission& sub, std::size_t i) {
  auto& r = sub.results[sub.slots[i]];
  r.st = ingest_result::status::rejected;
  r.event_id = std::move(sub.ids[i]);
  r.error = protocols::ingest_error::unavailable;
  r.error_message = "cannot make the event durable now; retry";
}

/// Answers what is still unanswered in `sub` as unavailable and completes it.
void expire(submission& sub) {
  for (std::size_t i = 0; i < sub.events.size(); ++i)
    if (!sub.answered[i])
      reject_unavailable(sub, i);
  sub.finished = true;
  sub.done(sub.results);
}

} // namespace

// The deadline is one timer per gateway (armed for the oldest waiting
// submission), not one per event: a timer per request is a locked insert
// into CAF's clock on the hot path.
gateway_impl_actor::behavior_type
gateway(gateway_impl_actor::stateful_pointer<gateway_state> self, registry_actor registry,
        std::chrono::milliseconds timeout) {
  self->state.registry = std::move(registry);
  auto arm = [self] {
    auto& w = self->state.waiting;
    while (!w.empty() && w.front().sub.expired())
      w.pop_front();
    if (w.empty() || self->state.timer_armed)
      return;
    self->state.timer_armed = true;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        w.front().deadline - std::chrono::steady_clock::now());
    self->delayed_send(
        self, std::max(wait, std::chrono::milliseconds{1}) + std::chrono::milliseconds{1},
        atom::expire_v);
  };
  return {
      [=](atom::submit, submission_ptr& sub) {
        auto n = sub->events.size();
        sub->remaining = n;
        sub->answered.assign(n, false);
        sub->ids.reserve(n);
        for (auto& ev : sub->events)
          sub->ids.push_back(ev.event_id());
        auto registry = self->state.registry;
        if (!registry)
          return expire(*sub); // restarting: the producer retries
        self->state.waiting.push_back({std::chrono::steady_clock::now() + timeout, sub});
        for (std::size_t i = 0; i < n; ++i) {
          self->request(registry, caf::infinite, atom::ingest_v,
                        std::move(sub->events[i]))
              .then(
                  [sub, i](ingest_result& r) {
                    if (sub->finished)
                      return;
                    sub->answered[i] = true;
                    sub->results[sub->slots[i]] = std::move(r);
                    if (--sub->remaining == 0) {
                      sub->finished = true;
                      sub->done(sub->results);
                    }
                  },
                  [sub, i](caf::error&) {
                    if (sub->finished)
                      return;
                    sub->answered[i] = true;
                    reject_unavailable(*sub, i);
                    if (--sub->remaining == 0) {
                      sub->finished = true;
                      sub->done(sub->results);
                    }
                  });
        }
        arm();
      },
      [=](atom::adopt, registry_actor& r) { self->state.registry = std::move(r); },
      [=](atom::expire) {
        self->state.timer_armed = false;
        auto now = std::chrono::steady_clock::now();
        auto& w = self->state.waiting;
        while (!w.empty() && (w.front().sub.expired() || w.front().deadline <= now)) {
          if (auto sub = w.front().sub.lock(); sub && !sub->finished)
            expire(*sub);
          w.pop_front();
        }
        arm();
      },
  };
}

} // namespace gavel::actors::api
