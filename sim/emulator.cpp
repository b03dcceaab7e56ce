// The part every destination emulator shares: server (plain or TLS), fault
// injection, /_sim/ control endpoints, arrival log. See sim/README.md.

#include "sim/emulator.hpp"

#include "sim/common.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <iostream>
#include <limits>

namespace gavel::sim {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
using adapters::query_param;

namespace {

constexpr std::int64_t forever = std::numeric_limits<std::int64_t>::max();

http_response json_response(int status, std::string body) {
  return http_response{status, "application/json", {}, std::move(body)};
}

} // namespace

void add_listen_options(CLI::App& cmd, listen_args& args) {
  cmd.add_option("--listen", args.listen, "host:port to listen on (port 0: any)")
      ->capture_default_str();
  cmd.add_option("--tls-cert", args.tls_cert,
                 "PEM certificate chain: serve https (with --tls-key)");
  cmd.add_option("--tls-key", args.tls_key, "PEM private key of --tls-cert");
  cmd.add_option("--out", args.out, "arrival log (JSON lines, appended)")
      ->capture_default_str();
  cmd.add_option("--threads", args.threads, "I/O threads")->capture_default_str();
}

void add_poison_event_option(CLI::App& cmd, fault_args& args, std::string_view what) {
  cmd.add_option("--poison-event-id", args.poison_event_ids,
                 std::string{what} + " (repeatable)");
}

void add_fault_options(CLI::App& cmd, fault_args& args) {
  cmd.add_option("--fail-rate", args.fail_rate,
                 "fraction of API requests answered --fail-status")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--fail-status", args.fail_status, "status of injected failures")
      ->check(CLI::Range(500, 599))
      ->capture_default_str();
  cmd.add_option("--latency", args.latency, "delay before every API response")
      ->capture_default_str();
  cmd.add_option("--outage", args.outages,
                 "START+DURATION after start, e.g. 10s+60s (repeatable)");
  cmd.add_option("--outage-mode", args.outage_mode,
                 "during an outage: 503 (answer 503) or drop (close unanswered)")
      ->check(CLI::IsMember({"503", "drop"}))
      ->capture_default_str();
  cmd.add_option("--drop-after-accept", args.drop_after_accept,
                 "fraction of accepted requests recorded, then closed unanswered")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--seed", args.seed, "seed of the random fault choices")
      ->capture_default_str();
}

emulator_host::emulator_host(std::string name, listen_args listen, fault_args faults)
    : name_(std::move(name)), listen_(std::move(listen)), faults_(std::move(faults)),
      start_(std::chrono::steady_clock::now()), rng_(faults_.seed) {}

emulator_host::~emulator_host() {
  if (out_)
    std::fclose(out_);
}

std::string emulator_host::configure() {
  if (faults_.fail_rate < 0 || faults_.fail_rate > 1)
    return "--fail-rate must be within [0, 1]";
  if (faults_.drop_after_accept < 0 || faults_.drop_after_accept > 1)
    return "--drop-after-accept must be within [0, 1]";
  if (faults_.fail_status < 500 || faults_.fail_status > 599)
    return "--fail-status must be a 5xx status";
  if (faults_.outage_mode != "503" && faults_.outage_mode != "drop")
    return "--outage-mode must be 503 or drop";
  auto latency = parse_duration(faults_.latency);
  if (!latency)
    return "--latency: bad duration '" + faults_.latency + "'";
  latency_ = *latency;
  for (const auto& text : faults_.outages) {
    auto w = parse_outage(text);
    if (!w)
      return "--outage: want START+DURATION like 10s+60s, got '" + text + "'";
    outages_.push_back(*w);
  }
  if (listen_.tls_cert.empty() != listen_.tls_key.empty())
    return "--tls-cert and --tls-key go together";
  return {};
}

std::int64_t emulator_host::elapsed_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start_)
      .count();
}

