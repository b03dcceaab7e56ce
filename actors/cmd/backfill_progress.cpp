#include "actors/cmd/backfill_progress.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>

namespace gavel::actors {

namespace {

using ojson = nlohmann::ordered_json;

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

} // namespace

std::string rejected_text(const ojson& rejected) {
  std::string out;
  for (const auto& [code, n] : rejected.items())
    out += (out.empty() ? "" : ", ") + code + " " + std::to_string(n.get<std::int64_t>());
  return out;
}

backfill_progress::backfill_progress(std::string mode, ojson job)
    : mode_(std::move(mode)), job_(std::move(job)),
      start_pct_(job_.value("percent_complete", 0.0)) {}

void backfill_progress::answered(std::int64_t records, const ojson& job) {
  std::lock_guard lock{mtx_};
  run_records_ += records;
  // Answers of several connections cross: keep the furthest state.
  if (job.value("records_processed", std::int64_t{0}) >=
          job_.value("records_processed", std::int64_t{0}) ||
      job.value("accepted", std::int64_t{0}) + job.value("duplicate", std::int64_t{0}) >
          job_.value("accepted", std::int64_t{0}) +
              job_.value("duplicate", std::int64_t{0}))
    job_ = job;
  show_locked(false);
}

void backfill_progress::show(bool force) {
  std::lock_guard lock{mtx_};
  show_locked(force);
}

ojson backfill_progress::job() const {
  std::lock_guard lock{mtx_};
  return job_;
}

std::int64_t backfill_progress::run_records() const {
  std::lock_guard lock{mtx_};
  return run_records_;
}

double backfill_progress::seconds() const {
  return std::chrono::duration<double>(clock_type::now() - started_).count();
}

double backfill_progress::rate() const {
  std::lock_guard lock{mtx_};
  auto s = seconds();
  return s > 0 ? static_cast<double>(run_records_) / s : 0;
}

void backfill_progress::show_locked(bool force) {
  auto now = clock_type::now();
  if (mode_ == "none" || job_.is_null() ||
      (!force && now - last_shown_ < std::chrono::seconds{1}))
    return;
  last_shown_ = now;
  double pct = job_.value("percent_complete", 0.0);
  auto s = seconds();
  double r = s > 0 ? static_cast<double>(run_records_) / s : 0;
  double eta = -1;
  if (r > 0 && pct > start_pct_ && pct < 100)
    // Bytes, not records, measure what is left; this run's pace does.
    eta = s * (100 - pct) / (pct - start_pct_);
  if (mode_ == "json") {
    ojson line;
    line["job"] = job_["job"];
    line["records_processed"] = job_["records_processed"];
    line["percent_complete"] = pct;
    line["events_per_second"] = std::round(r * 10) / 10;
    line["eta_seconds"] = eta < 0 ? ojson(nullptr) : ojson(std::round(eta));
    line["accepted"] = job_["accepted"];
    line["duplicate"] = job_["duplicate"];
    line["rejected"] = job_["rejected"];
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
                static_cast<long long>(job_.value("records_processed", std::int64_t{0})),
                r, eta < 0 ? "--" : duration_text(eta).c_str());
  std::cerr << text << std::flush;
}

} // namespace gavel::actors
