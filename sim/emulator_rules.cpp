#include "sim/emulator_rules.hpp"

#include "adapters/http/http.hpp"
#include "protocols/crypto.hpp"
#include "protocols/json.hpp"
#include "sim/common.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <openssl/crypto.h>

namespace gavel::sim {

using nlohmann::json;

namespace {

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

protocols::error fail(std::string code, std::string message) {
  return protocols::error{std::move(code), "", std::move(message)};
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || res.ec != std::errc{} || res.ptr != s.data() + s.size())
    return std::nullopt;
  return v;
}

} // namespace

// -- SAS ----------------------------------------------------------------------

std::optional<sas_fields> parse_sas_header(std::string_view header) {
  constexpr std::string_view scheme = "SharedAccessSignature ";
  if (!adapters::starts_with_nocase(header, scheme))
    return std::nullopt;
  auto rest = header.substr(scheme.size());
  sas_fields f;
  bool has_sr = false, has_sig = false, has_se = false, has_skn = false;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      continue;
    auto name = part.substr(0, eq);
    auto value = std::string{part.substr(eq + 1)};
    if (name == "sr")
      f.sr = std::move(value), has_sr = true;
    else if (name == "sig")
      f.sig = std::move(value), has_sig = true;
    else if (name == "se")
      f.se = std::move(value), has_se = true;
    else if (name == "skn")
      f.skn = std::move(value), has_skn = true;
  }
  if (!has_sr || !has_sig || !has_se || !has_skn)
    return std::nullopt;
  return f;
}

std::string normalize_resource(std::string_view uri) {
  for (std::string_view scheme : {"https://", "http://", "sb://", "amqps://"})
    if (adapters::starts_with_nocase(uri, scheme)) {
      uri.remove_prefix(scheme.size());
      break;
    }
  while (!uri.empty() && uri.back() == '/')
    uri.remove_suffix(1);
  return adapters::ascii_lower(uri);
}

const char* to_string(sas_verdict v) {
  switch (v) {
  case sas_verdict::ok:
    return "ok";
  case sas_verdict::missing:
    return "missing";
  case sas_verdict::malformed:
    return "malformed";
  case sas_verdict::expired:
    return "expired";
  case sas_verdict::wrong_key_name:
    return "wrong_key_name";
  case sas_verdict::wrong_audience:
    return "wrong_audience";
  case sas_verdict::bad_signature:
    return "bad_signature";
  }
  return "unknown";
}

sas_verdict check_sas(std::string_view header, const sas_expectation& expect) {
  if (header.empty())
    return sas_verdict::missing;
  auto f = parse_sas_header(header);
  if (!f)
    return sas_verdict::malformed;
  auto expiry = parse_int(f->se);
  if (!expiry)
    return sas_verdict::malformed;
  if (*expiry <= expect.now_unix_s)
    return sas_verdict::expired;
  if (url_decode(f->skn) != expect.key_name)
    return sas_verdict::wrong_key_name;
  auto audience = normalize_resource(url_decode(f->sr));
  const auto& entity = expect.entity;
  bool covers =
      audience == entity || (entity.size() > audience.size() &&
                             entity.compare(0, audience.size(), audience) == 0 &&
                             entity[audience.size()] == '/');
  if (audience.empty() || !covers)
    return sas_verdict::wrong_audience;
  auto expected_sig =
      protocols::base64_encode(protocols::hmac_sha256(expect.key, f->sr + "\n" + f->se));
  if (!equal_constant_time(url_decode(f->sig), expected_sig))
    return sas_verdict::bad_signature;
  return sas_verdict::ok;
}

// -- Event Hubs ---------------------------------------------------------------

std::optional<eventhub_target> parse_eventhub_path(std::string_view path) {
  if (path.empty() || path.front() != '/')
    return std::nullopt;
  std::vector<std::string_view> segs;
  auto rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    segs.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    rest = rest.substr(slash + 1);
  }
  for (auto s : segs)
    if (s.empty())
      return std::nullopt;
  if (segs.size() == 2 && segs[1] == "messages")
    return eventhub_target{std::string{segs[0]}, std::nullopt};
  if (segs.size() == 4 && segs[1] == "partitions" && segs[3] == "messages")
    return eventhub_target{std::string{segs[0]}, std::string{segs[2]}};
  return std::nullopt;
}

