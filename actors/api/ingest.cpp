#include "actors/api/ingest.hpp"

#include "actors/api/gateway.hpp"
#include "actors/api/responses.hpp"
#include "adapters/metrics.hpp"
#include "protocols/json.hpp"
#include "protocols/time.hpp"

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
using protocols::ingest_error;
namespace json = protocols::json;

/// 503 for a request shed at admission (ADR 0014); the code stays
/// `overloaded` for producers, the message says which bound it hit. The two
/// bodies never change, so they are built once: under overload these answers
/// are the hot path.
http_response shed_response(protocols::shed_reason r) {
  constexpr http_error e = to_http(ingest_error::overloaded);
  static const std::string late = error_body(
      e.status, e.code, "", "gavel is at capacity (the answer would be late); retry");
  static const std::string full =
      error_body(e.status, e.code, "", "too many events in flight; retry");
  return unavailable_response(r == protocols::shed_reason::queue_delay ? late : full);
}

// The answers to accepted events are the hot path of the whole service: they
// are written straight into the body with the protocols' JSON string writer
// instead of through a document object.
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
  case ingest_result::status::rejected: {
    auto [status, code] = to_http(r.error);
    out += R"(,"status":"rejected","error":{"status":)" + std::to_string(status);
    out += R"(,"code":)";
    json::dump_string(code, out);
    if (!r.error_field.empty()) {
      out += R"(,"field":)";
      json::dump_string(r.error_field, out);
    }
    out += R"(,"message":)";
    json::dump_string(r.error_message, out);
    out += "}}";
  }
  }
}

/// Ingest series, looked up once.
struct ingest_metrics {
  static constexpr int codes[] = {200, 202, 400, 401, 403, 405, 409, 413, 422, 503};
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

  adapters::metrics::counter& rejected(ingest_error e) {
    switch (e) {
    case ingest_error::event_id_conflict:
      return conflict;
    case ingest_error::closed:
      return closed;
    case ingest_error::unavailable:
    case ingest_error::shutting_down:
    case ingest_error::source_disabled:
      return unavailable;
    case ingest_error::overloaded:
      return overloaded;
    case ingest_error::none:
    case ingest_error::invalid:
      break;
    }
    return invalid;
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
        rejected(r.error).inc();
      }
  }
};

/// The answer to a request once every event has its result.
http_response answer(bool batch, const std::vector<ingest_result>& results) {
  if (!batch) {
    const auto& r = results.front();
    if (r.st == ingest_result::status::rejected) {
      auto [status, code] = to_http(r.error);
      auto text = error_body(status, code, r.error_field, r.error_message);
      return status == 503 ? unavailable_response(std::move(text))
                           : json_response(status, std::move(text));
    }
    std::string out;
    append_result(out, r);
    return json_response(202, std::move(out));
  }
  std::string out = R"({"results":[)";
  bool any_unavailable = false;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i > 0)
      out += ',';
    append_result(out, results[i]);
    any_unavailable |= results[i].st == ingest_result::status::rejected &&
                       to_http(results[i].error).status == 503;
  }
  out += "]}";
  // The accepted items are durable; a retry of the whole batch is safe
  // (idempotent), so an unavailable item makes the whole answer 503.
  return any_unavailable ? unavailable_response(std::move(out))
                         : json_response(200, std::move(out));
}

} // namespace

ingest_endpoint::ingest_endpoint(const adapters::config& cfg,
                                 std::shared_ptr<admission_gate> admission,
                                 std::vector<gateway_actor> gateways,
                                 std::shared_ptr<source_registry> sources)
    : cfg_(cfg), admission_(std::move(admission)), gateways_(std::move(gateways)),
      sources_(std::move(sources)) {}

void ingest_endpoint::register_metrics() {
  ingest_metrics::get();
}

http_responder ingest_endpoint::metered(http_responder plain_respond) {
  // Every answer is counted by code and timed (the acknowledgement latency).
  auto started = std::chrono::steady_clock::now();
  return [plain_respond = std::move(plain_respond), started](http_response r) {
    auto& m = ingest_metrics::get();
    m.count_request(r.status);
    m.duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
            .count());
    plain_respond(std::move(r));
  };
}

void ingest_endpoint::handle(http_request&& req, const caller& who,
                             http_responder respond) {
  const auto arrived = std::chrono::steady_clock::now();
  // The source the events belong to (DESIGN §1.7); the router has checked
  // that the token has some ingest scope, this checks it covers the source.
  auto source = protocols::resolve_source(adapters::query_param(req.target, "source"),
                                          who.token->scopes, sources_->http_names());
  if (!source) {
    const auto& e = source.err();
    int status = e.code == "forbidden" ? 403 : 400;
    return respond(error_response(status, e.code, e.field, e.message));
  }
  auto* src = sources_->find(*source);
  if (draining_) {
    auto [status, code] = to_http(ingest_error::shutting_down);
    auto r = unavailable_response(
        error_body(status, code, "", "gavel is shutting down; retry"));
    r.headers.emplace_back("Connection", "close");
    return respond(std::move(r));
  }
  // A flag an operator turned off must hold from the first request after a
  // restart: until the persisted flags are read, nothing is taken.
  if (!sources_->flags_known())
    return respond(unavailable_response(error_body(
        503, "unavailable", "", "source flags not read from the database yet; retry")));
  if (!src->enabled.load()) {
    auto [status, code] = to_http(ingest_error::source_disabled);
    return respond(unavailable_response(
        error_body(status, code, "source",
                   "source \"" + src->name + "\" is disabled; retry later")));
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
    src->rejected.fetch_add(1);
    source_rejected_counter(src->name, e.code).inc();
    return respond(
        error_response(parse_error_status(e.code), e.code, e.field, e.message));
  }
  auto sub = make_submission(*body);
  const bool batch = body->is_batch;
  auto finish = [batch, respond, src, sources = sources_,
                 arrived](std::vector<ingest_result>& results) {
    ingest_metrics::get().count_results(results);
    auto propagation = std::chrono::steady_clock::now() - arrived;
    auto now_ms = protocols::unix_now_ms();
    for (const auto& r : results)
      sources->count(*src, r.error, r.st == ingest_result::status::duplicate,
                     to_http(r.error).code, propagation, now_ms);
    respond(answer(batch, results));
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

} // namespace gavel::actors::api
