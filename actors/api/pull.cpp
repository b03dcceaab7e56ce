#include "actors/api/pull.hpp"

#include "actors/api/responses.hpp"
#include "protocols/pull.hpp"
#include "protocols/time.hpp"

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

namespace gavel::actors::api {

namespace {

using adapters::http_request;
using adapters::http_responder;
using ojson = nlohmann::ordered_json;

/// How long a read may take, queue included, before the caller hears 503.
constexpr auto read_timeout = std::chrono::seconds{30};

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

void bad_request(const http_responder& respond, const protocols::error& e) {
  respond(error_response(400, e.code, e.field, e.message));
}

void unavailable(const http_responder& respond, const caf::error& err) {
  respond(unavailable_response(
      error_body(503, "unavailable", "", "database: " + caf::to_string(err))));
}

ojson time_or_null(const std::optional<protocols::unix_ms>& t) {
  return t ? ojson(protocols::format_iso8601_ms(*t)) : ojson(nullptr);
}

ojson summary_json(const protocols::auction_summary& a, bool with_destinations) {
  ojson j;
  j["auction_id"] = a.auction_id;
  j["state"] = a.closed ? "closed" : "open";
  j["opened_at"] = time_or_null(a.opened_at);
  j["closed_at"] = time_or_null(a.closed_at);
  j["end_date"] = time_or_null(a.end_date);
  j["last_sequence"] = a.last_sequence;
  j["total_bid_count"] = a.total_bid_count;
  j["heartbeats"] = a.heartbeats;
  j["digest"] = ojson{{"events", a.digest.events}, {"sha256", a.digest.sha256}};
  if (with_destinations) {
    ojson d = ojson::object();
    for (const auto& x : a.destinations)
      d[x.destination] =
          ojson{{"delivered_through_sequence", x.delivered_through_sequence},
                {"pending", x.pending},
                {"dead_letters", x.dead_letters}};
    j["destinations"] = std::move(d);
  }
  return j;
}

} // namespace

pull_api::pull_api(caf::actor_system* sys, pull_actor reads, const disclosure& disclose)
    : sys_(sys), reads_(std::move(reads)), disclose_(&disclose) {}

void pull_api::events(http_request&& req, const caller& who, http_responder respond) {
  auto params = protocols::parse_query_string(query_of(req.target));
  if (!params)
    return bad_request(respond, params.err());
  auto q = protocols::parse_pull_query(*params);
  if (!q)
    return bad_request(respond, q.err());
  sys_->spawn([reads = reads_, q = std::move(*q), disclose = disclose_, who,
               req = std::move(req),
               respond = std::move(respond)](caf::event_based_actor* self) mutable {
    self->request(reads, read_timeout, atom::pull_v, std::move(q))
        .then(
            [respond, disclose, who, req](protocols::pull_page& page) {
              // The stored bytes spliced in, never parsed and re-serialised:
              // numbers keep their exact text (docs/envelope.md).
              std::size_t bytes = 64;
              for (const auto& e : page.envelopes)
                bytes += e->size() + 1;
              std::string body;
              body.reserve(bytes);
              body += R"({"events":[)";
              for (std::size_t i = 0; i < page.envelopes.size(); ++i) {
                if (i)
                  body += ',';
                body += disclose->envelope(who, *page.envelopes[i]);
              }
              body += R"(],"next":)";
              if (page.next)
                body += '"' + protocols::encode_cursor(*page.next) + '"';
              else
                body += "null";
              body += '}';
              disclose->answer(who, req, page.envelopes.size(),
                               json_response(200, std::move(body)), respond);
            },
            [respond](caf::error& err) { unavailable(respond, err); });
  });
}

void pull_api::auctions(http_request&& req, http_responder respond) {
  auto params = protocols::parse_query_string(query_of(req.target));
  if (!params)
    return bad_request(respond, params.err());
  auto path = path_of(req.target);

  if (path == "/v1/auctions" || path == "/v1/auctions/") {
    auto q = protocols::parse_auction_query(*params);
    if (!q)
      return bad_request(respond, q.err());
    sys_->spawn([reads = reads_, q = *q,
                 respond = std::move(respond)](caf::event_based_actor* self) mutable {
      self->request(reads, read_timeout, atom::auctions_v, q)
          .then(
              [respond](protocols::auction_page& page) {
                ojson list = ojson::array();
                for (const auto& a : page.auctions)
                  list.push_back(summary_json(a, false));
                ojson body;
                body["auctions"] = std::move(list);
                body["next"] = page.next ? ojson(protocols::encode_cursor(*page.next))
                                         : ojson(nullptr);
                respond(json_response(200, dump_json(body)));
              },
              [respond](caf::error& err) { unavailable(respond, err); });
    });
    return;
  }

  auto id_text = path.substr(std::string_view{"/v1/auctions/"}.size());
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (id_text.empty() || ec != std::errc{} || p != id_text.data() + id_text.size() ||
      id <= 0)
    return respond(error_response(400, "bad_parameter", "auction_id",
                                  "expected a positive integer"));
  if (!params->empty())
    return respond(error_response(400, "unknown_parameter", params->front().first,
                                  "this route takes no parameters"));
  sys_->spawn(
      [reads = reads_, id, respond = std::move(respond)](caf::event_based_actor* self) {
        self->request(reads, read_timeout, atom::summary_v, id)
            .then(
                [respond](protocols::auction_summary& a) {
                  if (a.auction_id == 0)
                    return respond(error_response(404, "not_found", "auction_id",
                                                  "no such auction"));
                  respond(json_response(200, dump_json(summary_json(a, true))));
                },
                [respond](caf::error& err) { unavailable(respond, err); });
      });
}

} // namespace gavel::actors::api
