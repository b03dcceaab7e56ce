// The sender's connections (sim/burst.hpp, channel): one request at a time
// per keep-alive connection, its retries, and the ack log line of every
// event's definitive answer.

#include "sim/burst.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>

namespace gavel::sim::sending {

namespace {

using adapters::http_result;

std::optional<double> retry_after_ms(const http_result& r) {
  auto v = adapters::find_header(r.headers, "retry-after");
  if (v.empty())
    return std::nullopt;
  double secs = 0;
  auto res = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (res.ec != std::errc{} || secs < 0)
    return std::nullopt; // HTTP-date form: fall back to our own backoff
  return secs * 1000;
}

bool retryable(int status) {
  return status == 0 || status == 429 || status == 408 || status >= 500;
}

} // namespace

channel::channel(shared_state& s, std::size_t index, channel_owner& owner,
                 std::mutex* guard)
    : s_(s), owner_(owner), guard_(guard), index_(index), timer_(s.io.context()),
      rng_(mix64(s.opts.seed ^ (0xabcdefULL + index))) {
  adapters::http_client_options opts;
  opts.request_timeout = std::chrono::milliseconds(s.opts.request_timeout_ms);
  opts.ca_file = s.opts.ca_file;
  opts.client_cert_file = s.opts.client_cert;
  opts.client_key_file = s.opts.client_key;
  conn_ = adapters::http_connection::make(s.io, s.origin, opts);
}

void channel::start() {
  body_.clear();
  if (s_.opts.batch > 1) {
    body_.push_back('[');
    for (std::size_t i = 0; i < batch_.size(); ++i) {
      if (i)
        body_.push_back(',');
      body_ += batch_[i].a->script->events[batch_[i].idx].body;
    }
    body_.push_back(']');
  }
  attempts_ = 0;
  first_failure_ = -1;
  backoff_ = backoff_initial_ms;
  send();
}

void channel::flush_log() {
  if (log_.empty())
    return;
  std::lock_guard<std::mutex> guard(s_.log_mtx);
  s_.log_buf += log_;
  log_.clear();
}

void channel::send() {
  if (attempts_++ == 0) {
    s_.stats.sent.fetch_add(static_cast<std::int64_t>(batch_.size()),
                            std::memory_order_relaxed);
    const double now = now_unix_ms();
    for (auto& it : batch_) {
      it.t_first = now;
      if (!s_.open_loop())
        it.t_sent = now;
    }
  } else {
    s_.stats.retries.fetch_add(1, std::memory_order_relaxed);
  }
  s_.stats.requests.fetch_add(1, std::memory_order_relaxed);
  attempt_start_ = now_mono_ms();
  attempt_warm_ = warm_;
  const std::string& body =
      s_.opts.batch > 1 ? body_ : batch_[0].a->script->events[batch_[0].idx].body;
  conn_->async_request("POST", s_.target, s_.headers, body,
                       [this](http_result r) { on_result(std::move(r)); });
}

void channel::on_result(http_result r) {
  const double took = now_mono_ms() - attempt_start_;
  // Only attempts on a connection that had answered before: a first
  // attempt also waits for the TCP connect (and, with 2,000 connections
  // opening at once, for the accept queue), which is not Gavel's answer time.
  if (attempt_warm_ && r.status == 503)
    shed_latencies_.push_back(took);
  else if (attempt_warm_ && r.status >= 200 && r.status < 300)
    admitted_latencies_.push_back(took);
  if (r.status == 0)
    s_.stats.no_answer.fetch_add(1, std::memory_order_relaxed);
  else
    warm_ = true;
  if (retryable(r.status)) {
    s_.stats.errors.fetch_add(1, std::memory_order_relaxed);
    const double now = now_mono_ms();
    if (first_failure_ < 0)
      first_failure_ = now;
    const double remaining =
        static_cast<double>(s_.opts.retry_for_ms) - (now - first_failure_);
    if (remaining > 0) {
      double delay = backoff_ * std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
      if (auto ra = retry_after_ms(r))
        delay = std::max(delay, *ra);
      backoff_ = std::min(backoff_ * 2, backoff_max_ms);
      delay = std::min(delay, remaining);
      timer_.expires_after(
          std::chrono::microseconds(static_cast<std::int64_t>(delay * 1000)));
      timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec)
          send();
      });
      return;
    }
  }
  std::unique_lock<std::mutex> lock;
  if (guard_)
    lock = std::unique_lock<std::mutex>(*guard_);
  const double now = now_unix_ms();
  if (retryable(r.status)) {
    report_error("giving up after " + std::to_string(attempts_) + " attempts", r);
    finish_all("failed", r.status, now);
  } else if (r.status >= 200 && r.status < 300) {
    if (s_.opts.batch > 1) {
      const bool ok = read_ingest_results(r.body, answers_);
      if (!ok || answers_.size() != batch_.size())
        report_error("batch response without one result per item", r);
      for (std::size_t i = 0; i < batch_.size(); ++i)
        if (ok && i < answers_.size())
          finish(batch_[i], &answers_[i], r.status, now);
        else
          finish(batch_[i], nullptr, r.status, now);
    } else {
      ingest_answer ans;
      const bool ok = read_ingest_answer(r.body, ans);
      finish(batch_[0], ok ? &ans : nullptr, r.status, now);
    }
  } else {
    // A definitive rejection of the whole request (4xx other than 408/429).
    report_error("rejected", r);
    finish_all("rejected", r.status, now);
  }
  if (!guard_)
    flush_log(); // closed loop: per request; open loop: the owner batches it
  owner_.request_done(*this);
}

