#define CAF_SUITE adapters.config_docs
#include "adapters/config/config.hpp"
#include "adapters/destinations/hubspot/format.hpp"
#include "protocols/duration.hpp"
#include "protocols/event.hpp"
#include "source_tree.hpp"

#include <caf/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

// The key tables are the one declaration of every key; the reference page
// and the example file are written by hand, so these tests hold them to the
// tables, defaults included.

using namespace gavel::adapters;
using gavel::test::source_dir;

namespace {

std::string read_text(const std::string& relative) {
  std::ifstream in{source_dir() + "/" + relative};
  CAF_REQUIRE(in);
  return {std::istreambuf_iterator<char>{in}, {}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

std::map<std::string, config_key> keys_by_name() {
  std::map<std::string, config_key> out;
  for (auto& k : config_keys())
    out.emplace(k.key, k);
  return out;
}

std::string all_event_types() {
  std::string out = "[";
  for (auto t : gavel::protocols::event_type_names)
    out += (out.size() > 1 ? ", \"" : "\"") + std::string{t} + "\"";
  return out + "]";
}

/// Whether a default written by hand says the same as the table's: the same
/// text, or the same duration in another unit ("60s" for "1m"). The prose
/// forms `required` and `all four` (event types) are accepted for what the
/// listing writes `(required)` and as the full list.
bool same_default(std::string written, const std::string& code) {
  if (written == "required")
    written = "(required)";
  if (written == "all four")
    written = all_event_types();
  if (written == code)
    return true;
  auto unquote = [](const std::string& s) -> std::optional<std::string> {
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
      return s.substr(1, s.size() - 2);
    return std::nullopt;
  };
  auto a = unquote(written);
  auto b = unquote(code);
  if (!a || !b)
    return false;
  auto da = gavel::protocols::parse_duration(*a);
  auto db = gavel::protocols::parse_duration(*b);
  return da && db && *da == *db;
}

} // namespace

CAF_TEST(the example documents every key) {
  auto text = read_text("config/gavel.example.toml");
  for (auto& k : config_keys()) {
    auto name = k.key.substr(k.key.find('.') + 1);
    auto documented = text.find("\n" + name + " =") != std::string::npos ||
                      text.find("\n# " + name + " =") != std::string::npos;
    if (!documented)
      CAF_ERROR("config/gavel.example.toml does not document " << k.key);
    CAF_CHECK(!k.doc.empty());
  }
}

CAF_TEST(the reference page lists every key with its default and no other) {
  auto keys = keys_by_name();
  // | `section.key` | kind | default | valid values | meaning |
  static const std::regex row{R"(^\| `([a-z_]+\.[a-z_0-9]+)` \|([^|]*)\|([^|]*)\|)"};
  std::map<std::string, std::string> documented;
  for (const auto& line : lines_of(read_text("docs/configuration.md"))) {
    std::smatch m;
    if (!std::regex_search(line, m, row))
      continue;
    static const std::regex cell{R"(^\s*`?(.*?)`?\s*$)"};
    std::smatch d;
    std::string raw = m[3].str();
    std::regex_match(raw, d, cell);
    if (!documented.emplace(m[1].str(), d[1].str()).second)
      CAF_ERROR("docs/configuration.md lists " << m[1].str() << " twice");
  }
  for (const auto& [name, k] : keys) {
    auto it = documented.find(name);
    if (it == documented.end()) {
      CAF_ERROR("docs/configuration.md does not list " << name);
      continue;
    }
    if (!same_default(it->second, k.default_value))
      CAF_ERROR("docs/configuration.md: " << name << " defaults to " << it->second
                                          << ", the code to " << k.default_value);
  }
  for (const auto& [name, written] : documented)
    if (keys.count(name) == 0)
      CAF_ERROR("docs/configuration.md lists " << name << ", which is no key");
}

CAF_TEST(every default stated in the example is the one in the code) {
  auto keys = keys_by_name();
  auto check = [&](const std::string& key, const std::string& written, std::size_t line) {
    auto it = keys.find(key);
    if (it == keys.end()) {
      CAF_ERROR("config/gavel.example.toml:" << line << ": " << key << " is no key");
      return;
    }
    if (!same_default(written, it->second.default_value))
      CAF_ERROR("config/gavel.example.toml:" << line << ": " << key << " defaults to "
                                             << written << ", the code to "
                                             << it->second.default_value);
  };
  // A value as written in a comment: a string, an array, the prose `all
  // four`, or a bare word or number.
  const std::string value = R"(("[^"]*"|\[[^\]]*\]|all four|[^\s;(.]+(?:\.\d+)?))";
  // `#   concurrency       default 0 = ...` (the common destination keys).
  const std::regex common{R"(^#   ([a-z_0-9]+) +default:? )" + value};
  // `# eventhub: default "1h". ...`: the default of the next key assigned.
  const std::regex of_kind{R"(^# [a-z]+: default )" + value};
  // Assignments; a commented one (`# smtp_url = "smtp://..."`) shows a
  // value other than the default on purpose.
  const std::regex assignment{R"(^([a-z_0-9]+) = (.*)$)"};
  const std::regex section{R"(^\[\[?([a-z]+)\]\]?)"};
  std::string current;
  std::optional<std::pair<std::string, std::size_t>> pending;
  std::size_t n = 0;
  std::size_t stated = 0;
  for (const auto& line : lines_of(read_text("config/gavel.example.toml"))) {
    ++n;
    std::smatch m;
    if (std::regex_search(line, m, section)) {
      current = m[1].str();
    } else if (std::regex_search(line, m, common)) {
      check("destination." + m[1].str(), m[2].str(), n);
      ++stated;
    } else if (std::regex_search(line, m, of_kind)) {
      pending.emplace(m[1].str(), n);
    } else if (std::regex_search(line, m, assignment)) {
      auto key = current + "." + m[1].str();
      if (pending) {
        check(key, pending->first, pending->second);
        ++stated;
        pending.reset();
      } else if (current != "destination" && current != "token" && current != "source" &&
                 key != "ingest.tokens") {
        // The sections show each key at its default ("A key left out takes
        // the default shown here"); the ingest token is set on purpose, since
        // without one every request is refused, and the [[token]] and
        // [[source]] tables are examples of keys that have no default.
        check(key, m[2].str(), n);
      }
    }
  }
  CAF_CHECK(!pending);
  // The common destination keys and the kinds' defaulted ones.
  CAF_CHECK_GREATER_OR_EQUAL(stated, 14u);
}

CAF_TEST(the example names the default hubspot mapping) {
  // The example spells the default properties out for the reader; they must
  // be the ones the client maps (hubspot/format.cpp) and no others.
  auto text = read_text("config/gavel.example.toml");
  auto from = text.find("Default: ");
  CAF_REQUIRE(from != std::string::npos);
  auto to = text.find(". The id_property", from);
  CAF_REQUIRE(to != std::string::npos);
  auto prose = text.substr(from, to - from);
  std::size_t mentioned = 0;
  for (const auto& [name, path] : default_hubspot_mapping()) {
    if (prose.find(name) == std::string::npos)
      CAF_ERROR("config/gavel.example.toml does not name " << name);
    ++mentioned;
  }
  static const std::regex word{R"([a-z]+_[a-z_]+|amount|currency)"};
  std::size_t words = std::distance(
      std::sregex_iterator{prose.begin(), prose.end(), word}, std::sregex_iterator{});
  CAF_CHECK_EQUAL(words, mentioned);
}
