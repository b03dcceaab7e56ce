// `sim receive`: a Standard Webhooks receiver that records every arrival.

#include "adapters/http/http.hpp"
#include "protocols/crypto.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"
#include "sim/emulator.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <iostream>

namespace gavel::sim {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;

class receiver {
public:
  receiver(const receive_args& args, emulator_host& host) : args_(args), host_(host) {}

  void handle(http_request&& req, http_responder respond) {
    if (req.method != "POST") {
      respond(http_response{405, "text/plain", {{"Allow", "POST, GET"}}, ""});
      return;
    }
    if (host_.in_outage() && outage_applies(req.body))
      return host_.outage_reply(
          std::move(respond), http_response{503, "text/plain", {}, "emulated outage\n"});
    on_post(std::move(req), std::move(respond));
  }

  std::string stats_json() {
    std::string s = "{\"arrivals\":";
    append_int(arrivals_.load(), s);
    s += ",\"rejected_signature\":";
    append_int(rejected_signature_.load(), s);
    s += ",\"malformed\":";
    append_int(malformed_.load(), s);
    s += ",\"poisoned\":";
    append_int(poisoned_.load(), s);
    s += ",";
    s += host_.fault_stats_json();
    s += "}";
    return s;
  }

private:
  // --outage-auction narrows an outage to some auctions: a destination that
  // fails for one auction while the others flow, which holds a
  // delivered-through prefix back (bench scenario crash-redeliveries).
  bool outage_applies(std::string_view body) const {
    if (args_.outage_auctions.empty())
      return true;
    auto a = envelope_arrival(body);
    return !a.malformed && a.auction_id &&
           std::find(args_.outage_auctions.begin(), args_.outage_auctions.end(),
                     *a.auction_id) != args_.outage_auctions.end();
  }

  void on_post(http_request&& req, http_responder respond) {
    const double t = now_unix_ms();
    auto id = req.header("webhook-id");
    auto ts_text = req.header("webhook-timestamp");
    auto sig = req.header("webhook-signature");
    std::int64_t ts = 0;
    auto res = std::from_chars(ts_text.data(), ts_text.data() + ts_text.size(), ts);
    const bool ts_ok = !ts_text.empty() && res.ec == std::errc{} &&
                       res.ptr == ts_text.data() + ts_text.size();
    const bool sig_ok =
        !id.empty() && ts_ok && !sig.empty() &&
        protocols::webhook_signature_matches(args_.secret, id, ts, req.body, sig);
    if (sig_ok && host_.roll_failure()) {
      host_.reply(
          std::move(respond),
          http_response{host_.fail_status(), "text/plain", {}, "injected failure\n"});
      return;
    }
    auto a = envelope_arrival(req.body);
    a.t_ms = t;
    if (sig_ok && !a.event_id.empty() && host_.is_poison_event(a.event_id)) {
      ++poisoned_;
      host_.reply(std::move(respond),
                  http_response{422, "text/plain", {}, "emulated poison event\n"});
      return;
    }
    // The webhook line: sig_ok and webhook_id are what the request carried.
    auto line = arrival_line(a);
    auto tail = line.find(",\"sig_ok\":true,\"webhook_id\":");
    std::string fixed = line.substr(0, tail);
    fixed += ",\"sig_ok\":";
    fixed += sig_ok ? "true" : "false";
    fixed += ",\"webhook_id\":";
    append_json_string(id, fixed);
    if (a.malformed)
      fixed += ",\"malformed\":true";
    fixed += "}\n";
    host_.record(fixed);
    if (!sig_ok) {
      ++rejected_signature_;
      host_.reply(std::move(respond),
                  http_response{401, "text/plain", {}, "bad signature\n"});
    } else if (a.malformed) {
      ++malformed_;
      host_.reply(std::move(respond),
                  http_response{400, "text/plain", {}, "not an envelope\n"});
    } else {
      ++arrivals_;
      http_response ok{204, "", {}, ""};
      ok.drop_connection = host_.roll_drop();
      host_.reply(std::move(respond), std::move(ok));
    }
  }

  const receive_args& args_;
  emulator_host& host_;
  std::atomic<std::int64_t> arrivals_{0};
  std::atomic<std::int64_t> rejected_signature_{0};
  std::atomic<std::int64_t> malformed_{0};
  std::atomic<std::int64_t> poisoned_{0};
};

} // namespace

void add_receive_options(CLI::App& cmd, receive_args& args) {
  add_listen_options(cmd, args.listen);
  cmd.add_option("--secret", args.secret, "webhook secret, whsec_<base64>")->required();
  add_fault_options(cmd, args.faults);
  cmd.add_option("--latency-ms", args.latency_ms,
                 "delay before every response, in ms (when --latency is 0)")
      ->capture_default_str();
  cmd.add_option("--outage-auction", args.outage_auctions,
                 "outages apply only to events of this auction (repeatable)");
  add_poison_event_option(cmd, args.faults, "event_id answered 422 and not recorded");
}

int run_receive(const receive_args& args) {
  if (args.secret.empty()) {
    std::cerr << "sim receive: --secret is required\n";
    return 2;
  }
  auto faults = args.faults;
  if (args.latency_ms > 0 && faults.latency == fault_args{}.latency)
    faults.latency = std::to_string(args.latency_ms) + "ms";
  emulator_host host("receive", args.listen, faults);
  if (auto err = host.configure(); !err.empty()) {
    std::cerr << "sim receive: " << err << "\n";
    return 2;
  }
  receiver recv(args, host);
  return host.run(
      [&recv](http_request&& req, http_responder respond) {
        recv.handle(std::move(req), std::move(respond));
      },
      [&recv] { return recv.stats_json(); });
}

} // namespace gavel::sim
