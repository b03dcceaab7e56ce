// `sim hubspot`: HubSpot CRM v3 batch upsert with the bearer token check, a
// rolling rate limit answered with real 429s and X-HubSpot-RateLimit-*
// headers, poison records answered 207 (per record) or 409 (whole batch), a
// batch naming one id twice refused whole (400) as HubSpot does, and every
// accepted record recorded with the number of the request that carried it. See
// sim/README.md.

#include "sim/common.hpp"
#include "sim/emulator.hpp"

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

namespace gavel::sim {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
using nlohmann::json;

/// HubSpot's daily allowance shown in headers (never enforced here).
constexpr std::int64_t daily_limit = 1'000'000;

class hubspot_emulator {
public:
  hubspot_emulator(const hubspot_args& args, emulator_host& host, rate_limit_spec limit,
                   std::vector<std::string> bad_ids, std::vector<poison_rule> rules)
      : args_(args), host_(host), window_(limit), bad_ids_(std::move(bad_ids)),
        rules_(std::move(rules)), conflict_mode_(args.conflict_mode) {}

  void handle(http_request&& req, http_responder respond) {
    std::int64_t now;
    const auto request_no = ++requests_;
    {
      // The clock is read under the lock so the window sees times in order.
      std::lock_guard lock{mtx_};
      now = host_.elapsed_ms();
      window_.note_received(now);
    }
    if (host_.in_outage())
      return host_.outage_reply(
          std::move(respond),
          with_headers(error(503, "SERVICE_UNAVAILABLE",
                             "The service is unavailable (emulated outage)."),
                       now));
    auto auth = req.header("authorization");
    if (auth.size() < 7 || auth.substr(0, 7) != "Bearer " ||
        auth.substr(7) != args_.token) {
      ++unauthorized_;
      return host_.reply(
          std::move(respond),
          with_headers(error(401, "INVALID_AUTHENTICATION",
                             "Authentication credentials not found. This API supports "
                             "OAuth 2.0 authentication and you can find more details at "
                             "https://developers.hubspot.com/docs/methods/auth/"
                             "oauth-overview"),
                       now));
    }
    rate_window::decision d;
    {
      std::lock_guard lock{mtx_};
      now = host_.elapsed_ms();
      if (now < throttle_until_) {
        // A throttle on demand: the portal's shared limit used up by others.
        d.retry_after_ms = throttle_until_ - now;
      } else {
        d = window_.admit(now);
      }
    }
    if (!d.admitted)
      return rate_limited(d, std::move(respond));
    auto path = std::string_view(req.target).substr(0, req.target.find('?'));
    auto object_type = parse_hubspot_upsert_path(path);
    if (req.method != "POST" || !object_type) {
      ++not_found_;
      return reply(std::move(respond),
                   error(404, "OBJECT_NOT_FOUND",
                         "No route for " + req.method + " " + std::string{path}),
                   d.remaining);
    }
    if (host_.roll_failure())
      return reply(std::move(respond),
                   error(host_.fail_status(), "INTERNAL_ERROR", "injected failure"),
                   d.remaining);
    auto parsed = parse_hubspot_batch(req.body);
    if (!parsed) {
      ++bad_request_;
      return reply(std::move(respond),
                   error(400, "VALIDATION_ERROR", parsed.err().message), d.remaining);
    }
    auto& inputs = *parsed;
    if (auto dups = duplicate_ids(inputs); !dups.empty()) {
      // As HubSpot answers it: the whole batch refused, nothing written.
      ++duplicate_ids_;
      std::string list;
      for (const auto& id : dups)
        list += (list.empty() ? "" : ", ") + id;
      return reply(
          std::move(respond),
          error(400, "VALIDATION_ERROR",
                "Duplicate IDs found in batch input: [" + list + "]. IDs must be unique"),
          d.remaining);
    }
    std::vector<bool> poisoned(inputs.size(), false);
    std::size_t n_poisoned = 0;
    std::string conflict_mode;
    {
      std::lock_guard lock{mtx_};
      conflict_mode = conflict_mode_;
      for (std::size_t i = 0; i < inputs.size(); ++i)
        if (is_poisoned(inputs[i], rules_, bad_ids_)) {
          poisoned[i] = true;
          ++n_poisoned;
        }
    }
    if (n_poisoned > 0 && conflict_mode == "batch") {
      ++conflicts_;
      return reply(std::move(respond),
                   error(409, "CONFLICT",
                         "The batch contains a record that conflicts with an existing "
                         "object; nothing in it was written."),
                   d.remaining);
    }
    auto started = iso8601_ms(static_cast<std::int64_t>(now_unix_ms()));
    json results = json::array();
    json errors = json::array();
    std::string lines;
    {
      std::lock_guard lock{mtx_};
      const double t = now_unix_ms();
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto& in = inputs[i];
        if (poisoned[i]) {
          errors.push_back({{"status", "error"},
                            {"category", "VALIDATION_ERROR"},
                            {"message", "Property values were not valid for record " +
                                            in.id + " (emulated poison record)"},
                            {"id", in.id},
                            {"context", {{"ids", json::array({in.id})}}}});
          continue;
        }
        auto key = *object_type + "\n" + in.id_property + "\n" + in.id;
        auto [it, created] = objects_.try_emplace(key, 0);
        if (created)
          it->second = next_object_id_++;
        auto id_text = std::to_string(it->second);
        json props = in.properties;
        props["hs_object_id"] = id_text;
        results.push_back({{"id", id_text},
                           {"properties", std::move(props)},
                           {"createdAt", started},
                           {"updatedAt", started},
                           {"archived", false},
                           {"new", created}});
        auto a = hubspot_arrival(in);
        a.t_ms = t;
        a.object_type = *object_type;
        a.request = request_no;
        lines += arrival_line(a);
      }
      if (!lines.empty())
        host_.record(lines);
    }
    arrivals_ += static_cast<std::int64_t>(inputs.size() - n_poisoned);
    records_rejected_ += static_cast<std::int64_t>(n_poisoned);
    json body = {{"status", "COMPLETE"},
                 {"results", std::move(results)},
                 {"startedAt", started},
                 {"completedAt", iso8601_ms(static_cast<std::int64_t>(now_unix_ms()))}};
    int status = 200;
    if (n_poisoned > 0) {
      status = 207;
      ++multi_status_;
      body["numErrors"] = n_poisoned;
      body["errors"] = std::move(errors);
    } else {
      ++batches_ok_;
    }
    http_response res{status, "application/json;charset=utf-8", {}, body.dump()};
    if (host_.roll_drop())
      res.drop_connection = true;
    reply(std::move(respond), std::move(res), d.remaining);
  }

