#include "adapters/destinations/eventhub/format.hpp"

#include "protocols/json.hpp"

namespace gavel::adapters {

namespace json = protocols::json;

namespace {

void append_message(const eventhub_message& m, std::string& out) {
  out += "{\"Body\":";
  json::dump_string(m.body, out);
  out += ",\"BrokerProperties\":{\"PartitionKey\":";
  json::dump_string(m.partition_key, out);
  out += "},\"UserProperties\":{\"event_id\":";
  json::dump_string(m.event_id, out);
  out += ",\"event_type\":";
  json::dump_string(m.event_type, out);
  out += "}}";
}

} // namespace

std::string eventhub_batch_body(const std::vector<eventhub_message>& messages) {
  std::string out;
  std::size_t total = 2;
  for (const auto& m : messages)
    total += eventhub_message_size(m) + 1;
  out.reserve(total);
  out += '[';
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (i > 0)
      out += ',';
    append_message(messages[i], out);
  }
  out += ']';
  return out;
}

std::size_t eventhub_message_size(const eventhub_message& m) {
  std::string out;
  append_message(m, out);
  return out.size();
}

std::string eventhub_resource_uri(std::string_view endpoint, std::string_view hub) {
  std::string_view rest = endpoint;
  for (std::string_view scheme : {"https://", "http://", "sb://"})
    if (rest.substr(0, scheme.size()) == scheme) {
      rest.remove_prefix(scheme.size());
      break;
    }
  while (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  std::string out = "https://";
  out += rest;
  out += '/';
  out += hub;
  return out;
}

} // namespace gavel::adapters
