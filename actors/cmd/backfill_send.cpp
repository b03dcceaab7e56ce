#include "actors/cmd/backfill_send.hpp"

#include "protocols/json.hpp"

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

namespace gavel::actors {

std::string local_rejected_param(const std::map<std::string, std::int64_t>& local) {
  std::string codes;
  for (const auto& [code, n] : local)
    codes += (codes.empty() ? "" : ",") + code + ":" + std::to_string(n);
  return codes;
}

void batch_lane::push(lane_batch b) {
  std::unique_lock lock{mtx_};
  cv_.wait(lock, [&] { return q_.size() < 2; });
  q_.push_back(std::move(b));
  cv_.notify_all();
}

std::optional<lane_batch> batch_lane::pop() {
  std::unique_lock lock{mtx_};
  cv_.wait(lock, [&] { return !q_.empty() || closed_; });
  if (q_.empty())
    return std::nullopt;
  auto b = std::move(q_.front());
  q_.pop_front();
  cv_.notify_all();
  return b;
}

void batch_lane::close() {
  std::lock_guard lock{mtx_};
  closed_ = true;
  cv_.notify_all();
}

stored_prefix::stored_prefix(std::int64_t offset, std::int64_t records)
    : stored_{offset, records} {}

std::int64_t stored_prefix::add(std::int64_t end) {
  std::lock_guard lock{mtx_};
  pending_.emplace_back(end, false);
  return base_ + static_cast<std::int64_t>(pending_.size()) - 1;
}

void stored_prefix::done(const std::vector<std::int64_t>& indexes) {
  std::lock_guard lock{mtx_};
  for (auto i : indexes)
    pending_[static_cast<std::size_t>(i - base_)].second = true;
  while (!pending_.empty() && pending_.front().second) {
    stored_.offset = pending_.front().first;
    ++stored_.records;
    pending_.pop_front();
    ++base_;
  }
}

stored_prefix::point stored_prefix::now() const {
  std::lock_guard lock{mtx_};
  return stored_;
}

void rate_limit::wait(std::size_t events) {
  if (rate_ <= 0 || events == 0)
    return;
  std::chrono::steady_clock::time_point at;
  {
    std::lock_guard lock{mtx_};
    at = std::max(next_, std::chrono::steady_clock::now());
    next_ = at + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(events) / rate_));
  }
  std::this_thread::sleep_until(at);
}

service_client::service_client(adapters::url origin, const backfill_options& o)
    : origin_(std::move(origin)), url_(o.url) {
  prefix_ = origin_.target == "/" ? "" : origin_.target;
  while (!prefix_.empty() && prefix_.back() == '/')
    prefix_.pop_back();
  headers_ = {{"Authorization", "Bearer " + o.token},
              {"Content-Type", "application/json"}};
  options_.ca_file = o.ca_file;
  options_.client_cert_file = o.client_cert;
  options_.client_key_file = o.client_key;
  options_.request_timeout = std::chrono::seconds{120};
}

std::shared_ptr<adapters::http_connection> service_client::connect() {
  return adapters::http_connection::make(io_, origin_, options_);
}

adapters::http_result service_client::post(adapters::http_connection& conn,
                                           const std::string& target,
                                           const std::string& body) {
  using clock_type = std::chrono::steady_clock;
  auto backoff = std::chrono::milliseconds{200};
  auto away_since = clock_type::time_point{};
  while (true) {
    auto r = conn.request("POST", prefix_ + target, headers_, body);
    if (r.status != 0 && r.status != 503)
      return r;
    if (r.status == 0) {
      if (away_since == clock_type::time_point{}) {
        away_since = clock_type::now();
        std::cerr << "\ngavel backfill: " << url_ << " unreachable (" << r.error
                  << "); retrying" << std::endl;
      } else if (clock_type::now() - away_since > std::chrono::minutes{2}) {
        return r;
      }
    } else if (r.body.find(R"("code":"overloaded")") != std::string::npos) {
      // No spare capacity (live traffic first): asking costs the service
      // only reading the request, so ask again soon rather than back off.
      away_since = {};
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      continue;
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
}

std::string service_client::refused(const adapters::http_result& r) const {
  if (r.status == 0)
    return "gavel unreachable at " + url_ + " (" + r.error +
           "); run the same command again to resume";
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  std::string msg = r.body;
  if (j.is_object() && j.contains("error") && j["error"].is_object())
    msg = j["error"].value("message", r.body);
  return "gavel answered " + std::to_string(r.status) + ": " + msg;
}

std::optional<std::int64_t> auction_of(const std::string& event) {
  auto doc = protocols::json::parse(event);
  if (!doc || !doc->is_object())
    return std::nullopt;
  const auto* data = doc->find("data");
  const auto* id = data && data->is_object() ? data->find("auction_id") : nullptr;
  if (!id || !id->is_number())
    return std::nullopt;
  std::int64_t v = 0;
  for (char c : id->text) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10)
      return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? std::optional<std::int64_t>{v} : std::nullopt;
}

} // namespace gavel::actors
