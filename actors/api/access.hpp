#pragma once

#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"
#include "protocols/access.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

/// Who is calling and what they may see (DESIGN §1.9, ADR 0019): bearer
/// tokens, and the masking and audit every read path that returns records
/// goes through. Called on the HTTP I/O threads; never blocks.
namespace gavel::actors::api {

/// One known token: its name and scopes, and the SHA-256 of its secret (the
/// secret itself is not kept).
struct token_entry {
  std::string name; ///< `[[token]]` name, or `ingest.tokens[i]` for a legacy one
  std::string digest;
  protocols::scope_set scopes;
};

/// The token a request was authenticated with (null: the route needs none).
struct caller {
  const token_entry* token = nullptr;

  /// Whether the caller may see PII unmasked (the `pii` scope).
  bool sees_pii() const noexcept { return token && token->scopes.pii; }
};

/// Every token of the configuration: `[[token]]` tables and the legacy
/// `ingest.tokens` (scopes `ingest:*` and `admin`). Read-only after start.
class token_registry {
public:
  explicit token_registry(const adapters::config& cfg);

  /// The token `Authorization: Bearer <secret>` names, or null (missing,
  /// malformed or unknown). Compares SHA-256 digests in constant time against
  /// every token, so neither the secret's content nor its length shows in
  /// the time taken.
  const token_entry* identify(std::string_view authorization) const;

private:
  std::vector<token_entry> tokens_;
};

/// What the caller is shown of records and what their unmasked reads leave
/// behind. Every read path that returns records (dead letters, the pull
/// API) goes through it:
///
///     rows.push_back(disclose.envelope(who, stored_text));   // masked or clear
///     disclose.answer(who, req, rows.size(), response, respond);
class disclosure {
public:
  /// `audit` stores the audit records (a detached reader).
  disclosure(caf::actor_system& sys, reader_actor audit, std::vector<std::string> fields);

  /// `stored` (an envelope's text) as `who` may see it: unchanged with the
  /// `pii` scope, else with the `[pii] fields` of its data masked. An
  /// envelope that cannot be read is withheld (`null`), never shown unmasked.
  std::string envelope(const caller& who, std::string_view stored) const;

  /// Free text about a record (a destination's error, which may quote what
  /// it was sent) as `who` may see it: without `pii`, every mention of the
  /// record's own PII values is masked.
  std::string text(const caller& who, std::string_view text,
                   std::string_view stored) const;

  /// Sends `response` to a read of `records` records. With the `pii` scope
  /// and at least one record, first stores one audit record (token name,
  /// time, route and query, records): the data leaves only once the record
  /// is committed, and a read that cannot be audited is answered 503.
  void answer(const caller& who, const adapters::http_request& req, std::size_t records,
              adapters::http_response response, adapters::http_responder respond) const;

  const std::vector<std::string>& fields() const noexcept { return fields_; }

private:
  caf::actor_system* sys_;
  reader_actor audit_;
  std::vector<std::string> fields_;
};

} // namespace gavel::actors::api