expected<std::vector<eventhub_message>> parse_eventhub_batch(std::string_view body) {
  namespace pj = protocols::json;
  auto j = pj::parse(body);
  if (!j)
    return fail("malformed", "the body is not valid JSON");
  if (!j->is_array())
    return fail("malformed", "a batch is a JSON array of messages");
  if (j->items.empty())
    return fail("malformed", "the batch is empty");
  std::vector<eventhub_message> out;
  out.reserve(j->items.size());
  for (std::size_t i = 0; i < j->items.size(); ++i) {
    auto& m = j->items[i];
    auto where = [i] { return "message " + std::to_string(i) + ": "; };
    if (!m.is_object())
      return fail("malformed", where() + "not an object");
    auto* b = m.find("Body");
    if (!b || !b->is_string())
      return fail("malformed", where() + "Body must be a string");
    eventhub_message msg;
    msg.body = std::move(b->text);
    if (auto* bp = m.find("BrokerProperties")) {
      if (!bp->is_object())
        return fail("malformed", where() + "BrokerProperties must be an object");
      if (auto* pk = bp->find("PartitionKey")) {
        if (!pk->is_string())
          return fail("malformed", where() + "PartitionKey must be a string");
        msg.partition_key = pk->text;
      }
    }
    if (auto* up = m.find("UserProperties"); up && !up->is_object())
      return fail("malformed", where() + "UserProperties must be an object");
    out.push_back(std::move(msg));
  }
  return out;
}

std::string partition_key_mix_error(const std::vector<eventhub_message>& batch) {
  if (batch.empty())
    return {};
  const auto& first = batch.front().partition_key;
  for (std::size_t i = 1; i < batch.size(); ++i)
    if (batch[i].partition_key != first) {
      auto show = [](const std::optional<std::string>& k) {
        return k ? "'" + *k + "'" : std::string{"none"};
      };
      return "message " + std::to_string(i) + " has PartitionKey " +
             show(batch[i].partition_key) + ", message 0 has " + show(first) +
             "; one send must not mix partition keys";
    }
  return {};
}

std::uint32_t partition_for_key(std::string_view key, std::uint32_t partitions) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return partitions == 0 ? 0 : static_cast<std::uint32_t>(h % partitions);
}

// -- HubSpot ------------------------------------------------------------------

std::optional<std::string> parse_hubspot_upsert_path(std::string_view path) {
  constexpr std::string_view prefix = "/crm/v3/objects/";
  constexpr std::string_view suffix = "/batch/upsert";
  if (path.size() <= prefix.size() + suffix.size() ||
      path.substr(0, prefix.size()) != prefix ||
      path.substr(path.size() - suffix.size()) != suffix)
    return std::nullopt;
  auto type = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (type.find('/') != std::string_view::npos)
    return std::nullopt;
  return std::string{type};
}

std::vector<std::string> duplicate_ids(const std::vector<hubspot_input>& inputs) {
  std::vector<std::string> out;
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const auto& in : inputs)
    if (++seen[{in.id_property, in.id}] == 2)
      out.push_back(in.id);
  return out;
}

