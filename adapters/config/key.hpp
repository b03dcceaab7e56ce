#pragma once

#include "adapters/config/config.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <type_traits>
#include <utility>
#include <vector>

/// The key-definition framework: what one configuration key is (name, doc,
/// how it is read and checked from TOML, how its default is shown) and the
/// factories, value readers and checks the key tables are written with. The
/// tables themselves live beside what they configure; the loader (loader.cpp)
/// reads them all and knows no key by name.
namespace gavel::adapters::keys {

using protocols::error;
using opt_error = std::optional<error>;

/// An error of code "config"; the message starts with the key when there is one.
error make_error(std::string field, std::string_view what);
/// `expected <what>, got <the TOML type of n>`.
error wrong_type(const std::string& field, std::string_view expected,
                 const toml::node& got);
std::string quoted(std::string_view s);
/// `["a", "b"]`, as TOML would write it.
std::string show_list(const std::vector<std::string>& v);
/// A duration as TOML text: `"5m"`.
std::string show_duration(millis d);

// --- value readers ------------------------------------------------------------

expected<std::string> read_string(const toml::node& n, const std::string& field);
/// A string resolved as a secret (env:/file:/literal); resolved empty is an
/// error unless `allow_empty` and the written value is itself empty.
expected<std::string> read_secret(const toml::node& n, const std::string& field,
                                  bool allow_empty = false);
expected<std::int64_t> read_integer(const toml::node& n, const std::string& field,
                                    std::int64_t min, std::int64_t max);
expected<millis> read_duration(const toml::node& n, const std::string& field,
                               bool allow_zero);

// --- checks (string values) -----------------------------------------------------

using string_check = std::function<opt_error(const std::string&, const std::string&)>;

opt_error check_listen(const std::string& v, const std::string& field);
opt_error check_http_url(const std::string& v, const std::string& field);
opt_error check_smtp_url(const std::string& v, const std::string& field);
opt_error check_database_url(const std::string& v, const std::string& field);
opt_error check_not_empty(const std::string& v, const std::string& field);
/// A destination name: `[a-z0-9_-]+`.
opt_error check_name(const std::string& v, const std::string& field);
/// A Standard Webhooks secret: `whsec_` followed by base64.
opt_error check_webhook_secret(const std::string& v, const std::string& field);
/// Empty, or a file that can be opened.
opt_error check_readable_file(const std::string& v, const std::string& field);
/// Lets an empty value through unchecked (for optional keys).
string_check unless_empty(string_check check);

// --- key declarations -----------------------------------------------------------

/// One configuration key: where it lives, what it means, how it is assigned
/// from TOML and how its current value is shown (for the reference listing).
template <class Owner> struct key_def {
  std::string_view section;
  std::string_view name;
  std::string doc;
  /// Destinations only: the kind the key belongs to (empty: every kind).
  std::string_view kind;
  std::function<opt_error(const toml::node&, Owner&, const std::string&)> assign;
  std::function<std::string(const Owner&)> show;
  /// Destinations only: a destination of `kind` must set it (listed as
  /// `(required)`).
  bool required = false;
};

using top_key = key_def<config>;
using dest_key = key_def<destination_config>;
using token_key = key_def<token_config>;
using source_key = key_def<source_config>;

/// `k`, marked as a key its kind's destinations must set.
template <class Owner> key_def<Owner> required(key_def<Owner> k) {
  k.required = true;
  return k;
}

enum secret_mode { plain, secret, secret_or_empty };

// Factories. `get` is a generic lambda returning a reference to the member,
// used with both a const and a mutable owner.

template <class Owner, class Get>
key_def<Owner> string_key(std::string_view section, std::string_view name,
                          std::string doc, Get get, string_check check = {},
                          std::string_view kind = {}, secret_mode secret = plain) {
  return {section,
          name,
          std::move(doc),
          kind,
          [get, check, secret](const toml::node& n, Owner& o,
                               const std::string& field) -> opt_error {
            auto v = secret == plain ? read_string(n, field)
                                     : read_secret(n, field, secret == secret_or_empty);
            if (!v)
              return v.err();
            if (check)
              if (auto e = check(*v, field))
                return e;
            get(o) = std::move(*v);
            return std::nullopt;
          },
          [get, secret](const Owner& o) {
            const std::string& v = get(o);
            return secret != plain && !v.empty() ? std::string{"(secret)"} : quoted(v);
          }};
}

/// A string that must be one of `allowed`.
string_check one_of(std::vector<std::string_view> allowed);

template <class Owner, class Get>
key_def<Owner> enum_key(std::string_view section, std::string_view name, std::string doc,
                        Get get, std::vector<std::string_view> allowed) {
  return string_key<Owner>(section, name, std::move(doc), get,
                           one_of(std::move(allowed)));
}

template <class Owner, class Get>
key_def<Owner> int_key(std::string_view section, std::string_view name, std::string doc,
                       Get get, std::int64_t min, std::int64_t max,
                       std::string_view kind = {}) {
  return {section,
          name,
          std::move(doc),
          kind,
          [get, min, max](const toml::node& n, Owner& o,
                          const std::string& field) -> opt_error {
            auto v = read_integer(n, field, min, max);
            if (!v)
              return v.err();
            using target = std::remove_reference_t<decltype(get(o))>;
            get(o) = static_cast<target>(*v);
            return std::nullopt;
          },
          [get](const Owner& o) { return std::to_string(get(o)); }};
}

template <class Owner, class Get>
key_def<Owner> duration_key(std::string_view section, std::string_view name,
                            std::string doc, Get get, bool allow_zero = false) {
  return {section,
          name,
          std::move(doc),
          {},
          [get, allow_zero](const toml::node& n, Owner& o,
                            const std::string& field) -> opt_error {
            auto v = read_duration(n, field, allow_zero);
            if (!v)
              return v.err();
            get(o) = *v;
            return std::nullopt;
          },
          [get](const Owner& o) { return show_duration(get(o)); }};
}

template <class Owner, class Get>
key_def<Owner> bool_key(std::string_view section, std::string_view name, std::string doc,
                        Get get) {
  return {section,
          name,
          std::move(doc),
          {},
          [get](const toml::node& n, Owner& o, const std::string& field) -> opt_error {
            auto b = n.as_boolean();
            if (!b)
              return wrong_type(field, "a boolean (true or false)", n);
            get(o) = b->get();
            return std::nullopt;
          },
          [get](const Owner& o) { return std::string{get(o) ? "true" : "false"}; }};
}

using item_reader =
    std::function<expected<std::string>(const toml::node&, const std::string&)>;

/// An array of strings; `item` reads (and may resolve) one element.
template <class Owner, class Get>
key_def<Owner>
list_key(std::string_view section, std::string_view name, std::string doc, Get get,
         item_reader item,
         std::function<std::string(const std::vector<std::string>&)> show) {
  return {
      section,
      name,
      std::move(doc),
      {},
      [get, item](const toml::node& n, Owner& o, const std::string& field) -> opt_error {
        auto arr = n.as_array();
        if (!arr)
          return wrong_type(field, "an array of strings", n);
        std::vector<std::string> out;
        for (std::size_t i = 0; i < arr->size(); ++i) {
          auto v = item(*arr->get(i), field + "[" + std::to_string(i) + "]");
          if (!v)
            return v.err();
          out.push_back(std::move(*v));
        }
        get(o) = std::move(out);
        return std::nullopt;
      },
      [get, show](const Owner& o) { return show(get(o)); }};
}

// --- the tables -------------------------------------------------------------------

/// The keys of the top-level sections, in listing order (server, admission,
/// database, ingest, pii, auction, store, alerts, retention, log).
const std::vector<top_key>& top_keys();

/// Each section's keys, appended to `k`; declared by concern in
/// server_keys.cpp (server, admission, ingest), storage_keys.cpp (database,
/// store, retention), auction_keys.cpp and operations_keys.cpp (alerts, log).
void add_server_keys(std::vector<top_key>& k);
void add_admission_keys(std::vector<top_key>& k);
void add_ingest_keys(std::vector<top_key>& k);
void add_database_keys(std::vector<top_key>& k);
void add_store_keys(std::vector<top_key>& k);
void add_retention_keys(std::vector<top_key>& k);
void add_auction_keys(std::vector<top_key>& k);
void add_alerts_keys(std::vector<top_key>& k);
void add_log_keys(std::vector<top_key>& k);
/// `[pii]`; declared in access_keys.cpp beside the `[[token]]` keys.
void add_pii_keys(std::vector<top_key>& k);

/// A rule over several keys broken, found once every key is read: the key
/// at fault (dotted for sections, bare for a destination's) and why.
struct key_fault {
  std::string key;
  std::string what;
  /// Whose line the message points at, the first one written in the file;
  /// empty: `key`'s own (or its table's).
  std::vector<std::string_view> lines = {};
};

/// The rules across keys of the sections, checked in this order after the
/// whole file is read; each beside its section's keys.
std::optional<key_fault> check_alerts_keys(const config& c);
std::optional<key_fault> check_admission_keys(const config& c);
/// TLS files both or none; plain HTTP only on loopback unless allowed.
std::optional<key_fault> check_server_keys(const config& c);
std::optional<key_fault> check_auction_keys(const config& c);
/// Token names and secrets unique across `[[token]]` and `ingest.tokens`;
/// `key` is dotted with the index (`token[1].secret`).
std::optional<key_fault> check_token_keys(const config& c);

/// A destination kind as the configuration sees it: its name, its own keys
/// and its cross-key rules. Declared in adapters/destinations/<kind>/keys.cpp.
struct destination_kind {
  std::string_view name;
  std::vector<dest_key> keys;
  std::function<std::optional<key_fault>(const destination_config&)> check;
};

/// Every destination kind, in listing order.
const std::vector<const destination_kind*>& destination_kinds();
const destination_kind& eventhub_kind();
const destination_kind& hubspot_kind();
const destination_kind& webhook_kind();

/// Every `[[destination]]` key: the common ones and each kind's, in listing
/// order (name, kind, event_types, the kinds' own, then the common rest).
const std::vector<dest_key>& destination_keys();

/// Every `[[source]]` key (source_keys.cpp); `name` required.
const std::vector<source_key>& source_keys();
/// The per-table rule of one `[[source]]`: `url` as its kind needs it.
std::optional<key_fault> check_source(const source_config& s);
/// Source names unique.
std::optional<key_fault> check_source_keys(const config& c);

/// Every `[[token]]` key (access_keys.cpp), all required.
const std::vector<token_key>& token_keys();
/// The per-table rule of one `[[token]]`: its scopes parse
/// (protocols::parse_scopes); `key` is `scopes` or `scopes[i]`.
std::optional<key_fault> check_token(const token_config& t);

} // namespace gavel::adapters::keys
