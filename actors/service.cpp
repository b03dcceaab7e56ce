#include "actors/service.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "protocols/json.hpp"
#include "protocols/time.hpp"

#include <charconv>
#include <deque>
#include <openssl/crypto.h>
#include <optional>
#include <thread>

namespace gavel::actors {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
namespace json = protocols::json;

/// One ingest request in flight: the events that passed validation go to the
/// registry; answers are collected in request order.
struct submission {
  std::vector<protocols::ingest_event> events;
  std::vector<std::size_t> slots; ///< index in `results` of each event
  std::vector<ingest_result> results;
  std::vector<std::string> ids; ///< event id of each event (for a 503 answer)
  std::vector<bool> answered;   ///< per event, in `events` order
  std::size_t remaining = 0;
  bool finished = false; ///< `done` ran (all answered, or the deadline passed)
  std::function<void(std::vector<ingest_result>&)> done;
};

using submission_ptr = std::shared_ptr<submission>;

} // namespace
} // namespace gavel::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::submission_ptr)

namespace gavel::actors {

namespace {

/// The submissions a gateway waits on, oldest first, for the request deadline.
struct gateway_state {
  struct entry {
    std::chrono::steady_clock::time_point deadline;
    std::weak_ptr<submission> sub;
  };
  std::deque<entry> waiting;
  bool timer_armed = false;
  /// Null while the core supervisor restarts the registry (ingest: 503).
  registry_actor registry;
};

/// Answers what is still unanswered in `sub` with 503 and completes it.
void expire(submission& sub) {
  for (std::size_t i = 0; i < sub.events.size(); ++i) {
    if (sub.answered[i])
      continue;
    auto& r = sub.results[sub.slots[i]];
    r.st = ingest_result::status::rejected;
    r.event_id = std::move(sub.ids[i]);
    r.http_status = 503;
    r.error_message = "cannot make the event durable now; retry";
  }
  sub.finished = true;
  sub.done(sub.results);
}

/// A GATEWAY actor: turns a submission into ingest requests and completes it
/// when every event has its answer, or answers 503 for what is still missing
/// once the request deadline passes. The deadline is one timer per gateway
/// (armed for the oldest waiting submission), not one per event: a timer per
/// request is a locked insert into CAF's clock on the hot path.
caf::behavior gateway(caf::stateful_actor<gateway_state>* self, registry_actor registry,
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
        atom::flush_v);
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
                    auto& r = sub->results[sub->slots[i]];
                    r.st = ingest_result::status::rejected;
                    r.event_id = std::move(sub->ids[i]);
                    r.http_status = 503;
                    r.error_message = "cannot make the event durable now; retry";
                    if (--sub->remaining == 0) {
                      sub->finished = true;
                      sub->done(sub->results);
                    }
                  });
        }
        arm();
      },
      [=](atom::subscribe, registry_actor& r) { self->state.registry = std::move(r); },
      [=](atom::flush) {
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

http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string error_body(int status, std::string_view code, std::string_view field,
                       std::string_view message) {
  std::string out = R"({"error":{"status":)" + std::to_string(status) + R"(,"code":)";
  json::dump_string(code, out);
  // Always present (empty for whole-request errors): DESIGN §1.2's shape.
  out += R"(,"field":)";
  json::dump_string(field, out);
  out += R"(,"message":)";
  json::dump_string(message, out);
  out += "}}";
  return out;
}

http_response unavailable_response(std::string body) {
  auto r = json_response(503, std::move(body));
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

/// 503 for a request shed at admission (ADR 0014); the code stays
/// `overloaded` for producers, the message says which bound it hit.
http_response shed_response(protocols::shed_reason r) {
  return unavailable_response(
      error_body(503, "overloaded", "",
                 r == protocols::shed_reason::queue_delay
                     ? "gavel is at capacity (the answer would be late); retry"
                     : "too many events in flight; retry"));
}

/// The error code of a rejected event (DESIGN §1.2).
std::string_view result_code(const ingest_result& r) {
  if (!r.error_code.empty())
    return r.error_code;
  return r.http_status == 409   ? "closed"
         : r.http_status == 422 ? "schema"
                                : "unavailable";
}

void append_result(std::string& out, const ingest_result& r) {
  out += R"({"event_id":)";
  json::dump_string(r.event_id, out);
  switch (r.st) {
  case ingest_result::status::accepted:
  case ingest_result::status::duplicate:
    out += R"(,"bid_sequence":)" + std::to_string(r.bid_sequence);
    out += r.st == ingest_result::status::accepted ? R"(,"status":"accepted"})"
                                                   : R"(,"status":"duplicate"})";
    return;
  case ingest_result::status::rejected:
    out += R"(,"status":"rejected","error":{"status":)" + std::to_string(r.http_status);
    out += R"(,"code":)";
    json::dump_string(result_code(r), out);
    if (!r.error_field.empty()) {
      out += R"(,"field":)";
      json::dump_string(r.error_field, out);
    }
    out += R"(,"message":)";
    json::dump_string(r.error_message, out);
    out += "}}";
  }
}

/// Ingest series, looked up once.
struct ingest_metrics {
  static constexpr int codes[] = {200, 202, 400, 401, 405, 409, 413, 422, 503};
  adapters::metrics::counter* requests[std::size(codes) + 1];
  adapters::metrics::counter& accepted;
  adapters::metrics::counter& duplicate;
  adapters::metrics::counter& invalid;
  adapters::metrics::counter& closed;
  adapters::metrics::counter& unavailable;
  adapters::metrics::counter& overloaded;
  adapters::metrics::counter& conflict;
  adapters::metrics::histogram& duration;

  static adapters::metrics::counter& events(const char* status) {
    return adapters::metrics::global().counter(
        "gavel_ingest_events_total",
        "Events received by POST /v1/events, by outcome (accepted, duplicate, invalid: "
        "422, closed: 409, conflict: 409 event_id_conflict, unavailable: 503, "
        "overloaded: shed with 503).",
        {{"status", status}});
  }

  ingest_metrics()
      : accepted(events("accepted")), duplicate(events("duplicate")),
        invalid(events("invalid")), closed(events("closed")),
        unavailable(events("unavailable")), overloaded(events("overloaded")),
        conflict(events("conflict")),
        duration(adapters::metrics::global().histogram(
            "gavel_ingest_request_duration_seconds",
            "POST /v1/events from request to response (the acknowledgement).",
            adapters::metrics::latency_buckets())) {
    for (std::size_t i = 0; i <= std::size(codes); ++i)
      requests[i] = &adapters::metrics::global().counter(
          "gavel_ingest_requests_total", "POST /v1/events requests, by response code.",
          {{"code", i < std::size(codes) ? std::to_string(codes[i]) : "other"}});
  }

  static ingest_metrics& get() {
    static ingest_metrics m;
    return m;
  }

  void count_request(int code) {
    std::size_t i = 0;
    while (i < std::size(codes) && codes[i] != code)
      ++i;
    requests[i]->inc();
  }

  void count_results(const std::vector<ingest_result>& results) {
    for (const auto& r : results)
      switch (r.st) {
      case ingest_result::status::accepted:
        accepted.inc();
        break;
      case ingest_result::status::duplicate:
        duplicate.inc();
        break;
      case ingest_result::status::rejected:
        (r.error_code == "event_id_conflict" ? conflict
         : r.http_status == 409              ? closed
         : r.http_status == 503              ? unavailable
                                             : invalid)
            .inc();
      }
  }
};

bool token_ok(const std::vector<std::string>& tokens, std::string_view header) {
  constexpr std::string_view prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.substr(0, prefix.size()) != prefix)
    return false;
  auto given = header.substr(prefix.size());
  bool ok = false;
  for (const auto& t : tokens)
    if (t.size() == given.size() && CRYPTO_memcmp(t.data(), given.data(), t.size()) == 0)
      ok = true;
  return ok;
}

} // namespace

