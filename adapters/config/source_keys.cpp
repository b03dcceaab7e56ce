// Where events enter: the `[[source]]` keys and their rules (their code:
// protocols/source.hpp, actors/sources.hpp, adapters/inbox.hpp;
// docs/sources.md).
#include "adapters/config/key.hpp"
#include "adapters/inbox.hpp"
#include "protocols/source.hpp"

namespace gavel::adapters {

std::vector<source_config> effective_sources(const std::vector<source_config>& sources) {
  if (!sources.empty())
    return sources;
  source_config d;
  d.name = std::string{protocols::default_source};
  return {d};
}

} // namespace gavel::adapters

namespace gavel::adapters::keys {

namespace {

constexpr std::string_view s = "source";

} // namespace

const std::vector<source_key>& source_keys() {
  static const std::vector<source_key> keys = [] {
    std::vector<source_key> k;
    k.push_back(required(string_key<source_config>(
        s, "name",
        "unique, [a-z0-9_-]+; names the source in ?source=, ingest:<source>, "
        "metrics, the API and the database",
        [](auto& c) -> auto& { return c.name; }, check_name)));
    k.push_back(enum_key<source_config>(
        s, "kind",
        "http (POST /v1/events), postgres_inbox or mysql_inbox (gavel_inbox in the "
        "platform's database)",
        [](auto& c) -> auto& { return c.kind; },
        {"http", "postgres_inbox", "mysql_inbox"}));
    k.push_back(bool_key<source_config>(
        s, "enabled",
        "the flag's default; POST /v1/sources/<name>/enable|disable overrides it and "
        "the override is kept in PostgreSQL",
        [](auto& c) -> auto& { return c.enabled; }));
    k.push_back(string_key<source_config>(
        s, "url",
        "inboxes: the platform's database (a secret): postgres_inbox a libpq URI, "
        "empty for Gavel's own; mysql_inbox mysql://USER:PASSWORD@HOST:PORT/DB",
        [](auto& c) -> auto& { return c.url; }, {}, {}, secret_or_empty));
    k.push_back(duration_key<source_config>(
        s, "poll_interval",
        "inboxes: the longest wait between two reads (PostgreSQL also wakes on NOTIFY)",
        [](auto& c) -> auto& { return c.poll_interval; }));
    k.push_back(int_key<source_config>(
        s, "batch", "inboxes: rows taken per read",
        [](auto& c) -> auto& { return c.batch; }, 1, 1000));
    return k;
  }();
  return keys;
}

std::optional<key_fault> check_source(const source_config& sc) {
  auto kind = protocols::parse_source_kind(sc.kind);
  if (!kind)
    return key_fault{"kind", "unknown source kind " + quoted(sc.kind)};
  switch (*kind) {
  case protocols::source_kind::http:
    if (!sc.url.empty())
      return key_fault{"url", "only inbox sources read a database (kind is http)"};
    break;
  case protocols::source_kind::postgres_inbox:
    if (check_database_url(sc.url, "url"))
      return key_fault{"url", "expected a libpq URI (postgresql://...) or a key=value "
                              "connection string, or empty for Gavel's own database"};
    break;
  case protocols::source_kind::mysql_inbox:
    if (sc.url.empty())
      return key_fault{"url", "required for a mysql_inbox source (mysql://USER:PASSWORD@"
                              "HOST:PORT/DB)"};
    // The url is a secret: the message names the key, never the value.
    if (!parse_mysql_url(sc.url))
      return key_fault{"url", "not a usable mysql:// url (see docs/inbox.md)"};
    break;
  }
  return std::nullopt;
}

std::optional<key_fault> check_source_keys(const config& c) {
  for (std::size_t i = 0; i < c.sources.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (c.sources[j].name == c.sources[i].name)
        return key_fault{"source[" + std::to_string(i) + "].name",
                         "duplicate source name " + quoted(c.sources[i].name),
                         {}};
  return std::nullopt;
}

} // namespace gavel::adapters::keys