expected<std::vector<hubspot_input>> parse_hubspot_batch(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded())
    return fail("malformed", "Invalid input JSON on line 1: the body is not valid JSON");
  if (!j.is_object())
    return fail("malformed", "the body must be an object with an inputs array");
  auto in = j.find("inputs");
  if (in == j.end() || !in->is_array())
    return fail("malformed", "inputs must be an array");
  if (in->empty())
    return fail("empty", "inputs must not be empty");
  if (in->size() > hubspot_max_inputs)
    return fail("too_many", "Batch input limit exceeded: " + std::to_string(in->size()) +
                                " inputs, the limit is " +
                                std::to_string(hubspot_max_inputs));
  std::vector<hubspot_input> out;
  out.reserve(in->size());
  for (std::size_t i = 0; i < in->size(); ++i) {
    const auto& item = (*in)[i];
    auto where = "inputs[" + std::to_string(i) + "]: ";
    if (!item.is_object())
      return fail("malformed", where + "not an object");
    hubspot_input input;
    auto id = item.find("id");
    if (id == item.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
      return fail("malformed", where + "id must be a non-empty string");
    input.id = id->get<std::string>();
    if (auto p = item.find("idProperty"); p != item.end()) {
      if (!p->is_string())
        return fail("malformed", where + "idProperty must be a string");
      input.id_property = p->get<std::string>();
    }
    auto props = item.find("properties");
    if (props == item.end() || !props->is_object())
      return fail("malformed", where + "properties must be an object");
    for (auto it = props->begin(); it != props->end(); ++it)
      if (it->is_object() || it->is_array())
        return fail("malformed", where + "property " + it.key() +
                                     " must be a string, number, boolean or null");
    input.properties = *props;
    out.push_back(std::move(input));
  }
  return out;
}

std::string canonical_json(const json& value) {
  return value.dump();
}

std::string property_text(const json& value) {
  if (value.is_string())
    return value.get<std::string>();
  if (value.is_null())
    return {};
  return value.dump();
}

std::optional<poison_rule> parse_poison_rule(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return std::nullopt;
  return poison_rule{std::string{text.substr(0, eq)}, std::string{text.substr(eq + 1)}};
}

bool is_poisoned(const hubspot_input& input, const std::vector<poison_rule>& rules,
                 const std::vector<std::string>& bad_ids) {
  if (std::find(bad_ids.begin(), bad_ids.end(), input.id) != bad_ids.end())
    return true;
  for (const auto& rule : rules) {
    auto it = input.properties.find(rule.property);
    if (it != input.properties.end() && property_text(*it) == rule.value)
      return true;
  }
  return false;
}

// -- rate limit ---------------------------------------------------------------

std::optional<rate_limit_spec> parse_rate_limit(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto limit = parse_int(text.substr(0, slash));
  auto window = parse_duration(text.substr(slash + 1));
  if (!limit || *limit <= 0 || !window || window->count() <= 0)
    return std::nullopt;
  return rate_limit_spec{static_cast<std::size_t>(*limit), window->count()};
}

rate_window::rate_window(rate_limit_spec spec) : spec_(spec) {}

void rate_window::expire(std::int64_t now_ms) {
  auto cutoff = now_ms - spec_.window_ms;
  while (!offered_.empty() && offered_.front() <= cutoff)
    offered_.pop_front();
  while (!admitted_.empty() && admitted_.front() <= cutoff)
    admitted_.pop_front();
}

void rate_window::note_received(std::int64_t now_ms) {
  expire(now_ms);
  offered_.push_back(now_ms);
  max_offered_ = std::max(max_offered_, offered_.size());
}

rate_window::decision rate_window::admit(std::int64_t now_ms) {
  expire(now_ms);
  decision d;
  if (admitted_.size() < spec_.limit) {
    admitted_.push_back(now_ms);
    max_admitted_ = std::max(max_admitted_, admitted_.size());
    d.admitted = true;
    d.remaining = spec_.limit - admitted_.size();
  } else {
    d.retry_after_ms = admitted_.front() + spec_.window_ms - now_ms;
  }
  return d;
}

std::size_t rate_window::remaining(std::int64_t now_ms) {
  expire(now_ms);
  return spec_.limit > admitted_.size() ? spec_.limit - admitted_.size() : 0;
}

// -- outages ------------------------------------------------------------------

std::optional<outage_window> parse_outage(std::string_view text) {
  auto plus = text.find('+');
  if (plus == std::string_view::npos)
    return std::nullopt;
  auto start = parse_duration(text.substr(0, plus));
  auto length = parse_duration(text.substr(plus + 1));
  if (!start || !length || length->count() <= 0)
    return std::nullopt;
  return outage_window{start->count(), length->count()};
}

// -- arrival lines ------------------------------------------------------------

