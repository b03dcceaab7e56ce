#include "actors/api/backfill.hpp"

#include "actors/api/responses.hpp"
#include "protocols/time.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using ojson = nlohmann::ordered_json;

constexpr std::string_view prefix = "/v1/backfills/";

ojson job_json(const protocols::backfill_job& j) {
  ojson o;
  o["job"] = j.job;
  o["source"] = j.source;
  o["state"] = j.done() ? "done" : "running";
  o["run"] = j.run;
  o["file_size"] = j.file_size;
  o["offset"] = j.offset;
  o["records_processed"] = j.records;
  o["percent_complete"] = std::round(j.percent_complete() * 100) / 100;
  o["accepted"] = j.accepted;
  o["duplicate"] = j.duplicate;
  ojson rejected = ojson::object();
  for (const auto& [code, n] : j.rejected)
    rejected[code] = n;
  o["rejected"] = std::move(rejected);
  o["started_at"] = protocols::format_iso8601_ms(j.started_ms);
  o["updated_at"] = protocols::format_iso8601_ms(j.updated_ms);
  o["finished_at"] =
      j.done() ? ojson(protocols::format_iso8601_ms(j.finished_ms)) : ojson(nullptr);
  return o;
}

void answer_error(const backfill_answer& a, const http_responder& respond) {
  if (a.error == "conflict")
    return respond(error_response(409, "conflict", "job", a.message));
  if (a.error == "not_found")
    return respond(error_response(404, "not_found", "job", a.message));
  return respond(unavailable_response(
      error_body(503, "unavailable", "", "backfill job not stored: " + a.message)));
}

std::optional<std::int64_t> int_param(std::string_view target, std::string_view name) {
  auto text = adapters::query_param(target, name);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || v < 0)
    return std::nullopt;
  return v;
}

/// `<job>` and what follows it in `/v1/backfills/<job>[/rest]`.
std::pair<std::string, std::string> split_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  path.remove_prefix(std::min(path.size(), prefix.size()));
  auto slash = path.find('/');
  if (slash == std::string_view::npos)
    return {std::string{path}, {}};
  return {std::string{path.substr(0, slash)}, std::string{path.substr(slash + 1)}};
}

/// `code:n,code:n`: records the client could not read into events.
std::optional<protocols::rejected_counts> local_rejected(std::string_view text) {
  protocols::rejected_counts out;
  while (!text.empty()) {
    auto item = text.substr(0, text.find(','));
    text.remove_prefix(std::min(text.size(), item.size() + 1));
    auto colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return std::nullopt;
    auto digits = item.substr(colon + 1);
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || p != digits.data() + digits.size() || n < 0)
      return std::nullopt;
    out.emplace_back(std::string{item.substr(0, colon)}, n);
  }
  return out;
}

/// 503 `overloaded` for a batch that found no spare capacity; the client
/// tries again shortly (the body never changes, so it is built once).
adapters::http_response no_spare_capacity() {
  static const std::string body = error_body(
      503, "overloaded", "", "live traffic first: no spare capacity now; retry");
  return unavailable_response(body);
}

bool must_retry(const ingest_result& r) {
  return r.st == ingest_result::status::rejected && to_http(r.error).status == 503;
}

} // namespace

backfill_api::backfill_api(const adapters::config& cfg, caf::actor_system& sys,
                           std::shared_ptr<admission_gate> admission,
                           std::vector<gateway_actor> gateways,
                           std::shared_ptr<source_registry> sources, backfills_actor jobs)
    : cfg_(cfg), sys_(sys), admission_(std::move(admission)),
      gateways_(std::move(gateways)), sources_(std::move(sources)),
      jobs_(std::move(jobs)) {}

protocols::expected<std::string> backfill_api::source_of(std::string_view name) const {
  // History may belong to any configured source (an inbox's included); the
  // admin scope the route needs covers every one.
  if (name.empty())
    name = "default";
  if (!sources_->find(name))
    return protocols::error{"unknown_source", "source",
                            "no source named \"" + std::string{name} + "\""};
  return std::string{name};
}

