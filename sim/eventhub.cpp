// `sim eventhub`: an Azure Event Hubs REST endpoint (send, send batch, send
// to a partition) that checks SAS tokens like the service, enforces the 1 MB
// send limit, rejects batches that mix partition keys, and records every
// message. See sim/README.md.

#include "sim/common.hpp"
#include "sim/emulator.hpp"

#include <atomic>
#include <charconv>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>

namespace gavel::sim {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;

/// The service's limit for one send (event or batch), in bytes of body.
constexpr std::size_t max_send_bytes = 1024 * 1024;
constexpr std::string_view batch_content_type =
    "application/vnd.microsoft.servicebus.json";

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

class eventhub_emulator {
public:
  eventhub_emulator(const eventhub_args& args, emulator_host& host)
      : args_(args), host_(host) {
    if (!args.namespace_name.empty()) {
      bool bare = args.namespace_name.find_first_of(".:") == std::string::npos;
      expected_host_ = adapters::ascii_lower(
          bare ? args.namespace_name + ".servicebus.windows.net" : args.namespace_name);
    }
  }

  void handle(http_request&& req, http_responder respond) {
    ++requests_;
    auto path = std::string_view(req.target).substr(0, req.target.find('?'));
    if (host_.in_outage())
      return host_.outage_reply(
          std::move(respond),
          error(503, "ServerBusy: The service is unavailable (emulated outage)."));
    auto target = parse_eventhub_path(path);
    if (req.method != "POST" || !target) {
      ++not_found_;
      return host_.reply(std::move(respond),
                         error(404, "No service is hosted at the specified address."));
    }
    auto entity_host = expected_host_.empty() ? adapters::ascii_lower(req.header("host"))
                                              : expected_host_;
    auto entity = entity_host + "/" + adapters::ascii_lower(target->hub);
    if (target->partition_id)
      entity += "/partitions/" + adapters::ascii_lower(*target->partition_id);
    sas_expectation expect{args_.key_name, args_.key, entity,
                           static_cast<std::int64_t>(std::time(nullptr))};
    auto verdict = check_sas(req.header("authorization"), expect);
    if (verdict != sas_verdict::ok)
      return unauthorized(verdict, std::move(respond));
    if (adapters::ascii_lower(target->hub) != adapters::ascii_lower(args_.hub)) {
      ++not_found_;
      return host_.reply(std::move(respond),
                         error(404, "The messaging entity '" + entity_host + "/" +
                                        target->hub + "' could not be found."));
    }
    if (host_.roll_failure())
      return host_.reply(
          std::move(respond),
          error(host_.fail_status(), "InternalServerError: injected failure."));
    if (req.body.size() > max_send_bytes) {
      ++too_large_;
      return host_.reply(
          std::move(respond),
          error(413, "The received message (size: " + std::to_string(req.body.size()) +
                         " bytes) exceeds the limit (1048576 bytes) currently allowed "
                         "on the link."));
    }
    std::optional<std::uint32_t> fixed_partition;
    if (target->partition_id) {
      std::uint32_t id = 0;
      const auto& text = *target->partition_id;
      auto res = std::from_chars(text.data(), text.data() + text.size(), id);
      if (res.ec != std::errc{} || res.ptr != text.data() + text.size() ||
          id >= args_.partitions)
        return bad_request("The specified partition '" + text +
                               "' is invalid: there are " +
                               std::to_string(args_.partitions) + " partitions (0.." +
                               std::to_string(args_.partitions - 1) + ").",
                           std::move(respond));
      fixed_partition = id;
    }
    std::vector<eventhub_message> batch;
    if (adapters::starts_with_nocase(req.header("content-type"), batch_content_type)) {
      auto parsed = parse_eventhub_batch(req.body);
      if (!parsed) {
        ++malformed_;
        return bad_request(parsed.err().message, std::move(respond));
      }
      batch = std::move(*parsed);
    } else {
      // Not the batch type: the body is one event, its broker properties in
      // the BrokerProperties header (Send event / Send partition event).
      eventhub_message msg;
      msg.body = std::move(req.body);
      if (auto bp = req.header("brokerproperties"); !bp.empty()) {
        auto j = nlohmann::json::parse(bp, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          ++malformed_;
          return bad_request("BrokerProperties must be a JSON object.",
                             std::move(respond));
        }
        if (auto pk = j.find("PartitionKey"); pk != j.end() && pk->is_string())
          msg.partition_key = pk->get<std::string>();
      }
      batch.push_back(std::move(msg));
    }
    if (auto mix = partition_key_mix_error(batch); !mix.empty()) {
      ++mixed_keys_;
      return bad_request(mix, std::move(respond));
    }
    std::vector<arrival_fields> arrivals;
    arrivals.reserve(batch.size());
    for (const auto& msg : batch) {
      arrivals.push_back(envelope_arrival(msg.body));
      const auto& id = arrivals.back().event_id;
      if (!id.empty() && host_.is_poison_event(id)) {
        ++poisoned_;
        return bad_request("The message with event_id " + id +
                               " was rejected (emulated poison event).",
                           std::move(respond));
      }
    }
    const auto& key = batch.front().partition_key;
    if (fixed_partition && key)
      return bad_request("A partition key cannot be set when sending to a partition.",
                         std::move(respond));
    std::uint32_t partition = fixed_partition ? *fixed_partition
                              : key           ? partition_for_key(*key, args_.partitions)
                                              : next_partition_++ % args_.partitions;
    record(batch, arrivals, partition);
    if (host_.roll_drop())
      return host_.reply(std::move(respond), http_response{201, "", {}, "", true});
    host_.reply(std::move(respond), http_response{201, "", {}, ""});
  }

