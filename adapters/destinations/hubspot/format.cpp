#include "adapters/destinations/hubspot/format.hpp"

#include <algorithm>
#include <optional>
#include <set>

namespace gavel::adapters {

using protocols::error;
using protocols::expected;
namespace json = protocols::json;

hubspot_mapping default_hubspot_mapping() {
  return {
      {"gavel_event_id", "metadata.event_id"},
      {"gavel_event_type", "metadata.event_type"},
      {"bid_sequence", "metadata.bid_sequence"},
      {"producer_timestamp", "metadata.producer_timestamp"},
      {"auction_id", "data.auction_id"},
      {"bid_id", "data.bid_id"},
      {"bid_amount", "data.bid_amount"},
      {"bid_timestamp", "data.bid_timestamp"},
      {"current_price", "data.current_price"},
      {"bidder_user_id", "data.bidder_user_id"},
      {"end_date", "data.end_date"},
      {"total_bid_count", "data.total_bid_count"},
  };
}

hubspot_mapping hubspot_mapping_of(const std::vector<std::string>& properties) {
  if (properties.empty())
    return default_hubspot_mapping();
  hubspot_mapping out;
  for (const auto& p : properties) {
    auto eq = p.find('=');
    out.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  return out;
}

namespace {

const json::value* lookup(const json::value& root, std::string_view path) {
  const json::value* v = &root;
  while (v && !path.empty()) {
    auto dot = path.find('.');
    auto key = path.substr(0, dot);
    v = v->find(key);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  }
  return v;
}

std::optional<std::string> as_property(const json::value& v) {
  switch (v.k) {
  case json::kind::null:
    return std::nullopt;
  case json::kind::boolean:
    return std::string{v.b ? "true" : "false"};
  case json::kind::number:
  case json::kind::string:
    return v.text;
  default:
    return json::dump(v);
  }
}

void collect_strings(const json::value& v, std::vector<std::string_view>& out) {
  switch (v.k) {
  case json::kind::string:
    out.emplace_back(v.text);
    break;
  case json::kind::array:
    for (const auto& x : v.items)
      collect_strings(x, out);
    break;
  case json::kind::object:
    for (const auto& [k, x] : v.members)
      collect_strings(x, out);
    break;
  default:
    break;
  }
}

int status_of(const json::value& err) {
  if (auto s = err.find("status"); s && (s->is_string() || s->is_number())) {
    int x = 0;
    for (char c : s->text) {
      if (c < '0' || c > '9')
        return 0;
      x = x * 10 + (c - '0');
    }
    return x;
  }
  return 0;
}

} // namespace

expected<json::value> hubspot_input(std::string_view envelope,
                                    const hubspot_mapping& mapping,
                                    std::string_view id_property) {
  auto doc = json::parse(envelope);
  if (!doc)
    return error{"malformed", {}, "envelope is not JSON: " + doc.err().message};
  auto props = json::value::object();
  std::optional<std::string> id;
  for (const auto& [name, path] : mapping) {
    const auto* v = lookup(*doc, path);
    if (!v)
      continue;
    auto text = as_property(*v);
    if (!text)
      continue;
    if (name == id_property)
      id = *text;
    props.set(name, json::value::string(std::move(*text)));
  }
  if (!id)
    return error{"id_property", std::string{id_property},
                 "the mapping gives no value for the id property"};
  auto input = json::value::object();
  input.set("idProperty", json::value::string(std::string{id_property}));
  input.set("id", json::value::string(*id));
  // Lets HubSpot attribute a per-record error in a 207 to this input.
  input.set("objectWriteTraceId", json::value::string(*id));
  input.set("properties", std::move(props));
  return input;
}

std::string hubspot_batch_body(const std::vector<json::value>& inputs) {
  std::string out = "{\"inputs\":[";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0)
      out += ',';
    json::dump(inputs[i], out);
  }
  out += "]}";
  return out;
}

expected<hubspot_outcome>
read_hubspot_response(std::string_view body, std::string_view id_property,
                      const std::vector<std::string>& sent_ids) {
  hubspot_outcome out;
  if (body.empty())
    return out;
  auto doc = json::parse(body);
  if (!doc)
    return error{"malformed", {}, "response is not JSON: " + doc.err().message};
  std::set<std::string_view> sent(sent_ids.begin(), sent_ids.end());
  std::set<std::string> ok, bad;
  if (const auto* results = doc->find("results"); results && results->is_array())
    for (const auto& r : results->items) {
      std::vector<const json::value*> keys{r.find("objectWriteTraceId")};
      if (const auto* p = r.find("properties"))
        keys.push_back(p->find(id_property));
      for (const auto* k : keys)
        if (k && k->is_string() && sent.count(k->text) && ok.insert(k->text).second)
          out.succeeded.push_back(k->text);
    }
  if (const auto* errors = doc->find("errors"); errors && errors->is_array())
    for (const auto& e : errors->items) {
      std::string message;
      if (const auto* m = e.find("message"); m && m->is_string())
        message = m->text;
      std::vector<std::string_view> strings;
      if (const auto* c = e.find("context"))
        collect_strings(*c, strings);
      if (const auto* t = e.find("objectWriteTraceId"))
        collect_strings(*t, strings);
      bool attributed = false;
      for (auto s : strings)
        if (sent.count(s)) {
          attributed = true;
          if (bad.insert(std::string{s}).second)
            out.failed.push_back({std::string{s}, message, status_of(e)});
        }
      if (!attributed)
        out.unattributed.push_back(message.empty() ? json::dump(e) : message);
    }
  // An id reported both ways counts as failed.
  std::erase_if(out.succeeded, [&](const std::string& s) { return bad.count(s) > 0; });
  return out;
}

} // namespace gavel::adapters