void backfill_api::post(http_request&& req, const caller& who, http_responder respond) {
  auto [job, rest] = split_path(req.target);
  if (!protocols::valid_job_name(job))
    return respond(
        error_response(400, "job", "job", "a job name is 1 to 64 of A-Z a-z 0-9 . _ -"));
  if (rest.empty())
    return begin(job, std::move(req), who, std::move(respond));
  if (rest == "events")
    return events(job, std::move(req), who, std::move(respond));
  respond(error_response(404, "not_found", "",
                         "use POST /v1/backfills/<job> or /v1/backfills/<job>/events"));
}

void backfill_api::begin(const std::string& job, http_request&& req, const caller& who,
                         http_responder respond) {
  auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body["file_size"].is_number_integer() ||
      !body["file_print"].is_string() ||
      (body.contains("source") && !body["source"].is_string()))
    return respond(error_response(
        400, "json", "",
        R"(expected {"source": "<name>", "file_size": <bytes>, "file_print": "<hex>"})"));
  auto source = source_of(body.value("source", std::string{}));
  if (!source)
    return respond(
        error_response(400, source.err().code, "source", source.err().message));
  auto size = body["file_size"].get<std::int64_t>();
  auto print = body["file_print"].get<std::string>();
  if (size < 0 || print.empty() || print.size() > 128)
    return respond(
        error_response(400, "json", "file_size",
                       "file_size must be >= 0 and file_print a short hex text"));
  sys_.spawn([jobs = jobs_, job, src = *source, size, print,
              respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(jobs, std::chrono::seconds{30}, atom::begin_v, job, src, size, print)
        .then(
            [respond](backfill_answer& a) {
              if (!a.error.empty())
                return answer_error(a, respond);
              respond(json_response(200, dump_json(job_json(a.job))));
            },
            [respond](caf::error& err) {
              respond(unavailable_response(
                  error_body(503, "unavailable", "",
                             "backfill job not read: " + caf::to_string(err))));
            });
  });
}