std::optional<std::int64_t> json_int(const json& obj, const char* key) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end())
    return std::nullopt;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_string())
    return parse_int(it->get_ref<const std::string&>());
  return std::nullopt;
}

arrival_fields envelope_arrival(std::string_view envelope) {
  arrival_fields a;
  a.sha256 = sha256_hex(envelope);
  // Gavel's own JSON model (vector-backed objects): a fraction of the cost of
  // a std::map DOM, which made the emulators a large share of a bench's CPU.
  namespace pj = protocols::json;
  auto j = pj::parse(envelope);
  const pj::value* meta = nullptr;
  const pj::value* data = nullptr;
  if (j && j->is_object()) {
    meta = j->find("metadata");
    data = j->find("data");
    if (meta && !meta->is_object())
      meta = nullptr;
    if (data && !data->is_object())
      data = nullptr;
  }
  auto text_of = [](const pj::value* obj, const char* key) -> std::string {
    const pj::value* v = obj ? obj->find(key) : nullptr;
    return v && v->is_string() ? v->text : std::string{};
  };
  auto int_of = [](const pj::value* obj, const char* key) -> std::optional<std::int64_t> {
    const pj::value* v = obj ? obj->find(key) : nullptr;
    if (!v || !(v->is_number() || v->is_string()))
      return std::nullopt;
    return parse_int(v->text); // an integer literal, or digits in a string
  };
  a.event_id = text_of(meta, "event_id");
  a.event_type = text_of(meta, "event_type");
  a.auction_id = int_of(data, "auction_id");
  a.total_bid_count = int_of(data, "total_bid_count");
  a.bid_sequence = int_of(meta, "bid_sequence");
  a.malformed = !meta || !data || a.event_id.empty() || a.event_type.empty();
  return a;
}

arrival_fields hubspot_arrival(const hubspot_input& input) {
  arrival_fields a;
  const auto& p = input.properties;
  a.sha256 = sha256_hex(canonical_json(p));
  auto text = [&](const char* key) -> std::string {
    auto it = p.find(key);
    return it == p.end() ? std::string{} : property_text(*it);
  };
  a.event_id = text("gavel_event_id");
  a.event_type = text("gavel_event_type");
  a.auction_id = json_int(p, "auction_id");
  a.bid_sequence = json_int(p, "bid_sequence");
  a.total_bid_count = json_int(p, "total_bid_count");
  a.record_id = input.id;
  a.malformed = a.event_id.empty() || a.event_type.empty();
  return a;
}

namespace {

void append_opt_int(std::optional<std::int64_t> v, std::string& out) {
  if (v)
    append_int(*v, out);
  else
    out += "null";
}

} // namespace

std::string arrival_line(const arrival_fields& a) {
  std::string line;
  line.reserve(320);
  line += "{\"t_ms\":";
  append_fixed(a.t_ms, 3, line);
  line += ",\"event_id\":";
  append_json_string(a.event_id, line);
  line += ",\"event_type\":";
  append_json_string(a.event_type, line);
  line += ",\"auction_id\":";
  append_opt_int(a.auction_id, line);
  line += ",\"bid_sequence\":";
  append_opt_int(a.bid_sequence, line);
  line += ",\"total_bid_count\":";
  append_opt_int(a.total_bid_count, line);
  line += ",\"sha256\":\"";
  line += a.sha256;
  line += "\",\"sig_ok\":true,\"webhook_id\":";
  append_json_string(a.event_id, line);
  if (a.partition) {
    line += ",\"partition\":";
    append_int(*a.partition, line);
    line += ",\"partition_key\":";
    if (a.partition_key)
      append_json_string(*a.partition_key, line);
    else
      line += "null";
  }
  if (!a.object_type.empty()) {
    line += ",\"object_type\":";
    append_json_string(a.object_type, line);
    line += ",\"record_id\":";
    append_json_string(a.record_id, line);
  }
  if (a.request) {
    line += ",\"request\":";
    append_int(*a.request, line);
  }
  if (a.malformed)
    line += ",\"malformed\":true";
  line += "}\n";
  return line;
}

} // namespace gavel::sim