bool emulator_host::in_outage() {
  auto now = elapsed_ms();
  std::lock_guard lock{fault_mtx_};
  if (manual_outage_until_ >= 0 && now < manual_outage_until_)
    return true;
  if (now < scheduled_cleared_until_)
    return false;
  for (const auto& w : outages_)
    if (w.contains(now))
      return true;
  return false;
}

int emulator_host::fail_status() {
  std::lock_guard lock{fault_mtx_};
  return faults_.fail_status;
}

void emulator_host::outage_reply(http_responder respond, http_response res) {
  ++outage_rejections_;
  {
    std::lock_guard lock{fault_mtx_};
    res.drop_connection = faults_.outage_mode == "drop";
  }
  reply(std::move(respond), std::move(res));
}

bool emulator_host::roll_failure() {
  bool fail;
  {
    std::lock_guard lock{fault_mtx_};
    fail = faults_.fail_rate > 0 &&
           std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < faults_.fail_rate;
  }
  if (fail)
    ++injected_failures_;
  return fail;
}

bool emulator_host::roll_drop() {
  bool drop;
  {
    std::lock_guard lock{fault_mtx_};
    drop = faults_.drop_after_accept > 0 &&
           std::uniform_real_distribution<double>(0.0, 1.0)(rng_) <
               faults_.drop_after_accept;
  }
  if (drop)
    ++dropped_after_accept_;
  return drop;
}

bool emulator_host::is_poison_event(std::string_view event_id) {
  std::lock_guard lock{fault_mtx_};
  for (const auto& id : faults_.poison_event_ids)
    if (id == event_id)
      return true;
  return false;
}

