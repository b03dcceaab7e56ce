// `gavel backfill`: the client side of DESIGN §1.10. It reads the file,
// posts it in batches to the running service (which validates, sequences and
// keeps the checkpoint) and shows progress; the service decides everything
// else (ADR 0027).
#include "actors/cmd/backfill.hpp"

#include "actors/cmd/backfill_file.hpp"
#include "actors/cmd/backfill_progress.hpp"
#include "actors/cmd/backfill_send.hpp"
#include "adapters/http/http.hpp"
#include "protocols/backfill.hpp"
#include "protocols/listen_address.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
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
  if (o.connections == 0 || o.connections > 64)
    return fail("--connections must be 1..64");
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

  service_client client{*origin, o};
  ojson begin_body;
  begin_body["source"] = o.source;
  begin_body["file_size"] = file->size();
  begin_body["file_print"] = file->print();
  auto conn = client.connect();
  auto r = client.post(*conn, "/v1/backfills/" + o.job, begin_body.dump());
  if (r.status != 200) {
    conn->close();
    std::cerr << "gavel backfill: " << client.refused(r) << std::endl;
    return r.status == 0 ? 1 : 2;
  }
  auto begun = ojson::parse(r.body);
  const auto run = begun.value("run", std::int64_t{0});
  const std::int64_t offset = begun.value("offset", std::int64_t{0});
  const std::int64_t done_records = begun.value("records_processed", std::int64_t{0});
  backfill_progress view{o.progress, begun};
  std::atomic<int> failed{0};
  std::string failure;
  std::mutex failure_mtx;
  auto give_up = [&](int rc, const std::string& why) {
    std::lock_guard lock{failure_mtx};
    if (failed.exchange(rc) == 0)
      failure = why;
  };
  auto events_target = [&](const stored_prefix::point& p) {
    return "/v1/backfills/" + o.job + "/events?source=" + o.source +
           "&run=" + std::to_string(run) + "&checkpoint=" + std::to_string(p.offset) +
           "&checkpoint_records=" + std::to_string(p.records);
  };
  if (begun.value("state", "") == "done") {
    std::cerr << "gavel backfill: job " << o.job << " is done already" << std::endl;
  } else {
    if (offset > 0)
      std::cerr << "gavel backfill: job " << o.job << " resumes at byte " << offset
                << " (" << done_records << " records done)" << std::endl;
    file->seek(std::max(offset, file->first_offset()));
    stored_prefix prefix{offset, done_records};
    rate_limit limit{o.rate};
    std::atomic<int> shown_rejections{0};
    // One lane per connection; an auction's events all take the lane its id
    // hashes to, so they are sent, and sequenced, in file order.
    std::vector<std::unique_ptr<batch_lane>> lanes;
    lanes.reserve(o.connections);
    for (std::size_t i = 0; i < o.connections; ++i)
      lanes.push_back(std::make_unique<batch_lane>());
    std::vector<std::thread> threads;
    threads.reserve(lanes.size());
    for (auto& lane : lanes)
      threads.emplace_back([&, lane = lane.get()] {
        auto c = client.connect();
        while (auto b = lane->pop()) {
          if (failed.load())
            continue;
          limit.wait(b->events);
          auto target = events_target(prefix.now());
          if (!b->local.empty())
            target += "&local_rejected=" + local_rejected_param(b->local);
          auto answer =
              client.post(*c, target, b->events ? b->body + "]" : std::string{});
          if (answer.status != 200) {
            give_up(answer.status == 0 ? 1 : 2, client.refused(answer));
            continue;
          }
          auto j = ojson::parse(answer.body, nullptr, false);
          for (const auto& e : j["rejected"])
            if (shown_rejections++ < 20)
              std::cerr << "\ngavel backfill: rejected " << e.value("event_id", "")
                        << ": " << e.value("code", "") << ": " << e.value("message", "")
                        << std::endl;
          prefix.done(b->records);
          view.answered(static_cast<std::int64_t>(b->records.size()), j["job"]);
        }
        c->close();
      });
    const std::size_t max_bytes =
        std::min<std::size_t>(cfg.server.max_body_bytes / 2, 2 << 20);
    std::vector<lane_batch> filling(lanes.size());
    auto ship = [&](std::size_t k) {
      if (!filling[k].records.empty())
        lanes[k]->push(std::move(filling[k]));
      filling[k] = {};
    };
    while (!failed.load()) {
      auto rec = file->next();
      if (!rec)
        break;
      auto index = prefix.add(rec->end);
      std::size_t k = 0;
      std::optional<std::int64_t> auction;
      if (rec->event)
        auction = auction_of(*rec->event);
      if (auction)
        k = static_cast<std::size_t>(*auction) % lanes.size();
      auto& b = filling[k];
      b.records.push_back(index);
      if (!rec->event) {
        // Not an event: counted as rejected with the lane's next batch. (An
        // event without a usable auction_id goes to the service, which
        // rejects it with its usual reason.)
        ++b.local[rec->event.err().code];
        if (shown_rejections++ < 20)
          std::cerr << "\ngavel backfill: rejected: " << rec->event.err().message
                    << std::endl;
      } else {
        b.body += b.events++ ? "," : "[";
        b.body += *rec->event;
      }
      if (b.events >= o.batch || b.body.size() >= max_bytes)
        ship(k);
    }
    for (std::size_t k = 0; k < lanes.size(); ++k) {
      ship(k);
      lanes[k]->close();
    }
    for (auto& t : threads)
      t.join();
    if (!failed.load()) {
      // The whole file is stored: the checkpoint moves to its end.
      auto end = prefix.now();
      end.offset = file->size();
      r = client.post(*conn, events_target(end), {});
      if (r.status != 200)
        give_up(r.status == 0 ? 1 : 2, client.refused(r));
      else
        view.answered(0, ojson::parse(r.body)["job"]);
    }
  }
  conn->close();
  view.show(true);
  if (o.progress == "bar")
    std::cerr << "\n";
  if (failed.load()) {
    std::cerr << "gavel backfill: " << failure << std::endl;
    return failed.load();
  }
  auto j = view.job();
  std::int64_t rejected = 0;
  for (const auto& [code, n] : j["rejected"].items())
    rejected += n.get<std::int64_t>();
  const auto seconds = view.seconds();
  std::cerr << "backfill " << o.job << ": "
            << j.value("records_processed", std::int64_t{0})
            << " records: " << j.value("accepted", std::int64_t{0}) << " accepted, "
            << j.value("duplicate", std::int64_t{0}) << " duplicate, " << rejected
            << " rejected" << (rejected ? " (" + rejected_text(j["rejected"]) + ")" : "")
            << "; this run " << view.run_records() << " records in "
            << std::round(seconds * 10) / 10 << " s (" << std::round(view.rate())
            << " records/s)" << std::endl;
  if (o.progress == "json") {
    ojson summary = j;
    summary["summary"] = true;
    summary["run_records"] = view.run_records();
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