void backfill_api::events(const std::string& job, http_request&& req, const caller& who,
                          http_responder respond) {
  auto source = source_of(adapters::query_param(req.target, "source"));
  if (!source)
    return respond(
        error_response(400, source.err().code, "source", source.err().message));
  auto run = int_param(req.target, "run");
  auto checkpoint = int_param(req.target, "checkpoint");
  auto records = int_param(req.target, "checkpoint_records");
  if (!run || !checkpoint || !records)
    return respond(error_response(
        400, "query", "",
        "run (from POST /v1/backfills/<job>), checkpoint (bytes of the file stored) and "
        "checkpoint_records (records in them) are required"));
  const auto arrived = std::chrono::steady_clock::now();
  auto* src = sources_->find(*source);
  if (draining_)
    return respond(unavailable_response(
        error_body(503, "shutting_down", "", "gavel is shutting down; retry")));
  if (!sources_->flags_known() || !src->enabled.load())
    return respond(unavailable_response(error_body(
        503, "source_disabled", "source",
        "source \"" + src->name + "\" is not taking events now; retry later")));
  if (!req.body.empty() && admission_->check_spare() != protocols::shed_reason::none)
    return respond(no_spare_capacity());
  protocols::validation_limits limits;
  limits.max_batch = cfg_.ingest.max_batch;
  limits.max_depth = cfg_.ingest.max_depth;
  // An empty body: a stretch of the file whose records the client could not
  // read (counted in `local_rejected`), the checkpoint moves past it.
  protocols::ingest_body empty;
  auto body = req.body.empty()
                  ? protocols::expected<protocols::ingest_body>{std::move(empty)}
                  : protocols::parse_ingest_body(req.body, limits);
  if (!body) {
    const auto& e = body.err();
    return respond(
        error_response(parse_error_status(e.code), e.code, e.field, e.message));
  }
  auto local = local_rejected(adapters::query_param(req.target, "local_rejected"));
  if (!local)
    return respond(error_response(400, "query", "local_rejected",
                                  "expected code:count pairs separated by commas"));
  auto sub = make_submission(*body, true);
  protocols::backfill_step step;
  step.job = job;
  step.source = *source;
  step.run = *run;
  step.offset = *checkpoint;
  step.records = *records;
  // Once every event has its answer: a batch with anything to retry is
  // answered 503 as a whole (what was stored is a duplicate next time), and
  // the checkpoint moves only past a batch that is done.
  auto finish = [sys = &sys_, jobs = jobs_, step, src, sources = sources_, arrived,
                 local = std::move(*local),
                 respond](std::vector<ingest_result>& results) mutable {
    ojson refused = ojson::array();
    std::map<std::string, std::int64_t> by_code(local.begin(), local.end());
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (must_retry(r)) {
        return respond(unavailable_response(
            error_body(503, to_http(r.error).code, "",
                       "part of the batch could not be stored now (" + r.error_message +
                           "); send it again")));
      }
      sources->count(*src, r.error, r.st == ingest_result::status::duplicate,
                     to_http(r.error).code, std::chrono::steady_clock::now() - arrived,
                     protocols::unix_now_ms());
      switch (r.st) {
      case ingest_result::status::accepted:
        ++step.accepted;
        break;
      case ingest_result::status::duplicate:
        ++step.duplicate;
        break;
      case ingest_result::status::rejected: {
        auto code = std::string{to_http(r.error).code};
        ++by_code[code];
        ojson e;
        e["index"] = i;
        e["event_id"] = r.event_id;
        e["code"] = code;
        e["field"] = r.error_field;
        e["message"] = r.error_message;
        refused.push_back(std::move(e));
      }
      }
    }
    step.rejected.assign(by_code.begin(), by_code.end());
    sys->spawn([jobs, step = std::move(step), refused = std::move(refused),
                respond](caf::event_based_actor* self) mutable {
      self->request(jobs, std::chrono::seconds{30}, atom::checkpoint_v, step)
          .then(
              [respond, step, refused](backfill_answer& a) {
                if (!a.error.empty())
                  return answer_error(a, respond);
                ojson body;
                body["accepted"] = step.accepted;
                body["duplicate"] = step.duplicate;
                body["rejected"] = refused;
                body["job"] = job_json(a.job);
                respond(json_response(200, dump_json(body)));
              },
              [respond](caf::error& err) {
                respond(unavailable_response(
                    error_body(503, "unavailable", "",
                               "the batch is stored but its checkpoint is not (" +
                                   caf::to_string(err) + "); send it again")));
              });
    });
  };
  if (sub->events.empty()) {
    finish(sub->results);
    return;
  }
  auto n = sub->events.size();
  if (admission_->acquire_spare(n) != protocols::shed_reason::none)
    return respond(no_spare_capacity());
  sub->done = [gate = admission_, n,
               finish = std::move(finish)](std::vector<ingest_result>& results) mutable {
    gate->release_spare(n);
    finish(results);
  };
  auto& g = gateways_[next_gateway_.fetch_add(1) % gateways_.size()];
  caf::anon_send(g, atom::submit_v, std::move(sub));
}

void backfill_api::get(http_request&& req, http_responder respond) {
  auto [job, rest] = split_path(req.target);
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  const bool one = path.size() > prefix.size() - 1;
  sys_.spawn([jobs = jobs_, job = std::move(job), one,
              respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(jobs, std::chrono::seconds{30}, atom::jobs_v)
        .then(
            [respond, job, one](std::vector<protocols::backfill_job>& all) {
              if (!one) {
                ojson list = ojson::array();
                for (const auto& j : all)
                  list.push_back(job_json(j));
                ojson body;
                body["backfills"] = std::move(list);
                return respond(json_response(200, dump_json(body)));
              }
              for (const auto& j : all)
                if (j.job == job)
                  return respond(json_response(200, dump_json(job_json(j))));
              respond(error_response(404, "not_found", "job",
                                     "no backfill job \"" + job + "\""));
            },
            [respond](caf::error& err) {
              respond(unavailable_response(
                  error_body(503, "unavailable", "",
                             "backfill jobs not read: " + caf::to_string(err))));
            });
  });
}

} // namespace gavel::actors::api
