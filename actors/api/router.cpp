#include "actors/api/router.hpp"

#include "actors/api/responses.hpp"

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using protocols::scope;

bool matches(std::string_view row, std::string_view path) {
  return row.ends_with('/') ? path.starts_with(row) && path.size() > row.size()
                            : path == row;
}

} // namespace

router::router(const adapters::config& cfg, std::shared_ptr<admission_gate> admission,
               std::vector<gateway_actor> gateways, operations_targets operations)
    : tokens_(cfg), disclose_(*operations.sys, operations.reader, cfg.pii.fields),
      ingest_(cfg, admission, gateways, operations.sources),
      operations_(cfg, operations, disclose_),
      pull_(operations.sys, operations.pull, disclose_),
      sources_(*operations.sys, operations.sources, operations.source_flags),
      backfill_(cfg, *operations.sys, std::move(admission), std::move(gateways),
                operations.sources, operations.backfills) {}

std::span<const router::route> router::routes() {
  // Scopes exactly as DESIGN §1.9: health, readiness and metrics are open
  // (bind them to a private address in production); reads of state need
  // `read` (or `admin`); dead letters, control and the audit log `admin`.
  static const route table[] = {
      {"POST", "/v1/events", scope::ingest,
       [](router& r, http_request&& req, const caller& who, http_responder respond) {
         r.ingest_.handle(std::move(req), who, std::move(respond));
       }},
      {"GET", "/healthz", scope::none,
       [](router& r, http_request&&, const caller&, http_responder respond) {
         r.operations_.healthz(std::move(respond));
       }},
      {"GET", "/readyz", scope::none,
       [](router& r, http_request&&, const caller&, http_responder respond) {
         r.operations_.readyz(std::move(respond));
       }},
      {"GET", "/metrics", scope::none,
       [](router& r, http_request&&, const caller&, http_responder respond) {
         r.operations_.metrics(std::move(respond));
       }},
      {"GET", "/v1/pipeline", scope::read,
       [](router& r, http_request&&, const caller&, http_responder respond) {
         r.operations_.pipeline(std::move(respond));
       }},
      {"GET", "/v1/dead-letters", scope::admin,
       [](router& r, http_request&& req, const caller& who, http_responder respond) {
         r.operations_.dead_letters(std::move(req), who, std::move(respond));
       }},
      {"POST", "/v1/dead-letters/redrive", scope::admin,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.operations_.redrive(std::move(req), std::move(respond));
       }},
      {"POST", "/v1/components/", scope::admin,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.operations_.control(std::move(req), std::move(respond));
       }},
      {"POST", "/v1/destinations/", scope::admin,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.operations_.control(std::move(req), std::move(respond));
       }},
      {"GET", "/v1/events", scope::read,
       [](router& r, http_request&& req, const caller& who, http_responder respond) {
         r.pull_.events(std::move(req), who, std::move(respond));
       }},
      {"GET", "/v1/auctions", scope::read,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.pull_.auctions(std::move(req), std::move(respond));
       }},
      {"GET", "/v1/auctions/", scope::read,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.pull_.auctions(std::move(req), std::move(respond));
       }},
      {"GET", "/v1/sources", scope::read,
       [](router& r, http_request&&, const caller&, http_responder respond) {
         r.sources_.list(std::move(respond));
       }},
      {"POST", "/v1/sources/", scope::admin,
       [](router& r, http_request&& req, const caller& who, http_responder respond) {
         r.sources_.control(std::move(req), who, std::move(respond));
       }},
      {"POST", "/v1/backfills/", scope::admin,
       [](router& r, http_request&& req, const caller& who, http_responder respond) {
         r.backfill_.post(std::move(req), who, std::move(respond));
       }},
      {"GET", "/v1/backfills", scope::read,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.backfill_.get(std::move(req), std::move(respond));
       }},
      {"GET", "/v1/backfills/", scope::read,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.backfill_.get(std::move(req), std::move(respond));
       }},
      {"GET", "/v1/audit", scope::admin,
       [](router& r, http_request&& req, const caller&, http_responder respond) {
         r.operations_.audit(std::move(req), std::move(respond));
       }},
  };
  return table;
}

const router::route* router::find(std::string_view method, std::string_view path,
                                  bool& path_known) {
  path_known = false;
  for (const auto& row : routes()) {
    if (!matches(row.path, path))
      continue;
    if (row.method == method)
      return &row;
    path_known = true;
  }
  return nullptr;
}

void router::handle(http_request&& req, http_responder respond) {
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  // Every answer to POST /v1/events is counted and timed by ingest, the
  // refusals of the token check included.
  if (path == "/v1/events" && req.method == "POST")
    respond = ingest_endpoint::metered(std::move(respond));
  bool path_known = false;
  const route* row = find(req.method, path, path_known);
  if (!row) {
    if (!path_known)
      return respond(error_response(404, "not_found", "", "no such route"));
    std::string allowed;
    for (const auto& r : routes())
      if (matches(r.path, path))
        allowed += (allowed.empty() ? "" : ", ") + std::string{r.method};
    auto r = error_response(405, "method", "", "use " + allowed);
    r.headers.emplace_back("Allow", allowed);
    return respond(std::move(r));
  }
  caller who;
  if (row->needs != scope::none) {
    who.token = tokens_.identify(req.header("Authorization"));
    if (!who.token)
      return respond(unauthorized_response());
    if (!who.token->scopes.allows(row->needs))
      return respond(forbidden_response(row->needs));
  }
  row->serve(*this, std::move(req), who, std::move(respond));
}

} // namespace gavel::actors::api
