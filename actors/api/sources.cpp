#include "actors/api/sources.hpp"

#include "actors/api/responses.hpp"
#include "protocols/time.hpp"

#include <nlohmann/json.hpp>

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using ojson = nlohmann::ordered_json;

ojson source_json(const source_registry::entry& e) {
  ojson j;
  j["name"] = e.name;
  j["kind"] = to_string(e.kind);
  bool on = e.enabled.load();
  j["state"] = on ? "enabled" : "disabled";
  j["enabled"] = on;
  j["default_enabled"] = e.file_default;
  j["accepted"] = e.accepted.load();
  j["duplicate"] = e.duplicate.load();
  j["rejected"] = e.rejected.load();
  auto last = e.last_event_ms.load();
  j["last_event_at"] =
      last > 0 ? ojson(protocols::format_iso8601_ms(last)) : ojson(nullptr);
  if (e.kind != protocols::source_kind::http) {
    auto rows = e.inbox_rows.load();
    auto oldest = e.inbox_oldest_ms.load();
    j["depth"] = rows < 0 ? ojson(nullptr) : ojson(rows);
    j["oldest_age_seconds"] = rows < 0     ? ojson(nullptr)
                              : oldest < 0 ? ojson(0)
                                           : ojson(static_cast<double>(oldest) / 1000);
  }
  return j;
}

} // namespace

sources_api::sources_api(caf::actor_system& sys,
                         std::shared_ptr<source_registry> registry, sources_actor flags)
    : sys_(sys), registry_(std::move(registry)), flags_(std::move(flags)) {}

void sources_api::list(http_responder respond) {
  ojson list = ojson::array();
  for (const auto& e : registry_->all())
    list.push_back(source_json(*e));
  ojson body;
  body["sources"] = std::move(list);
  respond(json_response(200, dump_json(body)));
}

void sources_api::control(http_request&& req, const caller& who, http_responder respond) {
  // /v1/sources/<name>/<enable|disable>
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  path.remove_prefix(std::string_view{"/v1/sources/"}.size());
  auto slash = path.find('/');
  if (slash == std::string_view::npos)
    return respond(error_response(404, "not_found", "",
                                  "use POST /v1/sources/<name>/enable or /disable"));
  auto name = path.substr(0, slash);
  auto action = path.substr(slash + 1);
  if (action != "enable" && action != "disable")
    return respond(error_response(404, "not_found", "",
                                  "use POST /v1/sources/<name>/enable or /disable"));
  if (!registry_->find(name))
    return respond(error_response(404, "unknown_source", "",
                                  "no source named \"" + std::string{name} + "\""));
  bool enable = action == "enable";
  sys_.spawn([flags = flags_, registry = registry_, name = std::string{name}, enable,
              by = who.token ? who.token->name : std::string{},
              respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(flags, std::chrono::seconds{10}, atom::set_flag_v, name, enable, by)
        .then(
            [respond, registry](protocols::source_flag& f) {
              ojson body = source_json(*registry->find(f.name));
              body["changed_at"] = protocols::format_iso8601_ms(f.changed_ms);
              body["changed_by"] = f.changed_by;
              respond(json_response(200, dump_json(body)));
            },
            [respond](caf::error& err) {
              // Not persisted, so not flipped: the operator tries again.
              respond(unavailable_response(error_body(
                  503, "unavailable", "",
                  "the flag could not be stored (database: " + caf::to_string(err) +
                      "); it is unchanged")));
            });
  });
}

} // namespace gavel::actors::api