  /// `POST /_sim/poison?property=P&value=V` adds a rule, `POST
  /// /_sim/poison?id=X` an id, `POST /_sim/poison?conflict_mode=batch|record`
  /// switches the answer; `DELETE /_sim/poison` clears rules and ids.
  bool control(const http_request& req, http_responder& respond) {
    auto path = std::string_view(req.target).substr(0, req.target.find('?'));
    if (path == "/_sim/throttle" || path == "/_sim/rate_limit")
      return rate_control(req, path, respond);
    if (path != "/_sim/poison")
      return false;
    auto param = [&](std::string_view name) {
      return adapters::query_param(req.target, name);
    };
    std::lock_guard lock{mtx_};
    if (req.method == "DELETE") {
      rules_.clear();
      bad_ids_.clear();
    } else if (req.method == "POST") {
      auto property = param("property");
      auto id = param("id");
      auto mode = param("conflict_mode");
      if ((property.empty() && id.empty() && mode.empty()) ||
          (!mode.empty() && mode != "batch" && mode != "record")) {
        respond(http_response{400,
                              "application/json",
                              {},
                              "{\"error\":\"want property=P&value=V, id=X or "
                              "conflict_mode=batch|record\"}"});
        return true;
      }
      if (!property.empty())
        rules_.push_back({property, param("value")});
      if (!id.empty())
        bad_ids_.push_back(id);
      if (!mode.empty())
        conflict_mode_ = mode;
    } else {
      return false;
    }
    std::string body = "{\"rules\":";
    append_int(static_cast<std::int64_t>(rules_.size()), body);
    body += ",\"ids\":";
    append_int(static_cast<std::int64_t>(bad_ids_.size()), body);
    body += ",\"conflict_mode\":";
    append_json_string(conflict_mode_, body);
    body += "}";
    respond(http_response{200, "application/json", {}, std::move(body)});
    return true;
  }