void emulator_host::reply(http_responder respond, http_response res) {
  std::chrono::milliseconds latency;
  {
    std::lock_guard lock{fault_mtx_};
    latency = latency_;
  }
  if (latency.count() == 0) {
    respond(std::move(res));
    return;
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(io_->context(), latency);
  timer->async_wait([timer, respond = std::move(respond),
                     res = std::move(res)](const boost::system::error_code&) mutable {
    respond(std::move(res));
  });
}

void emulator_host::record(const std::string& lines) {
  std::lock_guard lock{log_mtx_};
  buf_ += lines;
}

void emulator_host::flush() {
  {
    std::lock_guard lock{log_mtx_};
    spare_.swap(buf_);
  }
  if (!spare_.empty()) {
    std::fwrite(spare_.data(), 1, spare_.size(), out_);
    spare_.clear();
  }
  std::fflush(out_);
}

std::string emulator_host::fault_stats_json() {
  std::string s = "\"injected_failures\":";
  append_int(injected_failures_.load(), s);
  s += ",\"outage_rejections\":";
  append_int(outage_rejections_.load(), s);
  s += ",\"dropped_after_accept\":";
  append_int(dropped_after_accept_.load(), s);
  s += ",\"outage_active\":";
  s += in_outage() ? "true" : "false";
  return s;
}

void emulator_host::handle(http_request&& req, http_responder respond) {
  auto path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (path.substr(0, 6) != "/_sim/") {
    api_(std::move(req), std::move(respond));
    return;
  }
  if (path == "/_sim/healthz" && req.method == "GET") {
    respond(http_response{200, "text/plain", {}, "ok\n"});
  } else if (path == "/_sim/stats" && req.method == "GET") {
    respond(json_response(200, stats_()));
  } else if (path == "/_sim/outage" && (req.method == "POST" || req.method == "DELETE")) {
    auto now = elapsed_ms();
    std::int64_t until = -1;
    if (req.method == "POST") {
      auto text = query_param(req.target, "for");
      if (text.empty()) {
        until = forever;
      } else if (auto d = parse_duration(text)) {
        until = now + d->count();
      } else {
        respond(json_response(400, "{\"error\":\"for: bad duration\"}"));
        return;
      }
    }
    {
      std::lock_guard lock{fault_mtx_};
      manual_outage_until_ = until;
      if (req.method == "DELETE") {
        // Ending an outage also ends a scheduled window that is on now.
        for (const auto& w : outages_)
          if (w.contains(now))
            scheduled_cleared_until_ =
                std::max(scheduled_cleared_until_, w.start_ms + w.duration_ms);
      } else {
        scheduled_cleared_until_ = -1;
      }
    }
    std::string body = "{\"outage_active\":";
    body += in_outage() ? "true" : "false";
    if (until != -1 && until != forever) {
      body += ",\"for_ms\":";
      append_int(until - now, body);
    }
    body += "}";
    respond(json_response(200, std::move(body)));
  } else if (path == "/_sim/faults" && req.method == "POST") {
    respond(set_faults(req.target));
  } else if (control_ && control_(req, respond)) {
    // The emulator's own control endpoint.
  } else if (path == "/_sim/poison" && (req.method == "POST" || req.method == "DELETE")) {
    std::lock_guard lock{fault_mtx_};
    if (req.method == "DELETE") {
      faults_.poison_event_ids.clear();
    } else if (auto id = query_param(req.target, "event_id"); !id.empty()) {
      faults_.poison_event_ids.push_back(id);
    } else {
      respond(json_response(400, "{\"error\":\"want event_id=X\"}"));
      return;
    }
    std::string body = "{\"poison_event_ids\":[";
    for (std::size_t i = 0; i < faults_.poison_event_ids.size(); ++i) {
      if (i)
        body += ",";
      append_json_string(faults_.poison_event_ids[i], body);
    }
    body += "]}";
    respond(json_response(200, std::move(body)));
  } else {
    respond(http_response{404, "text/plain", {}, "not found\n"});
  }
}

http_response emulator_host::set_faults(std::string_view target) {
  auto bad = [](std::string what) {
    return json_response(400, "{\"error\":\"" + what + "\"}");
  };
  auto number = [&](std::string_view name, double& out) {
    auto text = query_param(target, name);
    if (text.empty())
      return true;
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !(v >= 0 && v <= 1))
      return false;
    out = v;
    return true;
  };
  std::lock_guard lock{fault_mtx_};
  auto next = faults_;
  auto next_latency = latency_;
  if (!number("fail_rate", next.fail_rate))
    return bad("fail_rate: want a fraction in [0, 1]");
  if (!number("drop_after_accept", next.drop_after_accept))
    return bad("drop_after_accept: want a fraction in [0, 1]");
  if (auto text = query_param(target, "latency"); !text.empty()) {
    auto d = parse_duration(text);
    if (!d)
      return bad("latency: bad duration");
    next_latency = *d;
    next.latency = text;
  }
  if (auto text = query_param(target, "fail_status"); !text.empty()) {
    int v = std::atoi(text.c_str());
    if (v < 500 || v > 599)
      return bad("fail_status: want a 5xx status");
    next.fail_status = v;
  }
  if (auto text = query_param(target, "outage_mode"); !text.empty()) {
    if (text != "503" && text != "drop")
      return bad("outage_mode: 503 or drop");
    next.outage_mode = text;
  }
  faults_ = next;
  latency_ = next_latency;
  std::string body = "{\"fail_rate\":";
  append_fixed(faults_.fail_rate, 4, body);
  body += ",\"fail_status\":";
  append_int(faults_.fail_status, body);
  body += ",\"drop_after_accept\":";
  append_fixed(faults_.drop_after_accept, 4, body);
  body += ",\"latency_ms\":";
  append_int(latency_.count(), body);
  body += ",\"outage_mode\":";
  append_json_string(faults_.outage_mode, body);
  body += "}";
  return json_response(200, std::move(body));
}

