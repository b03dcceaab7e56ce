#pragma once

#include "protocols/expected.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// Token scopes (DESIGN §1.9): what a token may do, and which source an
/// HTTP event belongs to (DESIGN §1.7). Pure: the configuration checks the
/// syntax with it, the HTTP edge decides with it.
namespace gavel::protocols {

/// What a route asks of the caller's token.
enum class scope : std::uint8_t {
  none,   ///< anyone (health, readiness, metrics)
  ingest, ///< `ingest:<source>` or `ingest:*`; which source is decided per request
  read,   ///< `read` or `admin`
  admin,  ///< `admin`
};

/// A token's scopes, parsed.
struct scope_set {
  bool ingest_any = false;                 ///< `ingest:*`
  std::vector<std::string> ingest_sources; ///< `ingest:<source>`, in written order
  bool read = false;
  bool pii = false; ///< reads unmasked (never implied by `admin`)
  bool admin = false;

  /// Whether a route needing `s` is open to this token (`admin` implies
  /// `read`; any ingest scope opens the ingest route, the source is checked
  /// by `resolve_source`).
  bool allows(scope s) const noexcept;
  /// `ingest:*` or `ingest:<source>`.
  bool may_ingest_into(std::string_view source) const;
};

/// Parses a token's scope list: `ingest:*`, `ingest:<name>` (`[a-z0-9_-]+`),
/// `read`, `pii`, `admin`. Errors (code "scope", field `[i]` for the item at
/// fault, or empty for the list): an unknown or malformed scope, one written
/// twice, an empty list, and `pii` without `read` or `admin` (it widens what
/// a read shows and grants no read of its own).
expected<scope_set> parse_scopes(const std::vector<std::string>& items);

/// The scopes of a legacy `ingest.tokens` entry: `ingest:*` and `admin`.
scope_set legacy_scopes();

/// The source an HTTP event belongs to (DESIGN §1.7): `requested` (the
/// `?source=` parameter) if not empty, else the one source the token's
/// `ingest:<source>` scope names, else `default`. `http_sources` are the
/// configured sources of kind http. Errors: code "unknown_source" (field
/// "source") when `requested` names no http source; code "forbidden" when the
/// token may not ingest into the source chosen (or the one its scope names
/// is not an http source).
expected<std::string> resolve_source(std::string_view requested, const scope_set& scopes,
                                     const std::vector<std::string>& http_sources);

} // namespace gavel::protocols
