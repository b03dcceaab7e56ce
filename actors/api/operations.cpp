#include "actors/api/operations.hpp"

#include "actors/api/responses.hpp"
#include "adapters/metrics.hpp"
#include "protocols/json.hpp"
#include "protocols/time.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
using ojson = nlohmann::ordered_json;

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || x < 0)
    return std::nullopt;
  return x;
}

ojson dead_letter_json(const protocols::dead_letter& d, std::string envelope,
                       std::string reason) {
  ojson j;
  j["destination"] = d.destination;
  j["position"] = d.position;
  j["auction_id"] = d.auction_id;
  j["event_id"] = d.event_id;
  j["event_type"] = protocols::to_string(d.type);
  j["bid_sequence"] = d.bid_sequence;
  j["status"] = protocols::to_string(d.status);
  j["reason"] = std::move(reason);
  j["attempts"] = d.attempts;
  j["http_status"] = d.http_status;
  j["created_at"] = protocols::format_iso8601_ms(d.created_ms);
  // The exact bytes that were (and will be) sent, as the caller may see them.
  j["envelope"] = std::move(envelope);
  return j;
}

http_response accepted() {
  return json_response(202, R"({"status":"accepted"})");
}

} // namespace

operations_api::operations_api(const adapters::config& cfg, operations_targets targets,
                               const disclosure& disclose)
    : cfg_(cfg), t_(std::move(targets)), disclose_(disclose) {}

std::optional<std::size_t> operations_api::find_destination(std::string_view name) const {
  for (std::size_t i = 0; i < cfg_.destinations.size(); ++i)
    if (cfg_.destinations[i].name == name)
      return i;
  return std::nullopt;
}

void operations_api::healthz(http_responder respond) {
  respond(json_response(200, R"({"status":"ok"})"));
}

void operations_api::readyz(http_responder respond) {
  // The embedded cluster's supervisor knows of a dead server before the
  // store's next commit fails.
  const auto& h = *t_.health;
  auto status = h.database ? h.database() : adapters::database_status{};
  bool server = !h.database || status.state == "running";
  bool db = server && h.db_healthy->load();
  bool core = t_.core_up->load();
  // Until the persisted source flags are read, ingest refuses everything.
  bool flags = !t_.sources || t_.sources->flags_known();
  // A full or read-only disk outlasts the restarts it may cause (a PANIC on
  // a WAL write) and needs someone to free space: it is told first.
  bool storage_ok = !storage_state(h.storage.get(), status,
                                   h.clock ? h.clock() : protocols::unix_now_ms())
                         .failing;
  ojson body;
  body["status"] = !storage_ok ? "database storage refusing writes"
                   : !server   ? "database restarting"
                   : !db       ? "database unreachable"
                   : !core     ? "core restarting or failed"
                   : !flags    ? "source flags not read yet"
                               : "ready";
  respond(json_response(storage_ok && db && core && flags ? 200 : 503, dump_json(body)));
}

void operations_api::pipeline(http_responder respond) {
  gather_health(*t_.sys, t_.health,
                [respond = std::move(respond)](pipeline_snapshot& snap) {
                  export_health_metrics(snap);
                  respond(json_response(200, pipeline_json(snap)));
                });
}

void operations_api::metrics(http_responder respond) {
  // Lag and state gauges are computed at scrape time from the destinations'
  // own reports and the outbox, then the whole registry is rendered.
  gather_health(*t_.sys, t_.health,
                [respond = std::move(respond)](pipeline_snapshot& snap) {
                  export_health_metrics(snap);
                  http_response r;
                  r.status = 200;
                  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                  r.body = adapters::metrics::global().render();
                  respond(std::move(r));
                });
}

void operations_api::dead_letters(http_request&& req, const caller& who,
                                  http_responder respond) {
  auto dest = adapters::query_param(req.target, "destination");
  if (!dest.empty() && !find_destination(dest))
    return respond(
        error_response(404, "not_found", "destination", "no such destination"));
  auto auction = to_int(adapters::query_param(req.target, "auction_id")).value_or(0);
  auto after = to_int(adapters::query_param(req.target, "after")).value_or(0);
  auto after_dest = adapters::query_param(req.target, "after_destination");
  auto limit = std::clamp<std::int64_t>(
      to_int(adapters::query_param(req.target, "limit")).value_or(100), 1, 1000);
  t_.sys->spawn([reader = t_.reader, dest, auction, after, limit, after_dest, who,
                 disclose = &disclose_, req = std::move(req),
                 respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(reader, std::chrono::seconds{10}, atom::dead_list_v, dest, auction,
                  after, static_cast<std::uint64_t>(limit), after_dest)
        .then(
            [respond, limit, who, disclose,
             req](std::vector<protocols::dead_letter>& rows) {
              ojson list = ojson::array();
              for (const auto& d : rows) {
                std::string_view stored = d.envelope ? *d.envelope : std::string_view{};
                list.push_back(dead_letter_json(d, disclose->envelope(who, stored),
                                                disclose->text(who, d.reason, stored)));
              }
              ojson body;
              body["dead_letters"] = std::move(list);
              // Keyset pagination in (position, destination) order: pass
              // both back as `after` and `after_destination` to continue;
              // null when this was the last page.
              if (static_cast<std::int64_t>(rows.size()) == limit) {
                body["next_after"] = rows.back().position;
                body["next_after_destination"] = rows.back().destination;
              } else {
                body["next_after"] = nullptr;
                body["next_after_destination"] = nullptr;
              }
              disclose->answer(who, req, rows.size(), json_response(200, dump_json(body)),
                               respond);
            },
            [respond](caf::error& err) {
              respond(unavailable_response(error_body(
                  503, "unavailable", "", "database: " + caf::to_string(err))));
            });
  });
}

