#include "actors/cmd/service.hpp"

#include "actors/api/gateway.hpp"
#include "actors/backfill.hpp"
#include "actors/pull.hpp"
#include "adapters/metrics.hpp"
#include "protocols/time.hpp"

#include <thread>

namespace gavel::actors {

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
  // Backfill waits while a destination taking it is behind (DESIGN §1.10).
  auto backfill_behind = std::make_shared<std::atomic<int>>(0);
  admission_->watch_destinations(backfill_behind);
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
    auto settings = make_destination_settings(d);
    settings.backfill_behind = backfill_behind;
    destinations_.push_back(sys_.spawn(destination_supervisor, std::move(settings),
                                       std::move(factory), store_, reader_));
  }
  maintenance_ =
      sys_.spawn<caf::detached>(maintenance, db, make_maintenance_settings(cfg_));
  std::vector<protocols::delivery_scope> scopes;
  for (const auto& d : cfg_.destinations) {
    protocols::delivery_scope s{d.name, {}};
    for (const auto& t : d.event_types)
      if (auto type = protocols::parse_event_type(t))
        s.types.push_back(*type);
    scopes.push_back(std::move(s));
  }
  pull_ = sys_.spawn<caf::detached>(pull, db, std::move(scopes));
  sources_ = std::make_shared<source_registry>(cfg_.sources);
  source_flags_ =
      sys_.spawn<caf::detached>(actors::sources, db, sources_, std::chrono::seconds{1});
  backfills_ = sys_.spawn<caf::detached>(actors::backfills, db);
  board_ = std::make_shared<auction_board>();
  auction_deps deps;
  deps.store = store_;
  deps.reader = loader_;
  deps.board = board_;
  deps.settings.heartbeat_interval = cfg_.auction.heartbeat_interval;
  deps.settings.final_heartbeat_interval = cfg_.auction.final_heartbeat_interval;
  deps.settings.final_window = cfg_.auction.final_window;
  deps.settings.idle_timeout = cfg_.auction.idle_timeout;
  deps.clock = [] { return protocols::unix_now_ms(); };
  // Series exist from the start (at zero), not from their first event.
  api::ingest_endpoint::register_metrics();
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
  health_->sources = sources_;
  make.make_registry = [this, deps](store_actor st, std::uint64_t epoch) {
    auto d = deps;
    d.store = std::move(st);
    d.epoch = epoch;
    return sys_.spawn(registry, std::move(d));
  };
  registry_ = make.make_registry(store_, 0);
  for (int i = 0; i < 2; ++i)
    gateways_.emplace_back(
        sys_.spawn(api::gateway, registry_, cfg_.server.request_timeout));
  // Inbox sources: one reader and thread each, submitting through the same
  // gateways as POST /v1/events.
  for (const auto& sc : adapters::effective_sources(cfg_.sources)) {
    auto kind = protocols::parse_source_kind(sc.kind);
    if (!kind || *kind == protocols::source_kind::http)
      continue;
    adapters::inbox_options io;
    io.url = sc.url.empty() ? database_url_ : sc.url;
    io.connect_timeout_seconds = db.connect_timeout_seconds;
    io.application_name = "gavel-inbox-" + sc.name;
    auto reader = *kind == protocols::source_kind::postgres_inbox
                      ? adapters::make_postgres_inbox(std::move(io))
                      : adapters::make_mysql_inbox(std::move(io));
    inbox_source_settings is;
    is.name = sc.name;
    is.poll_interval = sc.poll_interval;
    is.batch = sc.batch;
    is.limits.max_batch = cfg_.ingest.max_batch;
    is.limits.max_depth = cfg_.ingest.max_depth;
    is.commit_timeout = cfg_.server.request_timeout + std::chrono::seconds{5};
    is.apply_schema = *kind == protocols::source_kind::postgres_inbox && sc.url.empty();
    inboxes_.push_back(std::make_unique<inbox_source>(std::move(is), std::move(reader),
                                                      sources_, gateways_));
    inboxes_.back()->start();
  }
  core_settings cs;
  cs.restart_limit = cfg_.store.restart_limit;
  cs.restart_period = cfg_.store.restart_period;
  std::vector<registry_user_actor> registry_users{gateways_.begin(), gateways_.end()};
  core_ = sys_.spawn(core_supervisor, cs, std::move(make),
                     core_dependents{destinations_, std::move(registry_users), core_up_},
                     store_, registry_);
  health_->core = core_;
  alerts_ = sys_.spawn<caf::detached>(alerts, health_, cfg_.alerts,
                                      make_alert_senders(cfg_.alerts));
  router_ = std::make_unique<api::router>(
      cfg_, admission_, gateways_,
      api::operations_targets{&sys_, health_, reader_, core_up_, pull_, sources_,
                              source_flags_, backfills_});
  return adapters::done{};
}

void service::stop() {
  if (!registry_)
    return;
  // The inboxes first: a batch in flight finishes while the gateways live.
  inboxes_.clear();
  for (auto& g : gateways_)
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  // The core supervisor takes the registry (and its auctions) and the
  // store down with it.
  caf::anon_send_exit(core_, caf::exit_reason::user_shutdown);
  for (auto& d : destinations_)
    caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(loader_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(reader_, caf::exit_reason::user_shutdown);
  if (pull_)
    caf::anon_send_exit(pull_, caf::exit_reason::user_shutdown);
  if (source_flags_)
    caf::anon_send_exit(source_flags_, caf::exit_reason::user_shutdown);
  if (backfills_)
    caf::anon_send_exit(backfills_, caf::exit_reason::user_shutdown);
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
  if (router_)
    router_->refuse_ingest();
  for (auto& inbox : inboxes_)
    inbox->stop();
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

void service::handle(adapters::http_request&& req, adapters::http_responder respond) {
  router_->handle(std::move(req), std::move(respond));
}

} // namespace gavel::actors
