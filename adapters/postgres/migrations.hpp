#pragma once

#include <span>

/// The schema migrations, compiled in from migrations/*.sql
/// (adapters/embed_sql.cmake generates their definition).
namespace gavel::adapters::postgres {

struct migration {
  int version;
  const char* name; ///< recorded in gavel_schema_migrations
  const char* sql;
};

/// Every migration, in ascending version order. Append-only: a released
/// migration is never edited, only followed by a new one.
std::span<const migration> migrations();

} // namespace gavel::adapters::postgres
