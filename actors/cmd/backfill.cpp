// `gavel backfill`: the client side of DESIGN §1.10. It reads the file,
// posts it in batches to the running service (which validates, sequences and
// keeps the checkpoint) and shows progress; the service decides everything
// else (ADR 0027).
#include "actors/cmd/backfill.hpp"

#include "actors/cmd/backfill_file.hpp"
#include "adapters/http/http.hpp"
#include "protocols/backfill.hpp"
#include "protocols/listen_address.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <unistd.h>

namespace gavel::actors {

namespace {

using clock_type = std::chrono::steady_clock;
using ojson = nlohmann::ordered_json;

/// The first ingest token of FILE (DESIGN §1.10) that the backfill routes
/// take (they need `admin`, §1.9): a legacy `ingest.tokens` entry has both;
/// else the first `[[token]]` that may ingest into the source and is admin,
/// else the first that may ingest at all (the service then says 403).
std::string default_token(const adapters::config& cfg, const std::string& source) {
  if (!cfg.ingest.tokens.empty())
    return cfg.ingest.tokens.front();
  auto ingests = [&](const adapters::token_config& t) {
    return std::any_of(t.scopes.begin(), t.scopes.end(), [&](const std::string& s) {
      return s == "ingest:*" || s == "ingest:" + source;
    });
  };
  for (const auto& t : cfg.tokens)
    if (ingests(t) &&
        std::find(t.scopes.begin(), t.scopes.end(), "admin") != t.scopes.end())
      return t.secret;
  for (const auto& t : cfg.tokens)
    if (ingests(t))
      return t.secret;
  return {};
}

std::string default_url(const adapters::config& cfg) {
  auto a = protocols::parse_listen_address(cfg.server.listen);
  std::string host = a ? a->host : "127.0.0.1";
  if (host.empty() || host == "0.0.0.0")
    host = "127.0.0.1";
  if (host == "::")
    host = "::1";
  if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  return (cfg.server.tls_cert.empty() ? "http://" : "https://") + host + ":" +
         std::to_string(a ? a->port : 8080);
}

std::string default_job(const std::string& source, const std::string& file) {
  std::string job = source + "-" + std::filesystem::path(file).filename().string();
  for (auto& c : job)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      c = '_';
  return job.substr(0, 64);
}

std::string rejected_text(const ojson& rejected) {
  std::string out;
  for (const auto& [code, n] : rejected.items())
    out += (out.empty() ? "" : ", ") + code + " " + std::to_string(n.get<std::int64_t>());
  return out;
}

std::string duration_text(double seconds) {
  auto s = static_cast<std::int64_t>(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

/// What the run shows: the job as the service last answered, and the rate
/// of this run.
struct progress_view {
  std::string mode; ///< bar | json | none
  clock_type::time_point started = clock_type::now();
  clock_type::time_point last_shown{};
  std::int64_t sent_this_run = 0; ///< records
  ojson job;

  double rate() const {
    auto s = std::chrono::duration<double>(clock_type::now() - started).count();
    return s > 0 ? static_cast<double>(sent_this_run) / s : 0;
  }

  void show(bool force) {
    auto now = clock_type::now();
    if (mode == "none" || job.is_null() ||
        (!force && now - last_shown < std::chrono::seconds{1}))
      return;
    last_shown = now;
    double pct = job.value("percent_complete", 0.0);
    double r = rate();
    double eta = -1;
    if (r > 0 && pct > 0 && pct < 100) {
      auto done = std::chrono::duration<double>(now - started).count();
      // Bytes, not records, measure what is left; this run's pace does.
      eta = done * (100 - pct) / std::max(1e-9, pct - start_pct);
    }
    if (mode == "json") {
      ojson line;
      line["job"] = job["job"];
      line["records_processed"] = job["records_processed"];
      line["percent_complete"] = pct;
      line["events_per_second"] = std::round(r * 10) / 10;
      line["eta_seconds"] = eta < 0 ? ojson(nullptr) : ojson(std::round(eta));
      line["accepted"] = job["accepted"];
      line["duplicate"] = job["duplicate"];
      line["rejected"] = job["rejected"];
      std::cout << line.dump() << std::endl;
      return;
    }
    constexpr int width = 30;
    int filled = static_cast<int>(pct / 100 * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, ' ');
    char text[200];
    std::snprintf(text, sizeof text, "\r[%s] %5.1f%%  %lld records  %.0f ev/s  ETA %s ",
                  bar.c_str(), pct,
                  static_cast<long long>(job.value("records_processed", std::int64_t{0})),
                  r, eta < 0 ? "--" : duration_text(eta).c_str());
    std::cerr << text << std::flush;
  }

  double start_pct = 0;
};

} // namespace

int run_backfill(const adapters::config& cfg, backfill_options o,
                 const std::function<protocols::expected<std::string>()>& database_url) {
  auto fail = [](const std::string& why) {
    std::cerr << "gavel backfill: " << why << std::endl;
    return 2;
  };
  if (o.batch == 0 || o.batch > cfg.ingest.max_batch)
    return fail("--batch must be 1.." + std::to_string(cfg.ingest.max_batch) +
                " (ingest.max_batch)");
  if (o.rate < 0)
    return fail("--rate must be >= 0 (events per second; 0: no cap)");
  if (o.job.empty())
    o.job = default_job(o.source, o.file);
  if (!protocols::valid_job_name(o.job))
    return fail("--job: 1 to 64 of A-Z a-z 0-9 . _ -");
  if (o.token.empty())
    o.token = default_token(cfg, o.source);
  if (o.token.empty())
    return fail("no token: FILE has no token that may ingest into \"" + o.source +
                "\"; pass --token");
  if (o.url.empty())
    o.url = default_url(cfg);
  if (o.progress == "auto")
    o.progress = isatty(STDERR_FILENO) ? "bar" : "json";
  auto file = backfill_file::open(o.file);
  if (!file)
    return fail(file.err().message);
  auto origin = adapters::parse_url(o.url);
  if (!origin)
    return fail("--url: " + origin.err().message);
  std::string prefix = origin->target == "/" ? "" : origin->target;
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();

  adapters::io_runtime io(1);
  adapters::http_client_options copts;
  copts.ca_file = o.ca_file;
  copts.client_cert_file = o.client_cert;
  copts.client_key_file = o.client_key;
  copts.request_timeout = std::chrono::seconds{120};
  auto conn = adapters::http_connection::make(io, *origin, copts);
  adapters::header_list headers{{"Authorization", "Bearer " + o.token},
                                {"Content-Type", "application/json"}};

  // Retries what the service asks to retry (503) and a service that is
  // away (restarting) for up to two minutes; everything else is the answer.
  auto send = [&](const std::string& target, const std::string& body) {
    auto backoff = std::chrono::milliseconds{200};
    auto away_since = clock_type::time_point{};
    while (true) {
      auto r = conn->request("POST", prefix + target, headers, body);
      if (r.status != 0 && r.status != 503)
        return r;
      if (r.status == 0) {
        if (away_since == clock_type::time_point{}) {
          away_since = clock_type::now();
          std::cerr << "\ngavel backfill: " << o.url << " unreachable (" << r.error
                    << "); retrying" << std::endl;
        } else if (clock_type::now() - away_since > std::chrono::minutes{2}) {
          return r;
        }
      } else {
        away_since = {};
        auto after = adapters::find_header(r.headers, "Retry-After");
        if (!after.empty())
          backoff = std::max(backoff, std::chrono::milliseconds{
                                          std::atoi(std::string{after}.c_str()) * 1000});
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds{5000});
    }
  };
  auto refused = [&](const adapters::http_result& r) {
    if (r.status == 0)
      return "gavel unreachable at " + o.url + " (" + r.error +
             "); run the same command again to resume";
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    std::string msg = r.body;
    if (j.is_object() && j.contains("error"))
      msg = j["error"].value("message", r.body);
    return "gavel answered " + std::to_string(r.status) + ": " + msg;
  };

  ojson begin_body;
  begin_body["source"] = o.source;
  begin_body["file_size"] = file->size();
  begin_body["file_print"] = file->print();
  auto r = send("/v1/backfills/" + o.job, begin_body.dump());
  if (r.status != 200) {
    conn->close();
    std::cerr << "gavel backfill: " << refused(r) << std::endl;
    return r.status == 0 ? 1 : 2;
  }
  progress_view view;
  view.mode = o.progress;
  view.job = ojson::parse(r.body);
  std::int64_t offset = view.job.value("offset", std::int64_t{0});
  view.start_pct = view.job.value("percent_complete", 0.0);
  if (view.job.value("state", "") == "done") {
    std::cerr << "gavel backfill: job " << o.job << " is done already" << std::endl;
  } else {
    if (offset > 0)
      std::cerr << "gavel backfill: job " << o.job << " resumes at byte " << offset
                << " (" << view.job.value("records_processed", std::int64_t{0})
                << " records done)" << std::endl;
    file->seek(std::max(offset, file->first_offset()));
    const std::size_t max_bytes =
        std::min<std::size_t>(cfg.server.max_body_bytes / 2, 2 << 20);
    auto next_at = clock_type::now();
    std::size_t shown_rejections = 0;
    while (true) {
      std::string body = "[";
      std::size_t events = 0;
      std::int64_t records = 0, to = offset;
      std::map<std::string, std::int64_t> local;
      while (events < o.batch && body.size() < max_bytes) {
        auto rec = file->next();
        if (!rec)
          break;
        ++records;
        to = rec->end;
        if (!rec->event) {
          ++local[rec->event.err().code];
          if (shown_rejections++ < 20)
            std::cerr << "\ngavel backfill: rejected: " << rec->event.err().message
                      << std::endl;
          continue;
        }
        if (events++)
          body += ',';
        body += *rec->event;
      }
      if (records == 0)
        break;
      body = events ? body + "]" : std::string{};
      if (o.rate > 0) {
        std::this_thread::sleep_until(next_at);
        next_at =
            std::max(next_at, clock_type::now()) +
            std::chrono::duration_cast<clock_type::duration>(
                std::chrono::duration<double>(static_cast<double>(events) / o.rate));
      }
      std::string target = "/v1/backfills/" + o.job + "/events?source=" + o.source +
                           "&from=" + std::to_string(offset) +
                           "&to=" + std::to_string(to) +
                           "&records=" + std::to_string(records);
      std::string codes;
      for (const auto& [code, n] : local)
        codes += (codes.empty() ? "" : ",") + code + ":" + std::to_string(n);
      if (!codes.empty())
        target += "&local_rejected=" + codes;
      r = send(target, body);
      if (r.status != 200) {
        conn->close();
        std::cerr << "\ngavel backfill: " << refused(r) << std::endl;
        return r.status == 0 ? 1 : 2;
      }
      auto answer = ojson::parse(r.body, nullptr, false);
      for (const auto& e : answer["rejected"])
        if (shown_rejections++ < 20)
          std::cerr << "\ngavel backfill: rejected " << e.value("event_id", "") << ": "
                    << e.value("code", "") << ": " << e.value("message", "") << std::endl;
      view.job = answer["job"];
      view.sent_this_run += records;
      offset = to;
      view.show(false);
    }
  }
  conn->close();
  view.show(true);
  if (view.mode == "bar")
    std::cerr << "\n";
  const auto& j = view.job;
  auto seconds = std::chrono::duration<double>(clock_type::now() - view.started).count();
  std::int64_t rejected = 0;
  for (const auto& [code, n] : j["rejected"].items())
    rejected += n.get<std::int64_t>();
  std::cerr << "backfill " << o.job << ": "
            << j.value("records_processed", std::int64_t{0})
            << " records: " << j.value("accepted", std::int64_t{0}) << " accepted, "
            << j.value("duplicate", std::int64_t{0}) << " duplicate, " << rejected
            << " rejected" << (rejected ? " (" + rejected_text(j["rejected"]) + ")" : "")
            << "; this run " << view.sent_this_run << " records in "
            << std::round(seconds * 10) / 10 << " s (" << std::round(view.rate())
            << " records/s)" << std::endl;
  if (view.mode == "json") {
    ojson summary = j;
    summary["summary"] = true;
    summary["run_records"] = view.sent_this_run;
    summary["run_seconds"] = std::round(seconds * 10) / 10;
    std::cout << summary.dump() << std::endl;
  }
  if (!o.verify)
    return 0;
  auto url = database_url();
  if (!url) {
    std::cerr << "gavel backfill: --verify: database: " << url.err().message << std::endl;
    return 1;
  }
  auto differences = verify_backfill(o.file, *url);
  std::cerr << "verify: "
            << (differences == 0 ? "clean"
                                 : std::to_string(differences) + " difference(s)")
            << std::endl;
  return differences == 0 ? 0 : 1;
}

} // namespace gavel::actors