  std::string stats_json() {
    std::string s = "{\"requests\":";
    append_int(requests_.load(), s);
    s += ",\"sends_accepted\":";
    append_int(sends_.load(), s);
    s += ",\"arrivals\":";
    append_int(arrivals_.load(), s);
    s += ",\"unauthorized\":";
    append_int(unauthorized_.load(), s);
    s += ",\"expired_tokens\":";
    append_int(expired_.load(), s);
    s += ",\"too_large\":";
    append_int(too_large_.load(), s);
    s += ",\"mixed_partition_keys\":";
    append_int(mixed_keys_.load(), s);
    s += ",\"malformed\":";
    append_int(malformed_.load(), s);
    s += ",\"bad_request\":";
    append_int(bad_request_.load(), s);
    s += ",\"not_found\":";
    append_int(not_found_.load(), s);
    s += ",\"poisoned\":";
    append_int(poisoned_.load(), s);
    s += ",";
    s += host_.fault_stats_json();
    s += ",\"partitions\":{";
    {
      std::lock_guard lock{mtx_};
      bool first = true;
      for (auto& [p, n] : per_partition_) {
        if (!first)
          s += ",";
        first = false;
        s += "\"";
        append_int(p, s);
        s += "\":";
        append_int(n, s);
      }
    }
    s += "}}";
    return s;
  }

private:
  /// Azure's error body: XML with the status and a detail carrying a
  /// TrackingId.
  http_response error(int status, std::string detail) {
    http_response r;
    r.status = status;
    r.content_type = "application/xml; charset=utf-8";
    r.body = "<Error><Code>" + std::to_string(status) + "</Code><Detail>" +
             xml_escape(detail) + " TrackingId:" + make_tracking_id() +
             ", SystemTracker:" + xml_escape(args_.hub) +
             ", Timestamp:" + iso8601_ms(static_cast<std::int64_t>(now_unix_ms())) +
             "</Detail></Error>";
    return r;
  }

  void bad_request(std::string detail, http_responder respond) {
    ++bad_request_;
    host_.reply(std::move(respond), error(400, std::move(detail)));
  }

  void unauthorized(sas_verdict verdict, http_responder respond) {
    ++unauthorized_;
    std::string detail;
    switch (verdict) {
    case sas_verdict::missing:
      detail = "MissingToken: The authorization header was not found.";
      break;
    case sas_verdict::expired:
      ++expired_;
      detail = "ExpiredToken: The token is expired.";
      break;
    case sas_verdict::wrong_key_name:
      detail = "Unauthorized: The key name in the token is not a policy of this entity.";
      break;
    case sas_verdict::wrong_audience:
      detail = "InvalidAudience: The token's resource (sr) does not cover this entity.";
      break;
    case sas_verdict::bad_signature:
      detail = "InvalidSignature: The token has an invalid signature.";
      break;
    default:
      detail = "MalformedToken: The credentials contained in the authorization header "
               "are not in the SharedAccessSignature format.";
    }
    host_.reply(std::move(respond), error(401, std::move(detail)));
  }

  void record(const std::vector<eventhub_message>& batch,
              std::vector<arrival_fields>& arrivals, std::uint32_t partition) {
    std::string lines;
    std::lock_guard lock{mtx_};
    // One timestamp per send, taken in the lock so lines stay in time order.
    const double t = now_unix_ms();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& a = arrivals[i];
      a.t_ms = t;
      a.partition = partition;
      a.partition_key = batch[i].partition_key;
      lines += arrival_line(a);
    }
    host_.record(lines);
    per_partition_[partition] += static_cast<std::int64_t>(batch.size());
    arrivals_ += static_cast<std::int64_t>(batch.size());
    ++sends_;
  }

  const eventhub_args& args_;
  emulator_host& host_;
  std::string expected_host_;
  std::mutex mtx_;
  std::map<std::uint32_t, std::int64_t> per_partition_;
  std::atomic<std::uint32_t> next_partition_{0};
  std::atomic<std::int64_t> requests_{0}, sends_{0}, arrivals_{0}, unauthorized_{0},
      expired_{0}, too_large_{0}, mixed_keys_{0}, malformed_{0}, bad_request_{0},
      not_found_{0}, poisoned_{0};
};

} // namespace

int run_eventhub(const eventhub_args& args) {
  if (args.hub.empty() || args.key_name.empty() || args.key.empty() ||
      args.partitions == 0) {
    std::cerr
        << "sim eventhub: --hub, --key-name, --key and --partitions > 0 are needed\n";
    return 2;
  }
  emulator_host host("eventhub", args.listen, args.faults);
  if (auto err = host.configure(); !err.empty()) {
    std::cerr << "sim eventhub: " << err << "\n";
    return 2;
  }
  eventhub_emulator emu(args, host);
  return host.run(
      [&emu](http_request&& req, http_responder respond) {
        emu.handle(std::move(req), std::move(respond));
      },
      [&emu] { return emu.stats_json(); }, {}, 8 * max_send_bytes);
}

} // namespace gavel::sim
