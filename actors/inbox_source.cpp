#include "actors/inbox_source.hpp"

#include "actors/api/responses.hpp"
#include "adapters/log.hpp"
#include "protocols/time.hpp"

#include <future>

namespace gavel::actors {

namespace {

/// The reason kept in gavel_inbox_rejected: the error code the HTTP ingest
/// would answer, the field, and the message.
std::string reason_of(std::string_view code, std::string_view field,
                      std::string_view message) {
  std::string out{code};
  if (!field.empty())
    out += " (" + std::string{field} + ")";
  out += ": ";
  out += message;
  return out;
}

} // namespace

inbox_source::inbox_source(inbox_source_settings settings,
                           std::unique_ptr<adapters::inbox_reader> reader,
                           std::shared_ptr<source_registry> registry,
                           std::vector<api::gateway_actor> gateways)
    : settings_(std::move(settings)), reader_(std::move(reader)),
      registry_(std::move(registry)), gateways_(std::move(gateways)) {}

inbox_source::~inbox_source() {
  stop();
}

void inbox_source::start() {
  thread_ = std::thread{[this] { run(); }};
}

void inbox_source::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void inbox_source::pause(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock{mutex_};
  wake_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void inbox_source::run() {
  auto* e = registry_->find(settings_.name);
  if (e == nullptr)
    return;
  GAVEL_LOG_INFO("inbox source {} started", settings_.name);
  while (settings_.apply_schema && !stopping_) {
    auto applied = reader_->apply_schema();
    if (applied)
      break;
    if (!reported_failure_)
      GAVEL_LOG_WARN("inbox source {}: cannot create the inbox tables yet: {}",
                     settings_.name, applied.err().message);
    reported_failure_ = true;
    pause(settings_.backoff);
  }
  while (!stopping_) {
    // Flag off (or not known yet after a start): the rows wait where the
    // platform wrote them; only the depth is read, for the operator.
    if (!registry_->flags_known() || !e->enabled.load()) {
      read_depth(*e);
      pause(std::min(settings_.poll_interval, std::chrono::milliseconds{250}));
      continue;
    }
    bool busy = step(*e);
    read_depth(*e);
    if (!busy)
      idle();
  }
  GAVEL_LOG_INFO("inbox source {} stopped", settings_.name);
}

void inbox_source::idle() {
  // PostgreSQL wakes on the NOTIFY of a committed insert, MySQL sleeps the
  // whole poll_interval; in short slices, so stop() never waits long.
  constexpr std::chrono::milliseconds slice{250};
  auto deadline = std::chrono::steady_clock::now() + settings_.poll_interval;
  while (!stopping_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds::zero())
      return;
    auto woke = reader_->wait(std::min(left, slice));
    if (!woke) {
      pause(settings_.backoff);
      return;
    }
    if (*woke)
      return;
  }
}

void inbox_source::read_depth(source_registry::entry& e) {
  // At most every depth_interval: the count reads the whole backlog, so
  // after every batch it would slow the reader most when it is furthest
  // behind.
  auto now = std::chrono::steady_clock::now();
  if (now - last_depth_ < settings_.depth_interval)
    return;
  last_depth_ = now;
  if (auto d = reader_->depth()) {
    e.inbox_rows = d->rows;
    e.inbox_oldest_ms = d->oldest_age ? d->oldest_age->count() : -1;
  }
}

bool inbox_source::step(source_registry::entry& e) {
  auto rows = reader_->read(settings_.batch);
  if (!rows) {
    if (!reported_failure_)
      GAVEL_LOG_WARN("inbox source {}: cannot read the inbox (retrying): {}",
                     settings_.name, rows.err().message);
    reported_failure_ = true;
    pause(settings_.backoff);
    return false;
  }
  if (reported_failure_)
    GAVEL_LOG_INFO("inbox source {}: reading again", settings_.name);
  reported_failure_ = false;
  if (rows->empty())
    return false;

  // Validate each row as POST /v1/events validates one event object.
  const auto now_ms = protocols::unix_now_ms();
  auto sub = std::make_shared<api::submission>();
  sub->results.resize(rows->size());
  std::vector<std::pair<std::int64_t, std::string>> rejects;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const auto& row = (*rows)[i];
    auto body = protocols::parse_ingest_body(row.event, settings_.limits);
    std::string reason;
    std::string code;
    if (!body) {
      code = body.err().code;
      reason = reason_of(code, body.err().field, body.err().message);
    } else if (body->is_batch) {
      code = "malformed";
      reason = reason_of(code, "", "an inbox row holds one event object, not an array");
    } else if (!body->items.front()) {
      const auto& err = body->items.front().err();
      code = "schema";
      reason = reason_of(code, err.field, err.message);
    } else {
      sub->slots.push_back(i);
      sub->events.push_back(std::move(*body->items.front()));
      continue;
    }
    registry_->count(e, protocols::ingest_error::invalid, false, code, {}, now_ms);
    rejects.emplace_back(row.id, std::move(reason));
  }

  // Submit the valid ones and wait for their outbox commit.
  std::vector<std::int64_t> taken;
  bool retry_later = false;
  if (!sub->events.empty()) {
    auto answered = std::make_shared<std::promise<std::vector<ingest_result>>>();
    auto results = answered->get_future();
    sub->done = [answered](std::vector<ingest_result>& r) { answered->set_value(r); };
    auto& g = gateways_[next_gateway_++ % gateways_.size()];
    caf::anon_send(g, atom::submit_v, sub);
    if (results.wait_for(settings_.commit_timeout) != std::future_status::ready) {
      // No answer (the gateway is gone, a shutdown): nothing is removed; the
      // rows are read again and deduplicated.
      pause(settings_.backoff);
      return true;
    }
    auto answers = results.get();
    const auto committed_ms = protocols::unix_now_ms();
    for (auto slot : sub->slots) {
      const auto& row = (*rows)[slot];
      const auto& r = answers[slot];
      auto code = api::to_http(r.error).code;
      std::chrono::duration<double> propagation{
          static_cast<double>(std::max<std::int64_t>(0, committed_ms - row.created)) /
          1000};
      registry_->count(e, r.error, r.st == ingest_result::status::duplicate, code,
                       propagation, committed_ms);
      if (r.st != ingest_result::status::rejected)
        taken.push_back(row.id);
      else if (protocols::retryable(r.error))
        retry_later = true; // the row stays; its next read is deduplicated
      else
        rejects.emplace_back(row.id, reason_of(code, r.error_field, r.error_message));
    }
  }

  // Only now, with the events committed, do the rows leave the inbox.
  if (!taken.empty())
    if (auto removed = reader_->remove(taken); !removed)
      GAVEL_LOG_WARN(
          "inbox source {}: cannot remove {} delivered row(s) yet (they will be "
          "read again and deduplicated): {}",
          settings_.name, taken.size(), removed.err().message);
  for (const auto& [id, reason] : rejects)
    if (auto moved = reader_->reject(id, reason); !moved)
      GAVEL_LOG_WARN(
          "inbox source {}: cannot move row {} to gavel_inbox_rejected yet: {}",
          settings_.name, id, moved.err().message);
    else if (*moved)
      // The reason is in the table; a message may quote the row's data.
      GAVEL_LOG_WARN("inbox source {}: row {} moved to gavel_inbox_rejected",
                     settings_.name, id);
  if (retry_later)
    pause(settings_.backoff);
  return true;
}

} // namespace gavel::actors
