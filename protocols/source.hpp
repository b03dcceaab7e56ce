#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

/// Sources (DESIGN §1.7): every event enters through a named source of one
/// kind, and each source has an on/off flag. Pure names and rules; the
/// registry lives in actors/sources.hpp, the keys in adapters/config.
namespace gavel::protocols {

enum class source_kind : std::uint8_t {
  http,           ///< POST /v1/events
  postgres_inbox, ///< gavel_inbox in a PostgreSQL database
  mysql_inbox,    ///< gavel_inbox in a MySQL/MariaDB database
};

constexpr std::string_view to_string(source_kind k) noexcept {
  switch (k) {
  case source_kind::http:
    return "http";
  case source_kind::postgres_inbox:
    return "postgres_inbox";
  case source_kind::mysql_inbox:
    break;
  }
  return "mysql_inbox";
}

/// "http", "postgres_inbox" or "mysql_inbox"; nullopt for anything else.
std::optional<source_kind> parse_source_kind(std::string_view text) noexcept;

/// `[a-z0-9_-]+`: a source's name (also what `ingest:<source>` names).
bool valid_source_name(std::string_view name) noexcept;

/// The name of the one http source a configuration without `[[source]]` has.
inline constexpr std::string_view default_source = "default";

} // namespace gavel::protocols
