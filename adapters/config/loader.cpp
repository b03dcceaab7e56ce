// The configuration loader: reads the TOML file against the key tables
// (key.hpp), suggests the nearest key for a typo, points every error at its
// line, resolves secrets, and lists every key for the reference. It knows no
// key by name: each is declared beside what it configures.
#include "adapters/config/config.hpp"
#include "adapters/config/key.hpp"
#include "protocols/event.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace gavel::adapters {

using namespace keys;

namespace {

/// The top-level sections, in listing order.
std::vector<std::string_view> section_names() {
  std::vector<std::string_view> out;
  for (const auto& k : top_keys())
    if (std::find(out.begin(), out.end(), k.section) == out.end())
      out.push_back(k.section);
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min(
          {prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

error unknown_key(const std::string& field, std::string_view key,
                  const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_d = 3;
  for (auto c : candidates) {
    auto dist = edit_distance(key, c);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  std::string what = "unknown key";
  if (!best.empty())
    what += " (did you mean `" + std::string{best} + "`?)";
  return make_error(field, what);
}

/// Adds the origin and line to a message for people (the field stays clean).
error locate(error e, std::string_view origin, const toml::node* n) {
  std::string where{origin};
  if (n && n->source().begin.line > 0)
    where += ":" + std::to_string(n->source().begin.line);
  e.message = where + ": " + e.message;
  return e;
}

/// `fault` located at the first of its lines written in `table`, else at
/// its own key's, else at `fallback`.
error locate_fault(const key_fault& fault, const std::string& field,
                   std::string_view origin, const toml::node& table,
                   std::string_view own_key, const toml::node* fallback) {
  const toml::node* at = nullptr;
  auto find = [&](std::string_view key) -> const toml::node* {
    if (const auto* t = table.as_table())
      return t->at_path(key).node();
    return nullptr;
  };
  for (auto key : fault.lines)
    if ((at = find(key)))
      break;
  if (!at && fault.lines.empty())
    at = find(own_key);
  return locate(make_error(field, fault.what), origin, at ? at : fallback);
}

/// Reads every key of one table into `o`; each unknown or bad key adds its
/// error to `faults` and the rest are still read, so one run names them all.
/// Returns whether every key was read.
template <class Key, class Owner>
bool read_keys(const toml::table& t, Owner& o, const std::vector<Key>& table,
               const std::string& prefix, std::string_view origin,
               std::vector<error>& faults) {
  std::vector<std::string_view> names;
  names.reserve(table.size());
  for (auto& k : table)
    names.push_back(k.name);
  bool clean = true;
  for (auto&& [key, node] : t) {
    // A named copy: clang before 16 cannot capture a structured binding.
    std::string_view key_name = key.str();
    auto field = prefix + "." + std::string{key_name};
    auto it = std::find_if(table.begin(), table.end(),
                           [&](const Key& k) { return k.name == key_name; });
    opt_error e = it == table.end() ? opt_error{unknown_key(field, key.str(), names)}
                                    : it->assign(node, o, field);
    if (e) {
      faults.push_back(locate(*e, origin, &node));
      clean = false;
    }
  }
  return clean;
}

opt_error check_destination(const toml::table& t, const destination_config& dc,
                            const std::string& prefix, std::string_view origin);

/// One `[[destination]]` table: its keys, then (when they all read) the
/// rules between them; every fault goes to `faults`.
void parse_destination(const toml::table& t, destination_config& dc,
                       const std::string& prefix, std::string_view origin,
                       std::vector<error>& faults) {
  if (!read_keys(t, dc, destination_keys(), prefix, origin, faults))
    return;
  if (auto e = check_destination(t, dc, prefix, origin))
    faults.push_back(std::move(*e));
}

/// The rules between one destination's keys: the first one broken.
opt_error check_destination(const toml::table& t, const destination_config& dc,
                            const std::string& prefix, std::string_view origin) {
  const auto& table = destination_keys();
  auto fail = [&](std::string_view name, std::string_view what) {
    return locate_fault({std::string{name}, std::string{what}},
                        prefix + "." + std::string{name}, origin, t, name, &t);
  };
  std::string kinds;
  for (const auto* k : destination_kinds())
    kinds += (kinds.empty() ? "" : "|") + std::string{k->name};
  if (!t.contains("name"))
    return fail("name", "missing (every destination needs a unique name)");
  if (!t.contains("kind"))
    return fail("kind", "missing (expected one of " + kinds + ")");
  for (auto& k : table) {
    if (!k.kind.empty() && k.kind != dc.kind && t.contains(k.name))
      return fail(k.name, "not a key of a " + dc.kind + " destination (it belongs to " +
                              std::string{k.kind} + ")");
  }
  const destination_kind* kind = nullptr;
  for (const auto* k : destination_kinds())
    if (k->name == dc.kind)
      kind = k;
  if (kind)
    for (auto& k : kind->keys)
      if (k.required && !t.contains(k.name))
        return fail(k.name, "missing (required for a " + dc.kind + " destination)");
  if (dc.event_types.empty())
    return fail("event_types", "must list at least one event type");
  std::set<std::string> unique(dc.event_types.begin(), dc.event_types.end());
  if (unique.size() != dc.event_types.size())
    return fail("event_types", "lists an event type twice");
  if (dc.retry.initial > dc.retry.max)
    return fail("retry_initial",
                "must not exceed retry_max (" + show_duration(dc.retry.max) + ")");
  if (dc.pii == "hash" && dc.pii_key.size() < 16)
    return fail("pii_key", dc.pii_key.empty()
                               ? "missing (required with pii = \"hash\")"
                               : "too short: at least 16 bytes (a guessable key lets "
                                 "anyone hash a known e-mail and find it)");
  if (dc.pii != "hash" && !dc.pii_key.empty())
    return fail("pii_key", "only used with pii = \"hash\"");
  if (kind && kind->check)
    if (auto fault = kind->check(dc))
      return locate_fault(*fault, prefix + "." + fault->key, origin, t, fault->key, &t);
  return std::nullopt;
}

/// One `[[token]]` or `[[source]]` table: every key known, the required ones
/// present, then the table's own rule (`first` names the key whose line a
/// rule's message points at when the fault has none of its own).
template <class Owner, class Check>
opt_error parse_entry(const toml::table& t, Owner& o,
                      const std::vector<key_def<Owner>>& table, Check check,
                      std::string_view first, std::string_view what,
                      const std::string& prefix, std::string_view origin,
                      std::vector<error>& faults) {
  if (!read_keys(t, o, table, prefix, origin, faults))
    return std::nullopt; // its faults are in `faults`
  for (auto& k : table)
    if (k.required && !t.contains(k.name))
      return locate_fault(
          {std::string{k.name}, "missing (every " + std::string{what} + " needs it)"},
          prefix + "." + std::string{k.name}, origin, t, k.name, &t);
  if (auto fault = check(o))
    return locate_fault(*fault, prefix + "." + fault->key, origin, t,
                        t.contains(fault->key) ? std::string_view{fault->key} : first,
                        &t);
  return std::nullopt;
}

/// An array of tables (`[[token]]`, `[[source]]`), each read by parse_entry.
template <class Owner, class Check>
void parse_entries(std::string_view section, const toml::node& node,
                   std::vector<Owner>& out, const std::vector<key_def<Owner>>& table,
                   Check check, std::string_view first, std::string_view what,
                   std::string_view origin, std::vector<error>& faults) {
  auto arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    faults.push_back(
        locate(wrong_type(std::string{section},
                          "an array of tables ([[" + std::string{section} + "]])", node),
               origin, &node));
    return;
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    Owner o;
    if (auto e = parse_entry(*arr->get(i)->as_table(), o, table, check, first, what,
                             std::string{section} + "[" + std::to_string(i) + "]", origin,
                             faults))
      faults.push_back(std::move(*e));
    out.push_back(std::move(o));
  }
}

/// The line locate() put into a message from `origin` (none: after all).
std::size_t located_line(const error& e, std::string_view origin) {
  std::string_view m = e.message;
  std::size_t line = 0;
  if (m.size() > origin.size() + 1 && m.substr(0, origin.size()) == origin &&
      m[origin.size()] == ':') {
    for (std::size_t i = origin.size() + 1; i < m.size() && std::isdigit(m[i]) != 0; ++i)
      line = line * 10 + static_cast<std::size_t>(m[i] - '0');
  }
  return line == 0 ? std::numeric_limits<std::size_t>::max() : line;
}

/// All the faults of a file as one error, in file order (toml++ keeps a
/// table's keys sorted, not as written): the first's field, every message
/// (one alone as it is; several counted, one per line).
error combined(std::vector<error> faults, std::string_view origin) {
  std::stable_sort(faults.begin(), faults.end(), [&](const error& a, const error& b) {
    return located_line(a, origin) < located_line(b, origin);
  });
  if (faults.size() == 1)
    return std::move(faults.front());
  error all = faults.front();
  all.message = std::to_string(faults.size()) + " errors:";
  for (auto& f : faults)
    all.message += "\n  " + f.message;
  return all;
}

} // namespace

expected<std::string> resolve_secret(std::string_view value) {
  if (value.starts_with("env:")) {
    std::string name{value.substr(4)};
    if (name.empty())
      return make_error({}, "env: needs a variable name (env:NAME)");
    const char* v = std::getenv(name.c_str());
    if (v == nullptr)
      return make_error({}, "environment variable " + name + " is not set");
    if (*v == '\0')
      return make_error({}, "environment variable " + name + " is empty");
    return std::string{v};
  }
  if (value.starts_with("file:")) {
    std::string path{value.substr(5)};
    if (path.empty())
      return make_error({}, "file: needs a path (file:PATH)");
    std::ifstream in{path, std::ios::binary};
    if (!in)
      return make_error({},
                        "cannot read secret file " + path + ": " + std::strerror(errno));
    std::ostringstream os;
    os << in.rdbuf();
    auto s = os.str();
    if (!s.empty() && s.back() == '\n') {
      s.pop_back();
      if (!s.empty() && s.back() == '\r')
        s.pop_back();
    }
    if (s.empty())
      return make_error({}, "secret file " + path + " is empty");
    return s;
  }
  return std::string{value};
}

config default_config() {
  return config{};
}

expected<config> parse_config(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    auto& b = e.source().begin;
    return error{"config",
                 {},
                 std::string{origin} + ":" + std::to_string(b.line) + ":" +
                     std::to_string(b.column) +
                     ": invalid TOML: " + std::string{e.description()}};
  }
  config cfg = default_config();
  std::vector<std::string_view> top_names = section_names();
  top_names.emplace_back("destination");
  top_names.emplace_back("token");
  top_names.emplace_back("source");
  // Every fault of the file in one run, in file order: a key's fault does
  // not stop the keys after it. The rules between sections run only when
  // every key read (they would judge values that are not there).
  std::vector<error> faults;
  for (auto&& [key, node] : root) {
    std::string section{key.str()};
    if (section == "token") {
      parse_entries(section, node, cfg.tokens, token_keys(), check_token, "scopes",
                    "token", origin, faults);
      continue;
    }
    if (section == "source") {
      parse_entries(section, node, cfg.sources, source_keys(), check_source, "kind",
                    "source", origin, faults);
      continue;
    }
    if (section == "destination") {
      auto arr = node.as_array();
      if (!arr || !arr->is_array_of_tables()) {
        faults.push_back(locate(
            wrong_type("destination", "an array of tables ([[destination]])", node),
            origin, &node));
        continue;
      }
      std::set<std::string> names;
      for (std::size_t i = 0; i < arr->size(); ++i) {
        auto& t = *arr->get(i)->as_table();
        auto prefix = "destination[" + std::to_string(i) + "]";
        destination_config dc;
        parse_destination(t, dc, prefix, origin, faults);
        if (!dc.name.empty() && !names.insert(dc.name).second)
          faults.push_back(
              locate(make_error(prefix + ".name",
                                "duplicate destination name " + quoted(dc.name)),
                     origin, t.get("name")));
        cfg.destinations.push_back(std::move(dc));
      }
      continue;
    }
    if (std::find(top_names.begin(), top_names.end(), section) == top_names.end()) {
      faults.push_back(locate(unknown_key(section, section, top_names), origin, &node));
      continue;
    }
    auto table = node.as_table();
    if (!table) {
      faults.push_back(locate(wrong_type(section, "a table ([" + section + "])", node),
                              origin, &node));
      continue;
    }
    std::vector<top_key> keys;
    for (auto& k : top_keys())
      if (k.section == section)
        keys.push_back(k);
    read_keys(*table, cfg, keys, section, origin, faults);
  }
  if (faults.empty()) {
    for (auto& d : cfg.destinations)
      d.pii_fields = cfg.pii.fields;
    for (auto rule : {check_server_keys, check_alerts_keys, check_admission_keys,
                      check_auction_keys, check_token_keys, check_source_keys})
      if (auto fault = rule(cfg))
        faults.push_back(
            locate_fault(*fault, fault->key, origin, root, fault->key, nullptr));
  }
  if (!faults.empty())
    return combined(std::move(faults), origin);
  return cfg;
}

expected<config> load_config(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return error{"config",
                 {},
                 "cannot read configuration file " + path + ": " + std::strerror(errno)};
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad())
    return error{"config", {}, "cannot read configuration file " + path};
  return parse_config(os.str(), path);
}

std::vector<config_key> config_keys() {
  std::vector<config_key> out;
  const config defaults = default_config();
  for (auto& k : top_keys())
    out.push_back({std::string{k.section} + "." + std::string{k.name},
                   k.show(defaults),
                   k.doc,
                   {}});
  const token_config token_defaults;
  for (auto& k : token_keys())
    out.push_back({"token." + std::string{k.name},
                   k.required ? std::string{"(required)"} : k.show(token_defaults),
                   k.doc,
                   {}});
  const source_config source_defaults;
  for (auto& k : source_keys())
    out.push_back({"source." + std::string{k.name},
                   k.required ? std::string{"(required)"} : k.show(source_defaults),
                   k.doc,
                   {}});
  const destination_config dest_defaults;
  for (auto& k : destination_keys()) {
    auto shown = k.show(dest_defaults);
    if (k.required)
      shown = "(required)";
    out.push_back(
        {"destination." + std::string{k.name}, shown, k.doc, std::string{k.kind}});
  }
  return out;
}

bool effective_backfill(const destination_config& d) {
  return d.backfill.value_or(d.kind != "hubspot");
}

unsigned effective_concurrency(const destination_config& d) {
  if (d.concurrency > 0)
    return d.concurrency;
  return d.kind == "eventhub" ? 32u : 8u;
}

} // namespace gavel::adapters
