#include "actors/api/access.hpp"

#include "actors/api/responses.hpp"
#include "protocols/crypto.hpp"
#include "protocols/pii.hpp"

#include <chrono>

namespace gavel::actors::api {

token_registry::token_registry(const adapters::config& cfg) {
  for (const auto& t : cfg.tokens) {
    // Validated by the configuration loader; a token that fails here would
    // have stopped Gavel at start.
    auto scopes = protocols::parse_scopes(t.scopes);
    tokens_.push_back(
        {t.name, protocols::sha256(t.secret), scopes ? *scopes : protocols::scope_set{}});
  }
  for (std::size_t i = 0; i < cfg.ingest.tokens.size(); ++i)
    tokens_.push_back({"ingest.tokens[" + std::to_string(i) + "]",
                       protocols::sha256(cfg.ingest.tokens[i]),
                       protocols::legacy_scopes()});
}

const token_entry* token_registry::identify(std::string_view authorization) const {
  constexpr std::string_view prefix = "Bearer ";
  if (authorization.size() <= prefix.size() || !authorization.starts_with(prefix))
    return nullptr;
  auto given = protocols::sha256(authorization.substr(prefix.size()));
  // Every token is compared, whichever matches: the time taken does not say
  // which one (or how many) were tried.
  const token_entry* found = nullptr;
  for (const auto& t : tokens_)
    if (protocols::same_digest(t.digest, given))
      found = &t;
  return found;
}

disclosure::disclosure(caf::actor_system& sys, reader_actor audit,
                       std::vector<std::string> fields)
    : sys_(&sys), audit_(std::move(audit)), fields_(std::move(fields)) {}

std::string disclosure::envelope(const caller& who, std::string_view stored) const {
  if (who.sees_pii())
    return std::string{stored};
  auto masked = protocols::mask_envelope(stored, fields_);
  return masked ? std::move(*masked) : std::string{"null"};
}

std::string disclosure::text(const caller& who, std::string_view text,
                             std::string_view stored) const {
  if (who.sees_pii())
    return std::string{text};
  return protocols::mask_mentions(text, stored, fields_);
}

void disclosure::answer(const caller& who, const adapters::http_request& req,
                        std::size_t records, adapters::http_response response,
                        adapters::http_responder respond) const {
  if (!who.sees_pii() || records == 0)
    return respond(std::move(response));
  protocols::audit_record r;
  r.token = who.token->name;
  std::string_view target = req.target;
  auto q = target.find('?');
  r.route = std::string{target.substr(0, q)};
  if (q != std::string_view::npos)
    r.query = std::string{target.substr(q + 1)};
  r.records = static_cast<std::int64_t>(records);
  sys_->spawn([audit = audit_, r = std::move(r), response = std::move(response),
               respond = std::move(respond)](caf::event_based_actor* self) {
    self->request(audit, std::chrono::seconds{10}, atom::audit_v, r)
        .then([respond, response](std::int64_t) { respond(response); },
              [respond](caf::error& err) {
                respond(unavailable_response(
                    error_body(503, "unavailable", "",
                               "the audit record of this read could not be stored (" +
                                   caf::to_string(err) + "); nothing was disclosed")));
              });
  });
}

} // namespace gavel::actors::api