  /// `POST /_sim/throttle?for=10s` answers every request 429 for that long
  /// (`DELETE` ends it); `POST /_sim/rate_limit?limit=50/10s` changes the limit.
  bool rate_control(const http_request& req, std::string_view path,
                    http_responder& respond) {
    auto value = [&](std::string_view name) {
      return adapters::query_param(req.target, name);
    };
    auto bad = [&](const char* what) {
      respond(http_response{
          400, "application/json", {}, std::string{"{\"error\":\""} + what + "\"}"});
      return true;
    };
    const auto now = host_.elapsed_ms();
    std::lock_guard lock{mtx_};
    if (path == "/_sim/throttle") {
      if (req.method == "DELETE") {
        throttle_until_ = -1;
      } else if (req.method == "POST") {
        auto d = parse_duration(value("for"));
        if (!d)
          return bad("for: want a duration");
        throttle_until_ = now + d->count();
      } else {
        return false;
      }
    } else {
      if (req.method != "POST")
        return false;
      auto spec = parse_rate_limit(value("limit"));
      if (!spec)
        return bad("limit: want N/WINDOW like 100/10s");
      window_.set_spec(*spec);
    }
    std::string body = "{\"throttled_for_ms\":";
    append_int(std::max<std::int64_t>(0, throttle_until_ - now), body);
    body += ",\"rate_limit\":{\"max\":";
    append_int(static_cast<std::int64_t>(window_.spec().limit), body);
    body += ",\"window_ms\":";
    append_int(window_.spec().window_ms, body);
    body += "}}";
    respond(http_response{200, "application/json", {}, std::move(body)});
    return true;
  }

  std::string stats_json() {
    std::string s = "{\"requests\":";
    append_int(requests_.load(), s);
    s += ",\"arrivals\":";
    append_int(arrivals_.load(), s);
    s += ",\"batches_ok\":";
    append_int(batches_ok_.load(), s);
    s += ",\"multi_status\":";
    append_int(multi_status_.load(), s);
    s += ",\"conflicts\":";
    append_int(conflicts_.load(), s);
    s += ",\"records_rejected\":";
    append_int(records_rejected_.load(), s);
    s += ",\"unauthorized\":";
    append_int(unauthorized_.load(), s);
    s += ",\"rate_limited\":";
    append_int(rate_limited_.load(), s);
    s += ",\"bad_request\":";
    append_int(bad_request_.load(), s);
    s += ",\"duplicate_ids\":";
    append_int(duplicate_ids_.load(), s);
    s += ",\"not_found\":";
    append_int(not_found_.load(), s);
    s += ",";
    s += host_.fault_stats_json();
    std::lock_guard lock{mtx_};
    s += ",\"rate_limit\":{\"max\":";
    append_int(static_cast<std::int64_t>(window_.spec().limit), s);
    s += ",\"window_ms\":";
    append_int(window_.spec().window_ms, s);
    s += "},\"max_requests_in_window\":";
    append_int(static_cast<std::int64_t>(window_.max_offered_in_window()), s);
    s += ",\"max_admitted_in_window\":";
    append_int(static_cast<std::int64_t>(window_.max_admitted_in_window()), s);
    s += ",\"objects\":";
    append_int(static_cast<std::int64_t>(objects_.size()), s);
    s += "}";
    return s;
  }

private:
  http_response error(int status, std::string category, std::string message) {
    json body = {{"status", "error"},
                 {"message", std::move(message)},
                 {"correlationId", make_tracking_id()},
                 {"category", std::move(category)}};
    return http_response{status, "application/json;charset=utf-8", {}, body.dump()};
  }

