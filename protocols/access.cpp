#include "protocols/access.hpp"

#include "protocols/source.hpp"

#include <algorithm>

namespace gavel::protocols {

namespace {

error scope_error(std::string field, std::string message) {
  return error{"scope", std::move(field), std::move(message)};
}

} // namespace

bool scope_set::allows(scope s) const noexcept {
  switch (s) {
  case scope::none:
    return true;
  case scope::ingest:
    return ingest_any || !ingest_sources.empty();
  case scope::read:
    return read || admin;
  case scope::admin:
    return admin;
  }
  return false;
}

bool scope_set::may_ingest_into(std::string_view source) const {
  return ingest_any || std::find(ingest_sources.begin(), ingest_sources.end(), source) !=
                           ingest_sources.end();
}

expected<scope_set> parse_scopes(const std::vector<std::string>& items) {
  if (items.empty())
    return scope_error({}, "must list at least one scope (ingest:<source>, ingest:*, "
                           "read, pii, admin)");
  scope_set out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& s = items[i];
    auto field = "[" + std::to_string(i) + "]";
    if (std::find(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(i), s) !=
        items.begin() + static_cast<std::ptrdiff_t>(i))
      return scope_error(field, "scope \"" + s + "\" is listed twice");
    if (s == "read") {
      out.read = true;
    } else if (s == "pii") {
      out.pii = true;
    } else if (s == "admin") {
      out.admin = true;
    } else if (s == "ingest:*") {
      out.ingest_any = true;
    } else if (s.starts_with("ingest:") && valid_source_name(s.substr(7))) {
      out.ingest_sources.push_back(s.substr(7));
    } else {
      return scope_error(field, "unknown scope \"" + s +
                                    "\" (expected ingest:<source> with a source name of "
                                    "[a-z0-9_-]+, ingest:*, read, pii or admin)");
    }
  }
  if (out.pii && !out.read && !out.admin)
    return scope_error({}, "pii needs read or admin beside it (pii only unmasks what a "
                           "read returns)");
  return out;
}

scope_set legacy_scopes() {
  scope_set s;
  s.ingest_any = true;
  s.admin = true;
  return s;
}

expected<std::string> resolve_source(std::string_view requested, const scope_set& scopes,
                                     const std::vector<std::string>& http_sources) {
  auto is_http = [&](std::string_view name) {
    return std::find(http_sources.begin(), http_sources.end(), name) !=
           http_sources.end();
  };
  std::string source;
  if (!requested.empty()) {
    if (!is_http(requested))
      return error{"unknown_source", "source",
                   "source: no http source named \"" + std::string{requested} + "\""};
    source = requested;
  } else if (!scopes.ingest_any && scopes.ingest_sources.size() == 1) {
    source = scopes.ingest_sources.front();
    if (!is_http(source))
      return error{"forbidden", "",
                   "the token's scope names source \"" + source +
                       "\", which takes no events over HTTP"};
  } else {
    source = std::string{default_source};
    if (!is_http(source))
      return error{"unknown_source", "source",
                   "source: required (there is no http source named \"default\")"};
  }
  if (!scopes.may_ingest_into(source))
    return error{"forbidden", "",
                 "the token may not ingest into source \"" + source + "\"" +
                     (requested.empty() ? " (name one with ?source=)" : "")};
  return source;
}

} // namespace gavel::protocols
