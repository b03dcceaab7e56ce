// Who may do what: the `[[token]]` keys, their rules, and `[pii]` (their
// code: protocols/access.hpp, protocols/pii.hpp, actors/api/access.hpp).
#include "adapters/config/key.hpp"
#include "protocols/access.hpp"
#include "protocols/crypto.hpp"

namespace gavel::adapters::keys {

namespace {

constexpr std::string_view t = "token";

expected<std::string> read_field_name(const toml::node& n, const std::string& field) {
  auto s = read_string(n, field);
  if (s && s->empty())
    return make_error(field, "must not be empty");
  return s;
}

} // namespace

const std::vector<token_key>& token_keys() {
  static const std::vector<token_key> keys = [] {
    std::vector<token_key> k;
    k.push_back(required(string_key<token_config>(
        t, "name",
        "unique, [a-z0-9_-]+; names the token in audit records and logs (never the "
        "secret)",
        [](auto& c) -> auto& { return c.name; }, check_name)));
    k.push_back(required(string_key<token_config>(
        t, "secret", "the bearer token itself (a secret: env:NAME or file:PATH)",
        [](auto& c) -> auto& { return c.secret; }, {}, {}, secret)));
    k.push_back(required(list_key<token_config>(
        t, "scopes", "ingest:<source>, ingest:*, read, pii (with read or admin), admin",
        [](auto& c) -> auto& { return c.scopes; },
        [](const toml::node& n, const std::string& f) { return read_string(n, f); },
        show_list)));
    return k;
  }();
  return keys;
}

std::optional<key_fault> check_token(const token_config& tc) {
  auto s = protocols::parse_scopes(tc.scopes);
  if (s)
    return std::nullopt;
  return key_fault{"scopes" + s.err().field, s.err().message};
}

std::optional<key_fault> check_token_keys(const config& c) {
  // Secrets are compared as digests, so this check has no secret-dependent
  // early exit either; the message names keys, never values.
  std::vector<std::pair<std::string, std::string>> seen; // digest, key
  for (std::size_t i = 0; i < c.ingest.tokens.size(); ++i)
    seen.emplace_back(protocols::sha256(c.ingest.tokens[i]),
                      "ingest.tokens[" + std::to_string(i) + "]");
  for (std::size_t i = 0; i < c.tokens.size(); ++i) {
    auto key = "token[" + std::to_string(i) + "]";
    for (std::size_t j = 0; j < i; ++j)
      if (c.tokens[j].name == c.tokens[i].name)
        return key_fault{
            key + ".name", "duplicate token name " + quoted(c.tokens[i].name), {}};
    auto d = protocols::sha256(c.tokens[i].secret);
    for (const auto& [other, where] : seen)
      if (protocols::same_digest(other, d))
        return key_fault{key + ".secret",
                         "the same secret as " + where +
                             " (each token needs its own, or requests could not tell "
                             "them apart)",
                         {}};
    seen.emplace_back(d, key + ".secret");
  }
  return std::nullopt;
}

void add_pii_keys(std::vector<top_key>& k) {
  k.push_back(list_key<config>(
      "pii", "fields",
      "members of an envelope's data masked on read paths for tokens without the pii "
      "scope",
      [](auto& c) -> auto& { return c.pii.fields; }, read_field_name, show_list));
}

} // namespace gavel::adapters::keys