void channel::finish_all(std::string_view status, int http, double now) {
  ingest_answer ans;
  ans.status = status;
  for (auto& it : batch_)
    finish(it, &ans, http, now);
}

void channel::finish(const item& it, const ingest_answer* res, int http, double t_ack) {
  auto* a = it.a;
  const auto& ev = a->script->events[it.idx];
  std::string_view status = "failed";
  std::optional<std::int64_t> seq;
  if (res) {
    if (!res->status.empty())
      status = res->status;
    seq = res->bid_sequence;
    if (!res->event_id.empty() && res->event_id != ev.event_id &&
        s_.stats.id_mismatch.fetch_add(1) < 5)
      std::cerr << s_.opts.label << ": " << ev.event_id << " answered with event_id "
                << res->event_id << "\n";
  } else if (http >= 200 && http < 300) {
    report_error("unparsable ack", {});
  }
  std::uint8_t code = 3;
  if (status == "accepted") {
    s_.stats.accepted.fetch_add(1, std::memory_order_relaxed);
    code = 1;
  } else if (status == "duplicate") {
    s_.stats.duplicate.fetch_add(1, std::memory_order_relaxed);
    code = 2;
  } else if (status == "rejected") {
    s_.stats.rejected.fetch_add(1, std::memory_order_relaxed);
    if (res && !res->error.empty() && s_.error_reports++ < 5)
      std::cerr << s_.opts.label << ": " << ev.event_id << " rejected: " << res->error
                << "\n";
  } else {
    status = "failed";
    s_.stats.failed.fetch_add(1, std::memory_order_relaxed);
  }
  a->status[it.idx] = code;
  a->seq[it.idx] = seq;
  if (code == 1 || code == 2) {
    latencies_.push_back(std::max(0.0, t_ack - it.t_sent));
    // A resend must be a duplicate carrying the original's sequence number.
    if (ev.resend_of >= 0) {
      auto orig = static_cast<std::size_t>(ev.resend_of);
      bool orig_acked = a->status[orig] == 1 || a->status[orig] == 2;
      if (orig_acked && (code != 2 || (seq && a->seq[orig] && *seq != *a->seq[orig]))) {
        if (s_.stats.dedup_mismatch.fetch_add(1) < 5)
          std::cerr << s_.opts.label << ": resend of " << ev.event_id << " answered "
                    << status << " seq " << (seq ? std::to_string(*seq) : "null") << "\n";
      }
    }
  }

  auto& out = log_;
  out += "{\"event_id\":";
  append_json_string(ev.event_id, out);
  out += ",\"event_type\":\"";
  out += event_type_name(ev.kind);
  out += "\",\"auction_id\":";
  append_int(a->script->auction_id, out);
  out += ",\"status\":\"";
  out += status;
  out += "\",\"http\":";
  append_int(http, out);
  out += ",\"bid_sequence\":";
  if (seq)
    append_int(*seq, out);
  else
    out += "null";
  out += ",\"t_sent_ms\":";
  append_fixed(it.t_sent, 3, out);
  out += ",\"t_ack_ms\":";
  append_fixed(t_ack, 3, out);
  out += ",\"t_first_send_ms\":";
  append_fixed(it.t_first, 3, out);
  out += "}\n";
}

void channel::report_error(const std::string& what, const http_result& r) {
  if (s_.error_reports.fetch_add(1) >= 10)
    return;
  std::string body = r.body.substr(0, 300);
  std::cerr << s_.opts.label << ": " << what << " (http " << r.status
            << (r.error.empty() ? "" : ", " + r.error) << ")"
            << (body.empty() ? "" : ": " + body) << "\n";
}

} // namespace gavel::sim::sending