void operations_api::redrive(http_request&& req, http_responder respond) {
  auto bad = [&](int status, std::string_view code, std::string_view field,
                 std::string_view message) {
    respond(error_response(status, code, field, message));
  };
  namespace json = protocols::json;
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
  auto target = t_.health->destinations[*index];
  auto name = d->text;
  t_.sys->spawn([target, auction, name,
                 respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(target, std::chrono::seconds{10}, atom::redrive_v, auction)
        .then(
            [respond, name, auction](std::uint64_t n) {
              ojson out;
              out["destination"] = name;
              if (auction != 0)
                out["auction_id"] = auction;
              out["auctions_redriven"] = n;
              respond(json_response(202, dump_json(out)));
            },
            [respond](caf::error& err) {
              respond(unavailable_response(
                  error_body(503, "unavailable", "", caf::to_string(err))));
            });
  });
}

void operations_api::audit(http_request&& req, http_responder respond) {
  // Bad parameters are refused, naming them, rather than read as defaults:
  // a caller paging the audit log must not silently get another page.
  std::int64_t before = 0;
  if (auto text = adapters::query_param(req.target, "after"); !text.empty()) {
    auto x = to_int(text);
    if (!x || *x == 0)
      return respond(error_response(400, "bad_parameter", "after",
                                    "after: expected the `next` of an earlier page"));
    before = *x;
  }
  std::int64_t limit = 100;
  if (auto text = adapters::query_param(req.target, "limit"); !text.empty()) {
    auto x = to_int(text);
    if (!x || *x < 1 || *x > 1000)
      return respond(error_response(400, "bad_parameter", "limit",
                                    "limit: expected an integer from 1 to 1000"));
    limit = *x;
  }
  t_.sys->spawn([reader = t_.reader, before, limit,
                 respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(reader, std::chrono::seconds{10}, atom::audit_list_v, before,
                  static_cast<std::uint64_t>(limit))
        .then(
            [respond, limit](std::vector<protocols::audit_record>& rows) {
              ojson list = ojson::array();
              for (const auto& a : rows) {
                ojson j;
                j["id"] = a.id;
                j["token"] = a.token;
                j["at"] = protocols::format_iso8601_ms(a.at_ms);
                j["route"] = a.route;
                j["query"] = a.query;
                j["records"] = a.records;
                list.push_back(std::move(j));
              }
              ojson body;
              body["audit"] = std::move(list);
              // Newest first; `next` (opaque) continues with older records.
              if (static_cast<std::int64_t>(rows.size()) == limit)
                body["next"] = std::to_string(rows.back().id);
              else
                body["next"] = nullptr;
              respond(json_response(200, dump_json(body)));
            },
            [respond](caf::error& err) {
              respond(unavailable_response(error_body(
                  503, "unavailable", "", "database: " + caf::to_string(err))));
            });
  });
}

void operations_api::control(http_request&& req, http_responder respond) {
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  auto bad = [&](int status, std::string_view code, std::string_view message) {
    respond(error_response(status, code, "", message));
  };
  constexpr std::string_view fault_injection_off =
      "fault injection is disabled (server.fault_injection)";

  // /v1/components/core/<action>: the store and registry, as one unit.
  if (constexpr std::string_view prefix = "/v1/components/"; path.starts_with(prefix)) {
    auto rest = path.substr(prefix.size());
    bool crash_store = rest == "store/crash", crash_registry = rest == "registry/crash";
    if (!crash_store && !crash_registry && rest != "core/restart")
      return bad(404, "not_found", "no such route");
    if (rest == "core/restart") {
      caf::anon_send(t_.health->core, atom::restart_v);
    } else {
      if (!cfg_.server.fault_injection)
        return bad(404, "not_found", fault_injection_off);
      caf::anon_send(t_.health->core, atom::crash_v,
                     std::string{crash_store ? "store" : "registry"});
    }
    return respond(accepted());
  }

  // /v1/destinations/<name>/<action>
  auto rest = path.substr(std::string_view{"/v1/destinations/"}.size());
  auto slash = rest.find('/');
  auto name = rest.substr(0, slash);
  auto action =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  auto index = find_destination(name);
  if (!index || (action != "restart" && action != "crash"))
    return bad(404, "not_found", "no such route");
  const auto& target = t_.health->destinations[*index];
  if (action == "crash") {
    if (!cfg_.server.fault_injection)
      return bad(404, "not_found", fault_injection_off);
    caf::anon_send(target, atom::crash_v);
  } else {
    caf::anon_send(target, atom::restart_v);
  }
  respond(accepted());
}

} // namespace gavel::actors::api