service::service(caf::actor_system& sys, adapters::io_runtime& io, adapters::config cfg,
                 std::string database_url)
    : sys_(sys), io_(io), cfg_(std::move(cfg)), database_url_(std::move(database_url)),
      db_healthy_(std::make_shared<std::atomic<bool>>(false)),
      admission_(std::make_shared<admission_gate>(admission_gate::settings(cfg_))) {}

service::~service() {
  stop();
}

protocols::expected<adapters::done> service::start() {
  adapters::pg_store::options db;
  db.url = database_url_;
  db.connect_timeout_seconds =
      std::max<int>(1, static_cast<int>(cfg_.database.connect_timeout.count() / 1000));
  db.synchronous_commit = cfg_.store.synchronous_commit;
  store_settings ss;
  ss.max_batch_events = cfg_.store.max_batch_events;
  ss.storage = storage_;
  core_factory make;
  make.make_store = [this, db, ss](std::uint64_t epoch) {
    auto s = ss;
    s.epoch = epoch;
    return sys_.spawn<caf::detached>(store, db, s, db_healthy_);
  };
  store_ = make.make_store(0);
  loader_ = sys_.spawn<caf::detached>(reader, db);
  reader_ = sys_.spawn<caf::detached>(reader, db);
  for (const auto& d : cfg_.destinations) {
    // Fail fast on a client that cannot be built (bad URL); restarts build anew.
    if (auto probe = adapters::make_destination_client(io_, d); !probe)
      return protocols::error{"config", "destination",
                              "destination " + d.name + ": " + probe.err().message};
    else
      (*probe)->close();
    client_factory factory = [this,
                              d]() -> std::shared_ptr<adapters::destination_client> {
      return *adapters::make_destination_client(io_, d);
    };
    destinations_.push_back(sys_.spawn(destination_supervisor,
                                       make_destination_settings(d), std::move(factory),
                                       store_, reader_));
  }
  maintenance_ =
      sys_.spawn<caf::detached>(maintenance, db, make_maintenance_settings(cfg_));
  board_ = std::make_shared<auction_board>();
  auction_deps deps;
  deps.store = store_;
  deps.reader = loader_;
  deps.board = board_;
  deps.settings.heartbeat_interval = cfg_.auction.heartbeat_interval;
  deps.settings.final_heartbeat_interval = cfg_.auction.final_heartbeat_interval;
  deps.settings.final_window = cfg_.auction.final_window;
  deps.settings.idle_timeout = cfg_.auction.idle_timeout;
  deps.clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // Series exist from the start (at zero), not from their first event.
  ingest_metrics::get();
  adapters::metrics::global().counter("gavel_heartbeat_events_total",
                                      "producer.heartbeat events committed.");
  admission_gate::register_metrics(admission_);
  health_ = std::make_shared<health_sources>();
  health_->destinations = destinations_;
  for (const auto& d : cfg_.destinations) {
    health_->names.push_back(d.name);
    health_->kinds.push_back(d.kind);
  }
  health_->maintenance = maintenance_;
  health_->board = board_;
  health_->db_healthy = db_healthy_;
  health_->storage = storage_;
  health_->database = database_status_;
  health_->final_window_ms = cfg_.auction.final_window.count();
  health_->clock = deps.clock;
  make.make_registry = [this, deps](store_actor st, std::uint64_t epoch) {
    auto d = deps;
    d.store = std::move(st);
    d.epoch = epoch;
    return sys_.spawn(registry, std::move(d));
  };
  registry_ = make.make_registry(store_, 0);
  for (int i = 0; i < 2; ++i)
    gateways_.push_back(sys_.spawn(gateway, registry_, cfg_.server.request_timeout));
  core_settings cs;
  cs.restart_limit = cfg_.store.restart_limit;
  cs.restart_period = cfg_.store.restart_period;
  core_ =
      sys_.spawn(core_supervisor, cs, std::move(make),
                 core_dependents{destinations_, gateways_, core_up_}, store_, registry_);
  health_->core = core_;
  alerts_ = sys_.spawn<caf::detached>(alerts, health_, cfg_.alerts,
                                      make_alert_senders(cfg_.alerts));
  return adapters::done{};
}