int emulator_host::run(api_handler api, std::function<std::string()> stats_json,
                       control_handler control, std::size_t max_body_bytes) {
  api_ = std::move(api);
  stats_ = std::move(stats_json);
  control_ = std::move(control);
  out_ = std::fopen(listen_.out.c_str(), "ab");
  if (!out_) {
    std::cerr << "sim " << name_ << ": cannot open " << listen_.out << "\n";
    return 2;
  }
  block_termination_signals();
  io_ = std::make_unique<adapters::io_runtime>(std::max(1u, listen_.threads));
  int code = 0;
  {
    adapters::http_server_options opts;
    opts.listen = listen_.listen;
    opts.tls_cert_file = listen_.tls_cert;
    opts.tls_key_file = listen_.tls_key;
    opts.max_body_bytes = max_body_bytes;
    adapters::http_server server(*io_, opts,
                                 [this](http_request&& req, http_responder respond) {
                                   handle(std::move(req), std::move(respond));
                                 });
    auto port = server.start();
    if (!port) {
      std::cerr << "sim " << name_ << ": cannot listen on " << listen_.listen << ": "
                << port.err().message << "\n";
      code = 2;
    } else {
      auto host = listen_.listen.substr(0, listen_.listen.rfind(':'));
      std::cout << "listening on " << host << ":" << *port << std::endl;
      while (!wait_termination_signal(std::chrono::milliseconds(50)))
        flush();
      server.stop();
      io_->stop();
      flush();
      std::cerr << "sim " << name_ << ": " << stats_() << "\n";
    }
  }
  io_.reset();
  return code;
}

std::string make_tracking_id() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t base = mix64(static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count()));
  auto a = mix64(base + counter.fetch_add(1));
  auto b = mix64(a);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      out.push_back('-');
    auto word = i < 16 ? a : b;
    out.push_back(hex[(word >> ((i % 16) * 4)) & 15]);
  }
  return out;
}

// -- subcommands --------------------------------------------------------------

struct emulator_commands {
  eventhub_args eventhub;
  hubspot_args hubspot;
  CLI::App* eventhub_cmd = nullptr;
  CLI::App* hubspot_cmd = nullptr;
};

std::shared_ptr<emulator_commands> add_emulator_commands(CLI::App& app) {
  auto cmds = std::make_shared<emulator_commands>();
  auto& eh = cmds->eventhub;
  auto* e = app.add_subcommand("eventhub", "Azure Event Hubs (REST) emulator");
  add_listen_options(*e, eh.listen);
  e->add_option("--namespace", eh.namespace_name,
                "NAME (NAME.servicebus.windows.net) or HOST[:PORT] expected in the "
                "token's sr; default: the request's Host header");
  e->add_option("--hub", eh.hub, "event hub name")->required();
  e->add_option("--key-name", eh.key_name, "SAS policy (key) name")->required();
  e->add_option("--key", eh.key, "SAS key, used as given")->required();
  e->add_option("--partitions", eh.partitions, "partition count")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  add_fault_options(*e, eh.faults);
  add_poison_event_option(*e, eh.faults, "event_id refused permanently, the whole send");
  cmds->eventhub_cmd = e;

  auto& hs = cmds->hubspot;
  auto* h = app.add_subcommand("hubspot", "HubSpot CRM batch-upsert emulator");
  add_listen_options(*h, hs.listen);
  h->add_option("--token", hs.token, "expected Bearer token")->required();
  h->add_option("--rate-limit", hs.rate_limit, "N/WINDOW rolling, e.g. 100/10s")
      ->capture_default_str();
  h->add_option("--fail-ids-file", hs.fail_ids_file,
                "file of input ids (one a line) whose records are rejected");
  h->add_option("--poison", hs.poison,
                "PROPERTY=VALUE: records with it are rejected (repeatable)");
  h->add_option("--conflict-mode", hs.conflict_mode,
                "record: 207 with per-record errors; batch: 409 for the whole batch")
      ->check(CLI::IsMember({"record", "batch"}))
      ->capture_default_str();
  add_fault_options(*h, hs.faults);
  cmds->hubspot_cmd = h;
  return cmds;
}

std::optional<int> run_emulator_commands(const emulator_commands& cmds) {
  if (cmds.eventhub_cmd && cmds.eventhub_cmd->parsed())
    return run_eventhub(cmds.eventhub);
  if (cmds.hubspot_cmd && cmds.hubspot_cmd->parsed())
    return run_hubspot(cmds.hubspot);
  return std::nullopt;
}

} // namespace gavel::sim
