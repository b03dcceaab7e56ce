#include "actors/service.hpp"

#include "adapters/log.hpp"
#include "protocols/json.hpp"

#include <openssl/crypto.h>

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
  std::size_t remaining = 0;
  std::function<void(std::vector<ingest_result>&)> done;
};

using submission_ptr = std::shared_ptr<submission>;

} // namespace
} // namespace gavel::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(gavel::actors::submission_ptr)

namespace gavel::actors {

namespace {

/// A GATEWAY actor: turns a submission into ingest requests and completes it
/// when every event has its answer (a timeout answers 503).
caf::behavior gateway(caf::event_based_actor* self, registry_actor registry,
                      std::chrono::milliseconds timeout) {
  return {
      [=](atom::submit, submission_ptr& sub) {
        sub->remaining = sub->events.size();
        for (std::size_t i = 0; i < sub->events.size(); ++i) {
          auto slot = sub->slots[i];
          auto id = sub->events[i].event_id();
          self->request(registry, timeout, atom::ingest_v, std::move(sub->events[i]))
              .then(
                  [sub, slot](ingest_result& r) {
                    sub->results[slot] = std::move(r);
                    if (--sub->remaining == 0)
                      sub->done(sub->results);
                  },
                  [sub, slot, id](caf::error&) {
                    auto& r = sub->results[slot];
                    r.st = ingest_result::status::rejected;
                    r.event_id = id;
                    r.http_status = 503;
                    r.error_message = "cannot make the event durable now; retry";
                    if (--sub->remaining == 0)
                      sub->done(sub->results);
                  });
        }
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
  if (!field.empty()) {
    out += R"(,"field":)";
    json::dump_string(field, out);
  }
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
    if (!r.error_field.empty()) {
      out += R"(,"field":)";
      json::dump_string(r.error_field, out);
    }
    out += R"(,"message":)";
    json::dump_string(r.error_message, out);
    out += "}}";
  }
}

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
      in_flight_(std::make_shared<std::atomic<std::size_t>>(0)) {}

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
  store_ = sys_.spawn<caf::detached>(store, db, ss, db_healthy_);
  loader_ = sys_.spawn<caf::detached>(reader, db);
  reader_ = sys_.spawn<caf::detached>(reader, db);
  for (const auto& d : cfg_.destinations) {
    std::shared_ptr<sender> out;
    if (d.kind == "webhook")
      out = make_webhook_sender(io_, d);
    if (!out)
      return protocols::error{"config", "destination",
                              "destination " + d.name + ": kind " + d.kind +
                                  " is not available"};
    destinations_.push_back(
        sys_.spawn(destination, make_destination_settings(d), out, store_, reader_));
  }
  auction_deps deps;
  deps.store = store_;
  deps.reader = loader_;
  deps.settings.heartbeat_interval = cfg_.auction.heartbeat_interval;
  deps.settings.final_heartbeat_interval = cfg_.auction.final_heartbeat_interval;
  deps.settings.final_window = cfg_.auction.final_window;
  deps.settings.idle_timeout = cfg_.auction.idle_timeout;
  deps.clock = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  registry_ = sys_.spawn(registry, std::move(deps));
  for (int i = 0; i < 2; ++i)
    gateways_.push_back(sys_.spawn(gateway, registry_, cfg_.server.request_timeout));
  return adapters::done{};
}

void service::stop() {
  if (!registry_)
    return;
  for (auto& g : gateways_)
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
  for (auto& d : destinations_)
    caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(loader_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(reader_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store_, caf::exit_reason::user_shutdown);
  gateways_.clear();
  destinations_.clear();
  registry_ = nullptr;
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
    bool ok = db_healthy_->load() && registry_ != nullptr;
    return respond(
        json_response(ok ? 200 : 503, ok ? R"({"status":"ready"})"
                                         : R"({"status":"database unreachable"})"));
  }
  if (path == "/v1/pipeline")
    return pipeline(std::move(respond));
  respond(json_response(404, error_body(404, "not_found", "", "no such route")));
}

void service::ingest(http_request&& req, http_responder respond) {
  if (!token_ok(cfg_.ingest.tokens, req.header("Authorization"))) {
    auto r = json_response(
        401, error_body(401, "unauthorized", "", "missing or bad bearer token"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
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
    if (!batch) {
      const auto& r = results.front();
      if (r.st == ingest_result::status::rejected) {
        auto code = r.http_status == 409   ? "closed"
                    : r.http_status == 422 ? "schema"
                                           : "unavailable";
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
  auto before = in_flight_->fetch_add(n);
  if (before + n > cfg_.server.max_in_flight) {
    in_flight_->fetch_sub(n);
    return respond(unavailable_response(
        error_body(503, "overloaded", "", "too many events in flight; retry")));
  }
  auto counter = in_flight_;
  sub->done = [counter, n, finish](std::vector<ingest_result>& results) {
    counter->fetch_sub(n);
    finish(results);
  };
  auto& g = gateways_[next_gateway_.fetch_add(1) % gateways_.size()];
  caf::anon_send(g, atom::submit_v, std::move(sub));
}

void service::pipeline(http_responder respond) {
  // Ask every destination and the registry, answer when all replied.
  struct gather {
    std::vector<destination_status> dests;
    std::uint64_t auctions = 0;
    std::size_t remaining = 0;
    http_responder respond;
    bool db = false;
  };
  auto g = std::make_shared<gather>();
  g->respond = std::move(respond);
  g->db = db_healthy_->load();
  g->dests.resize(destinations_.size());
  g->remaining = destinations_.size() + 1;
  auto finish = [g] {
    std::string out = R"({"database":)";
    out += g->db ? "\"ok\"" : "\"unreachable\"";
    out +=
        R"(,"active_auctions":)" + std::to_string(g->auctions) + R"(,"destinations":[)";
    for (std::size_t i = 0; i < g->dests.size(); ++i) {
      const auto& d = g->dests[i];
      if (i > 0)
        out += ',';
      out += R"({"name":)";
      json::dump_string(d.name, out);
      out += R"(,"kind":)";
      json::dump_string(d.kind, out);
      out += R"(,"state":)";
      json::dump_string(d.state, out);
      out += R"(,"delivered_through":)" + std::to_string(d.delivered_through);
      out += R"(,"loaded_through":)" + std::to_string(d.loaded_through);
      out += R"(,"delivered":)" + std::to_string(d.delivered);
      out += R"(,"retries":)" + std::to_string(d.retries);
      out += R"(,"in_memory":)" + std::to_string(d.in_memory);
      out += R"(,"last_error":)";
      json::dump_string(d.last_error, out);
      out += "}";
    }
    out += "]}";
    g->respond(json_response(200, std::move(out)));
  };
  sys_.spawn([this, g, finish](caf::event_based_actor* self) {
    for (std::size_t i = 0; i < destinations_.size(); ++i)
      self->request(destinations_[i], std::chrono::seconds{5}, atom::status_v)
          .then(
              [g, i, finish](destination_status& s) {
                g->dests[i] = std::move(s);
                if (--g->remaining == 0)
                  finish();
              },
              [g, finish](caf::error&) {
                if (--g->remaining == 0)
                  finish();
              });
    self->request(registry_, std::chrono::seconds{5}, atom::status_v)
        .then(
            [g, finish](std::uint64_t n) {
              g->auctions = n;
              if (--g->remaining == 0)
                finish();
            },
            [g, finish](caf::error&) {
              if (--g->remaining == 0)
                finish();
            });
  });
}

} // namespace gavel::actors