void service::stop() {
  if (!registry_)
    return;
  for (auto& g : gateways_)
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  // The core supervisor takes the registry (and its auctions) and the
  // store down with it.
  caf::anon_send_exit(core_, caf::exit_reason::user_shutdown);
  for (auto& d : destinations_)
    caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(loader_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(reader_, caf::exit_reason::user_shutdown);
  if (maintenance_)
    caf::anon_send_exit(maintenance_, caf::exit_reason::user_shutdown);
  if (alerts_)
    caf::anon_send_exit(alerts_, caf::exit_reason::user_shutdown);
  gateways_.clear();
  destinations_.clear();
  registry_ = nullptr;
}

std::string service::drain(std::chrono::milliseconds budget) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + budget;
  // 0. New ingest requests (also on open keep-alive connections) are turned
  //    away with 503 + Retry-After and the connection closed: the producer
  //    retries against the next instance (or this one restarted).
  draining_ = true;
  // 1. Events in flight: their commits finish and their answers go out.
  while (in_flight() > 0 && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  std::size_t unanswered = in_flight();
  // 2. Destinations deliver what is committed (a destination that cannot,
  //    e.g. its endpoint is down, keeps the rest in the outbox for next time).
  caf::scoped_actor self{sys_};
  auto head = [] {
    return static_cast<std::int64_t>(
        adapters::metrics::global()
            .gauge("gavel_outbox_head_position", "Highest committed outbox position.")
            .value());
  };
  std::vector<std::int64_t> delivered(destinations_.size(), 0);
  auto poll = [&] {
    bool all = true;
    for (std::size_t i = 0; i < destinations_.size(); ++i) {
      self->request(destinations_[i], std::chrono::seconds{1}, atom::status_v)
          .receive([&](destination_status& st) { delivered[i] = st.delivered_through; },
                   [&](caf::error&) {});
      all = all && delivered[i] >= head();
    }
    return all;
  };
  bool caught_up = poll();
  while (!caught_up && clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    caught_up = poll();
  }
  // 3. Positions stored: the destinations write theirs periodically; wait
  //    until the database has what they report (bounded separately, short).
  auto stored_deadline = std::max(deadline, clock::now() + std::chrono::seconds{2});
  bool stored = false;
  while (!stored && clock::now() < stored_deadline) {
    stored = true;
    for (std::size_t i = 0; i < destinations_.size(); ++i) {
      std::int64_t pos = -1;
      self->request(reader_, std::chrono::seconds{1}, atom::position_v,
                    cfg_.destinations[i].name)
          .receive([&](std::int64_t p) { pos = p; }, [&](caf::error&) {});
      stored = stored && pos >= delivered[i];
    }
    if (!stored)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  std::string out = "in flight unanswered " + std::to_string(unanswered) +
                    ", destinations " + (caught_up ? "caught up" : "not caught up") +
                    " (head " + std::to_string(head()) + "), positions " +
                    (stored ? "stored" : "NOT all stored");
  for (std::size_t i = 0; i < destinations_.size(); ++i)
    out += ", " + cfg_.destinations[i].name + "@" + std::to_string(delivered[i]);
  return out;
}

void service::handle(http_request&& req, http_responder respond) {
  std::string_view path = req.target;
  if (auto q = path.find('?'); q != std::string_view::npos)
    path = path.substr(0, q);
  if (path == "/v1/events") {
    if (req.method != "POST")
      return respond(json_response(405, error_body(405, "method", "", "use POST")));
    return ingest(std::move(req), std::move(respond));
  }
  if (path == "/healthz")
    return respond(json_response(200, R"({"status":"ok"})"));
  if (path == "/readyz") {
    // The embedded cluster's supervisor knows of a dead server before the
    // store's next commit fails.
    auto status = database_status_ ? database_status_() : adapters::database_status{};
    bool server = !database_status_ || status.state == "running";
    bool db = server && db_healthy_->load();
    bool core = core_up_->load();
    // A full or read-only disk outlasts the restarts it may cause (a PANIC
    // on a WAL write) and needs someone to free space: it is told first.
    if (storage_state(storage_.get(), status).failing)
      return respond(
          json_response(503, R"({"status":"database storage refusing writes"})"));
    return respond(json_response(db && core ? 200 : 503,
                                 !server ? R"({"status":"database restarting"})"
                                 : !db   ? R"({"status":"database unreachable"})"
                                 : !core ? R"({"status":"core restarting or failed"})"
                                         : R"({"status":"ready"})"));
  }
  if (path == "/v1/pipeline")
    return pipeline(std::move(respond));
  if (path == "/metrics")
    return metrics(std::move(respond));
  if (path.rfind("/v1/dead-letters", 0) == 0 || path.rfind("/v1/destinations/", 0) == 0 ||
      path.rfind("/v1/components/", 0) == 0)
    return operations(std::move(req), std::move(respond));
  respond(json_response(404, error_body(404, "not_found", "", "no such route")));
}

void service::ingest(http_request&& req, http_responder plain_respond) {
  // Every answer is counted by code and timed (the acknowledgement latency).
  auto started = std::chrono::steady_clock::now();
  http_responder respond = [plain_respond = std::move(plain_respond),
                            started](http_response r) {
    auto& m = ingest_metrics::get();
    m.count_request(r.status);
    m.duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
            .count());
    plain_respond(std::move(r));
  };
  if (!token_ok(cfg_.ingest.tokens, req.header("Authorization"))) {
    auto r = json_response(
        401, error_body(401, "unauthorized", "", "missing or bad bearer token"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  if (draining_) {
    auto r = unavailable_response(
        error_body(503, "shutting_down", "", "gavel is shutting down; retry"));
    r.headers.emplace_back("Connection", "close");
    return respond(std::move(r));
  }
  // Shed before parsing: a request turned away costs only reading its bytes,
  // and its 503 leaves at once instead of queueing behind the parse work of
  // the very overload it is part of.
  if (auto shed = admission_->check(); shed != protocols::shed_reason::none)
    return respond(shed_response(shed));
  protocols::validation_limits limits;
  limits.max_batch = cfg_.ingest.max_batch;
  limits.max_depth = cfg_.ingest.max_depth;
  auto body = protocols::parse_ingest_body(req.body, limits);
  if (!body) {
    const auto& e = body.err();
    int status = e.code == "batch_too_large" ? 413 : e.code == "empty_batch" ? 422 : 400;
    return respond(json_response(status, error_body(status, e.code, e.field, e.message)));
  }
  auto sub = std::make_shared<submission>();
  sub->results.resize(body->items.size());
  for (std::size_t i = 0; i < body->items.size(); ++i) {
    auto& item = body->items[i];
    if (item) {
      sub->slots.push_back(i);
      sub->events.push_back(std::move(*item));
    } else {
      auto& r = sub->results[i];
      r.st = ingest_result::status::rejected;
      r.http_status = 422;
      r.error_field = item.err().field;
      r.error_message = item.err().message;
    }
  }
  const bool batch = body->is_batch;
  auto finish = [batch, respond](std::vector<ingest_result>& results) {
    ingest_metrics::get().count_results(results);
    if (!batch) {
      const auto& r = results.front();
      if (r.st == ingest_result::status::rejected) {
        auto code = result_code(r);
        auto text = error_body(r.http_status, code, r.error_field, r.error_message);
        return respond(r.http_status == 503
                           ? unavailable_response(std::move(text))
                           : json_response(r.http_status, std::move(text)));
      }
      std::string out;
      append_result(out, r);
      return respond(json_response(202, std::move(out)));
    }
    std::string out = R"({"results":[)";
    bool any_unavailable = false;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (i > 0)
        out += ',';
      append_result(out, results[i]);
      any_unavailable |= results[i].http_status == 503;
    }
    out += "]}";
    // The accepted items are durable; a retry of the whole batch is safe
    // (idempotent), so an unavailable item makes the whole answer 503.
    respond(any_unavailable ? unavailable_response(std::move(out))
                            : json_response(200, std::move(out)));
  };
  if (sub->events.empty()) {
    finish(sub->results);
    return;
  }
  auto n = sub->events.size();
  if (auto shed = admission_->acquire(n); shed != protocols::shed_reason::none) {
    ingest_metrics::get().overloaded.inc(n);
    return respond(shed_response(shed));
  }
  auto admitted = protocols::admission_clock::now();
  sub->done = [gate = admission_, n, admitted,
               finish](std::vector<ingest_result>& results) {
    gate->release(n, admitted);
    finish(results);
  };
  auto& g = gateways_[next_gateway_.fetch_add(1) % gateways_.size()];
  caf::anon_send(g, atom::submit_v, std::move(sub));
}

void service::pipeline(http_responder respond) {
  gather_health(sys_, health_, [respond = std::move(respond)](pipeline_snapshot& snap) {
    export_health_metrics(snap);
    respond(json_response(200, pipeline_json(snap)));
  });
}

void service::metrics(http_responder respond) {
  // Lag and state gauges are computed at scrape time from the destinations'
  // own reports and the outbox, then the whole registry is rendered.
  gather_health(sys_, health_, [respond = std::move(respond)](pipeline_snapshot& snap) {
    export_health_metrics(snap);
    http_response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = adapters::metrics::global().render();
    respond(std::move(r));
  });
}

// -- dead letters and destination control ---------------------------------------

namespace {

std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return std::string{eq == std::string_view::npos ? std::string_view{}
                                                      : pair.substr(eq + 1)};
    if (amp == std::string_view::npos)
      break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || x < 0)
    return std::nullopt;
  return x;
}

void append_dead_letter(std::string& out, const protocols::dead_letter& d) {
  out += R"({"destination":)";
  json::dump_string(d.destination, out);
  out += R"(,"position":)" + std::to_string(d.position);
  out += R"(,"auction_id":)" + std::to_string(d.auction_id);
  out += R"(,"event_id":)";
  json::dump_string(d.event_id, out);
  out += R"(,"event_type":)";
  json::dump_string(protocols::to_string(d.type), out);
  out += R"(,"bid_sequence":)" + std::to_string(d.bid_sequence);
  out += R"(,"status":)";
  json::dump_string(d.status, out);
  out += R"(,"reason":)";
  json::dump_string(d.reason, out);
  out += R"(,"attempts":)" + std::to_string(d.attempts);
  out += R"(,"http_status":)" + std::to_string(d.http_status);
  out += R"(,"created_at":)";
  json::dump_string(protocols::format_iso8601_ms(d.created_ms), out);
  // The exact bytes that were (and will be) sent.
  out += R"(,"envelope":)";
  json::dump_string(d.envelope ? *d.envelope : std::string{}, out);
  out += '}';
}

} // namespace

void service::operations(http_request&& req, http_responder respond) {
  if (!token_ok(cfg_.ingest.tokens, req.header("Authorization"))) {
    auto r = json_response(
        401, error_body(401, "unauthorized", "", "missing or bad bearer token"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  auto find_destination = [this](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < cfg_.destinations.size(); ++i)
      if (cfg_.destinations[i].name == name)
        return i;
    return std::nullopt;
  };
  auto bad = [&](int status, std::string_view code, std::string_view field,
                 std::string_view message) {
    respond(json_response(status, error_body(status, code, field, message)));
  };

  if (path == "/v1/dead-letters") {
    if (req.method != "GET")
      return bad(405, "method", "", "use GET");
    auto dest = query_param(req.target, "destination");
    if (!dest.empty() && !find_destination(dest))
      return bad(404, "not_found", "destination", "no such destination");
    auto auction = to_int(query_param(req.target, "auction_id")).value_or(0);
    auto after = to_int(query_param(req.target, "after")).value_or(0);
    auto limit = std::clamp<std::int64_t>(
        to_int(query_param(req.target, "limit")).value_or(100), 1, 1000);
    sys_.spawn([this, dest, auction, after, limit,
                respond = std::move(respond)](caf::event_based_actor* self) {
      self->request(reader_, std::chrono::seconds{10}, atom::dead_list_v, dest, auction,
                    after, static_cast<std::uint64_t>(limit))
          .then(
              [respond, limit](std::vector<protocols::dead_letter>& rows) {
                std::string out = R"({"dead_letters":[)";
                for (std::size_t i = 0; i < rows.size(); ++i) {
                  if (i > 0)
                    out += ',';
                  append_dead_letter(out, rows[i]);
                }
                out += "]";
                // Keyset pagination: pass `after` (with the same destination
                // filter) to continue; null when this was the last page.
                if (static_cast<std::int64_t>(rows.size()) == limit)
                  out += R"(,"next_after":)" + std::to_string(rows.back().position);
                else
                  out += R"(,"next_after":null)";
                out += "}";
                respond(json_response(200, std::move(out)));
              },
              [respond](caf::error& err) {
                respond(unavailable_response(error_body(
                    503, "unavailable", "", "database: " + caf::to_string(err))));
              });
    });
    return;
  }

  if (path == "/v1/dead-letters/redrive") {
    if (req.method != "POST")
      return bad(405, "method", "", "use POST");
    auto body = json::parse(req.body.empty() ? std::string_view{"{}"} : req.body);
    if (!body || !body->is_object())
      return bad(400, "malformed", "", "expected a JSON object");
    const auto* d = body->find("destination");
    if (!d || !d->is_string())
      return bad(422, "schema", "destination", "required: the destination's name");
    auto index = find_destination(d->text);
    if (!index)
      return bad(404, "not_found", "destination", "no such destination");
    std::int64_t auction = 0;
    if (const auto* a = body->find("auction_id"); a && a->k != json::kind::null) {
      auto x = a->is_number() ? to_int(a->text) : std::nullopt;
      if (!x || *x == 0)
        return bad(422, "schema", "auction_id", "expected a positive integer");
      auction = *x;
    }
    auto target = destinations_[*index];
    auto name = d->text;
    sys_.spawn([target, auction, name,
                respond = std::move(respond)](caf::event_based_actor* self) {
      self->request(target, std::chrono::seconds{10}, atom::redrive_v, auction)
          .then(
              [respond, name, auction](std::uint64_t n) {
                std::string out = R"({"destination":)";
                json::dump_string(name, out);
                if (auction != 0)
                  out += R"(,"auction_id":)" + std::to_string(auction);
                out += R"(,"auctions_redriven":)" + std::to_string(n) + "}";
                respond(json_response(202, std::move(out)));
              },
              [respond](caf::error& err) {
                respond(unavailable_response(
                    error_body(503, "unavailable", "", caf::to_string(err))));
              });
    });
    return;
  }

  // /v1/components/core/<action>: the store and registry, as one unit.
  if (path.rfind("/v1/components/", 0) == 0) {
    auto rest = path.substr(std::string_view{"/v1/components/"}.size());
    bool crash_store = rest == "store/crash", crash_registry = rest == "registry/crash";
    if (!crash_store && !crash_registry && rest != "core/restart")
      return bad(404, "not_found", "", "no such route");
    if (req.method != "POST")
      return bad(405, "method", "", "use POST");
    if (rest == "core/restart") {
      caf::anon_send(core_, atom::restart_v);
    } else {
      if (!cfg_.server.fault_injection)
        return bad(404, "not_found", "",
                   "fault injection is disabled (server.fault_injection)");
      caf::anon_send(core_, atom::crash_v,
                     std::string{crash_store ? "store" : "registry"});
    }
    return respond(json_response(202, R"({"status":"accepted"})"));
  }

  // /v1/destinations/<name>/<action>
  auto rest = path.substr(std::string_view{"/v1/destinations/"}.size());
  auto slash = rest.find('/');
  auto name = rest.substr(0, slash);
  auto action =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  auto index = find_destination(name);
  if (!index || (action != "restart" && action != "crash"))
    return bad(404, "not_found", "", "no such route");
  if (req.method != "POST")
    return bad(405, "method", "", "use POST");
  if (action == "crash") {
    if (!cfg_.server.fault_injection)
      return bad(404, "not_found", "",
                 "fault injection is disabled (server.fault_injection)");
    caf::anon_send(destinations_[*index], atom::crash_v);
  } else {
    caf::anon_send(destinations_[*index], atom::restart_v);
  }
  respond(json_response(202, R"({"status":"accepted"})"));
}

} // namespace gavel::actors