  /// The rate-limit headers HubSpot puts on every response.
  http_response with_remaining(http_response res, std::size_t remaining) {
    const auto& spec = window_.spec();
    res.headers.emplace_back("X-HubSpot-RateLimit-Max", std::to_string(spec.limit));
    res.headers.emplace_back("X-HubSpot-RateLimit-Remaining", std::to_string(remaining));
    res.headers.emplace_back("X-HubSpot-RateLimit-Interval-Milliseconds",
                             std::to_string(spec.window_ms));
    res.headers.emplace_back("X-HubSpot-RateLimit-Daily", std::to_string(daily_limit));
    res.headers.emplace_back(
        "X-HubSpot-RateLimit-Daily-Remaining",
        std::to_string(std::max<std::int64_t>(0, daily_limit - requests_.load())));
    return res;
  }

  http_response with_headers(http_response res, std::int64_t now) {
    std::size_t remaining;
    {
      std::lock_guard lock{mtx_};
      remaining = window_.remaining(now);
    }
    return with_remaining(std::move(res), remaining);
  }

  void reply(http_responder respond, http_response res, std::size_t remaining) {
    host_.reply(std::move(respond), with_remaining(std::move(res), remaining));
  }

  void rate_limited(const rate_window::decision& d, http_responder respond) {
    ++rate_limited_;
    json body = {{"status", "error"},
                 {"message", "You have reached your ten_secondly_rolling limit."},
                 {"errorType", "RATE_LIMIT"},
                 {"correlationId", make_tracking_id()},
                 {"policyName", "TEN_SECONDLY_ROLLING"},
                 {"requestId", make_tracking_id()}};
    http_response res{429, "application/json;charset=utf-8", {}, body.dump()};
    // Whole seconds, rounded up, at least 1 (Retry-After has no fractions).
    auto seconds = std::max<std::int64_t>(1, (d.retry_after_ms + 999) / 1000);
    res.headers.emplace_back("Retry-After", std::to_string(seconds));
    reply(std::move(respond), std::move(res), 0);
  }

  const hubspot_args& args_;
  emulator_host& host_;
  std::mutex mtx_;
  rate_window window_;
  std::vector<std::string> bad_ids_;
  std::vector<poison_rule> rules_;
  std::string conflict_mode_;
  std::int64_t throttle_until_ = -1; ///< elapsed ms
  std::map<std::string, std::int64_t> objects_;
  std::int64_t next_object_id_ = 51'000'000'001;
  std::atomic<std::int64_t> requests_{0}, arrivals_{0}, batches_ok_{0}, multi_status_{0},
      conflicts_{0}, records_rejected_{0}, unauthorized_{0}, rate_limited_{0},
      bad_request_{0}, not_found_{0}, duplicate_ids_{0};
};

} // namespace

int run_hubspot(const hubspot_args& args) {
  if (args.token.empty()) {
    std::cerr << "sim hubspot: --token is required\n";
    return 2;
  }
  auto limit = parse_rate_limit(args.rate_limit);
  if (!limit) {
    std::cerr << "sim hubspot: --rate-limit: want N/WINDOW like 100/10s, got '"
              << args.rate_limit << "'\n";
    return 2;
  }
  std::vector<poison_rule> rules;
  for (const auto& text : args.poison) {
    auto rule = parse_poison_rule(text);
    if (!rule) {
      std::cerr << "sim hubspot: --poison: want PROPERTY=VALUE, got '" << text << "'\n";
      return 2;
    }
    rules.push_back(*rule);
  }
  std::vector<std::string> bad_ids;
  if (!args.fail_ids_file.empty()) {
    std::ifstream in{args.fail_ids_file};
    if (!in) {
      std::cerr << "sim hubspot: cannot read " << args.fail_ids_file << "\n";
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
      if (!line.empty() && line.front() != '#')
        bad_ids.push_back(line);
    }
  }
  emulator_host host("hubspot", args.listen, args.faults);
  if (auto err = host.configure(); !err.empty()) {
    std::cerr << "sim hubspot: " << err << "\n";
    return 2;
  }
  hubspot_emulator emu(args, host, *limit, std::move(bad_ids), std::move(rules));
  return host.run(
      [&emu](http_request&& req, http_responder respond) {
        emu.handle(std::move(req), std::move(respond));
      },
      [&emu] { return emu.stats_json(); },
      [&emu](const http_request& req, http_responder& respond) {
        return emu.control(req, respond);
      });
}

} // namespace gavel::sim
