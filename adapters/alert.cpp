#include "adapters/alert.hpp"

#include "protocols/json.hpp"
#include "protocols/time.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <curl/curl.h>
#include <mutex>
#include <random>

namespace gavel::adapters {

namespace {

using protocols::unix_ms;

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.1f s" : "%.0f s", s);
  return buf;
}

std::string duration_text(millis d) {
  auto ms = d.count();
  if (ms % 60000 == 0)
    return std::to_string(ms / 60000) + " min";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

bool healthy_state(protocols::destination_state s) {
  return s == protocols::destination_state::ok ||
         s == protocols::destination_state::catching_up;
}

} // namespace

alert_engine::alert_engine(alerts_config cfg) : cfg_(std::move(cfg)) {}

std::map<std::string, unix_ms> alert_engine::open_incidents() const {
  std::map<std::string, unix_ms> out;
  for (const auto& [k, i] : incidents_)
    if (i.open)
      out.emplace(k, i.opened_at);
  return out;
}

bool alert_engine::allow(const std::string& key, unix_ms now) {
  while (!sent_.empty() && now - sent_.front() >= 3'600'000)
    sent_.pop_front();
  if (sent_.size() >= cfg_.max_per_hour)
    return false;
  if (auto it = last_notice_.find(key);
      it != last_notice_.end() && now - it->second < cfg_.min_interval.count())
    return false;
  return true;
}

void alert_engine::observe(const std::string& key, bool condition, unix_ms hold,
                           unix_ms now, std::string subject, std::string detail,
                           std::vector<alert_notice>& out) {
  // Recovery needs the condition gone for a while, so a flapping condition
  // stays one incident. Dead letters are events, not a state: their
  // incident ends after min_interval without a new one.
  const unix_ms clear_hold = key.rfind("dead_letters:", 0) == 0
                                 ? cfg_.min_interval.count()
                                 : std::max<unix_ms>(2 * cfg_.interval.count(), 1000);
  auto it = incidents_.find(key);
  if (condition) {
    auto& inc = it == incidents_.end() ? incidents_[key] : it->second;
    inc.clear_since = 0;
    if (inc.since == 0)
      inc.since = now;
    inc.detail = detail;
    if (!inc.open && now - inc.since >= hold) {
      inc.open = true;
      inc.opened_at = now;
      if (allow(key, now)) {
        inc.notified = true;
        last_notice_[key] = now;
        sent_.push_back(now);
        alert_notice n;
        n.key = key;
        n.subject = "[" + cfg_.instance + "] ALERT: " + subject;
        n.text = "Gavel instance: " + cfg_.instance + "\n" + "Alert: " + subject + "\n" +
                 "Since: " + protocols::format_iso8601_ms(inc.since) + "\n" + detail +
                 "\n\nDetails: GET /v1/pipeline on the instance. One notice is sent "
                 "per incident, and one when it recovers.\n";
        out.push_back(std::move(n));
      } else {
        ++suppressed_;
      }
    }
    return;
  }
  if (it == incidents_.end())
    return;
  auto& inc = it->second;
  if (!inc.open) {
    incidents_.erase(it); // cleared before it was due: never an incident
    return;
  }
  if (inc.clear_since == 0)
    inc.clear_since = now;
  if (now - inc.clear_since < clear_hold)
    return;
  if (inc.notified) {
    // The recovery of an incident that was announced always goes (it still
    // counts toward the hourly cap).
    sent_.push_back(now);
    alert_notice n;
    n.key = key;
    n.recovery = true;
    n.subject = "[" + cfg_.instance + "] RECOVERED: " + subject;
    n.text = "Gavel instance: " + cfg_.instance + "\n" + "Recovered: " + subject + "\n" +
             "Alert raised: " + protocols::format_iso8601_ms(inc.opened_at) + "\n" +
             "Recovered: " + protocols::format_iso8601_ms(now) + "\n";
    out.push_back(std::move(n));
  }
  incidents_.erase(it);
}

std::vector<alert_notice> alert_engine::evaluate(const health_input& in) {
  std::vector<alert_notice> out;
  const auto now = in.now;
  observe("database_unreachable", !in.database_up, cfg_.database_unreachable_for.count(),
          now, "PostgreSQL unreachable",
          "The outbox database does not answer: ingest answers 503 (nothing "
          "acknowledged is lost). Threshold: " +
              duration_text(cfg_.database_unreachable_for) + ".",
          out);
  // No threshold: it does not pass by itself (space must be freed), and
  // every event meanwhile is refused.
  observe("storage", in.storage_refusing, 0, now,
          "database storage refusing writes (disk full or read-only)",
          "PostgreSQL refuses the outbox's commits for want of storage: ingest "
          "answers 503 (nothing acknowledged is lost) until space is freed or the "
          "file system is writable again; Gavel then recovers by itself." +
              (in.storage_error.empty()
                   ? std::string{}
                   : "\nLast error: " + scrub_for_alert(in.storage_error)),
          out);
  if (cfg_.restart_intensity)
    observe("restart_intensity:core", in.core_state == protocols::core_state::failed, 0,
            now, "store and registry stopped (restart intensity exceeded)",
            "The core supervisor gave up restarting the store and the registry: ingest "
            "answers 503 (nothing acknowledged is lost) until POST "
            "/v1/components/core/restart." +
                (in.core_error.empty()
                     ? std::string{}
                     : "\nLast error: " + scrub_for_alert(in.core_error)),
            out);
  if (cfg_.restart_intensity)
    observe("restart_intensity:database", in.database_over_limit, 0, now,
            "embedded PostgreSQL restarting too often (restart intensity exceeded)",
            "The embedded PostgreSQL cluster went down more than "
            "database.restart_limit times within database.restart_period. Gavel "
            "keeps restarting it, now at its slowest pace; ingest answers 503 "
            "while it is down (nothing acknowledged is lost). Its log: "
            "<database.data_dir>/postgres.log." +
                (in.database_error.empty()
                     ? std::string{}
                     : "\nLast error: " + scrub_for_alert(in.database_error)),
            out);
  for (const auto& d : in.destinations) {
    auto error = d.last_error.empty() ? std::string{}
                                      : "\nLast error: " + scrub_for_alert(d.last_error);
    observe("destination_failing:" + d.name, !healthy_state(d.state),
            cfg_.failing_for.count(), now, "destination " + d.name + " failing",
            "Destination: " + d.name + "\nState: " + std::string{to_string(d.state)} +
                "\nThreshold: not ok for " + duration_text(cfg_.failing_for) + "." +
                error,
            out);
    if (cfg_.restart_intensity)
      observe("restart_intensity:" + d.name,
              d.state == protocols::destination_state::failed, 0, now,
              "destination " + d.name + " stopped (restart intensity exceeded)",
              "Destination: " + d.name +
                  "\nIts supervisor gave up restarting it; it stays stopped until "
                  "POST /v1/destinations/" +
                  d.name + "/restart." + error,
              out);
    observe("lag:" + d.name, d.lag_seconds > cfg_.lag_above.count() / 1000.0, 0, now,
            "destination " + d.name + " lagging",
            "Destination: " + d.name +
                "\nOldest undelivered event: " + seconds_text(d.lag_seconds) +
                " old (threshold " + duration_text(cfg_.lag_above) +
                ").\nState: " + std::string{to_string(d.state)},
            out);
    if (cfg_.dead_letters) {
      // The count is this process's (it starts at 0): one made before the
      // first evaluation is new too.
      auto base = dead_letter_baseline_.try_emplace(d.name, 0).first;
      bool rose = d.dead_letters > base->second;
      std::uint64_t added = rose ? d.dead_letters - base->second : 0;
      base->second = d.dead_letters; // a lower value (a reset) is the new baseline
      observe("dead_letters:" + d.name, rose, 0, now, "new dead letters on " + d.name,
              "Destination: " + d.name + "\nNew dead letters: " + std::to_string(added) +
                  " (total " + std::to_string(d.dead_letters) +
                  ").\nList them: GET /v1/dead-letters?destination=" + d.name +
                  "; redrive: POST /v1/dead-letters/redrive." + error,
              out);
    }
  }
  evaluate_sources(in, out);
  return out;
}

void alert_engine::evaluate_sources(const health_input& in,
                                    std::vector<alert_notice>& out) {
  const auto now = in.now;
  const double slow_above =
      static_cast<double>(cfg_.source_propagation_above.count()) / 1000;
  char percent[32];
  std::snprintf(percent, sizeof percent, "%g", cfg_.source_rejection_percent);
  for (const auto& s : in.sources) {
    // Rejections: the share over a full window (so a start-up blip of three
    // events, one bad, is not 33 % of anything).
    auto& samples = source_samples_[s.name];
    samples.push_back({now, s.taken, s.rejected});
    const auto window = cfg_.source_rejection_window.count();
    while (samples.size() > 1 && now - samples[1].at >= window)
      samples.pop_front();
    const auto& base = samples.front();
    bool full = now - base.at >= window;
    auto taken = s.taken >= base.taken ? s.taken - base.taken : 0;
    auto rejected = s.rejected >= base.rejected ? s.rejected - base.rejected : 0;
    double share = taken + rejected > 0 ? 100.0 * static_cast<double>(rejected) /
                                              static_cast<double>(taken + rejected)
                                        : 0;
    observe("source_rejections:" + s.name,
            cfg_.source_rejection_percent > 0 && full && rejected > 0 &&
                share > cfg_.source_rejection_percent,
            0, now, "source " + s.name + " rejecting events",
            "Source: " + s.name + "\nRejected " + std::to_string(rejected) + " of " +
                std::to_string(taken + rejected) + " events in the last " +
                duration_text(cfg_.source_rejection_window) + " (threshold " + percent +
                " %).\nWhy: gavel_source_rejected_total{source=\"" + s.name +
                "\"} by reason; an inbox keeps its rows in gavel_inbox_rejected.",
            out);
    // Propagation: p99 above the threshold means more than 1 % of the
    // interval's events in buckets above it (the threshold is taken at the
    // first bucket bound at or above it). An interval without events keeps
    // the last verdict; an enabled inbox whose oldest row is older than the
    // threshold is slow whatever flowed.
    std::uint64_t all = 0;
    std::uint64_t slow = 0;
    for (std::size_t i = 0; i < s.buckets.size(); ++i) {
      all += s.buckets[i];
      if (i > 0 && s.bounds[i - 1] >= slow_above)
        slow += s.buckets[i];
    }
    auto [seen, fresh] = propagation_seen_.try_emplace(s.name, all, slow);
    auto d_all = all >= seen->second.first ? all - seen->second.first : 0;
    auto d_slow = slow >= seen->second.second ? slow - seen->second.second : 0;
    seen->second = {all, slow};
    bool& verdict = propagation_slow_[s.name];
    if (!fresh && d_all > 0)
      verdict = static_cast<double>(d_slow) > 0.01 * static_cast<double>(d_all);
    bool stuck = s.enabled && s.oldest_seconds && *s.oldest_seconds > slow_above;
    observe("source_propagation:" + s.name, s.enabled && (verdict || stuck),
            cfg_.source_propagation_for.count(), now,
            "source " + s.name + " propagating slowly",
            "Source: " + s.name +
                "\nPropagation p99 (commit or arrival to the outbox "
                "commit) above " +
                duration_text(cfg_.source_propagation_above) + " for " +
                duration_text(cfg_.source_propagation_for) +
                (stuck
                     ? ".\nOldest inbox row: " + seconds_text(*s.oldest_seconds) + " old."
                     : std::string{"."}) +
                "\nSee GET /v1/sources and gavel_source_propagation_seconds.",
            out);
  }
}

std::string scrub_for_alert(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  auto word_end = [&](std::size_t j) {
    while (j < text.size() && text[j] != ' ' && text[j] != '"' && text[j] != '\'' &&
           text[j] != ',' && text[j] != '\n')
      ++j;
    return j;
  };
  while (i < text.size() && out.size() < max) {
    auto end = word_end(i);
    if (end == i) {
      out += text[i] == '\n' ? ' ' : text[i];
      ++i;
      continue;
    }
    auto word = text.substr(i, end - i);
    std::string lower{word};
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    // An address is redacted whole before the URL rule below could keep a
    // part of it: the same action as the credential branch, at another rank.
    if (word.find('@') != std::string_view::npos) { // NOLINT(bugprone-branch-clone)
      out += "[redacted]";
    } else if (lower == "bearer" || lower.rfind("sharedaccesssignature", 0) == 0) {
      out += word;
      // Drop the credential that follows.
      auto next = end;
      while (next < text.size() && text[next] == ' ')
        ++next;
      out += " [redacted]";
      end = word_end(next);
    } else if (auto q = word.find('?'); q != std::string_view::npos &&
                                        word.find("://") != std::string_view::npos) {
      out += std::string{word.substr(0, q)} + "?[redacted]";
    } else if (lower.find("sig=") != std::string::npos ||
               lower.find("token=") != std::string::npos ||
               lower.find("password") != std::string::npos ||
               lower.find("whsec_") != std::string::npos) {
      out += "[redacted]";
    } else {
      out += word;
    }
    i = end;
  }
  if (out.size() > max || i < text.size()) {
    out.resize(std::min(out.size(), max));
    out += "...";
  }
  return out;
}

// -- senders ---------------------------------------------------------------------

namespace {

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct curl_handle {
  CURL* h = nullptr;
  curl_slist* list = nullptr;
  curl_slist* headers = nullptr;
  curl_handle() {
    curl_init_once();
    h = curl_easy_init();
  }
  ~curl_handle() {
    if (list)
      curl_slist_free_all(list);
    if (headers)
      curl_slist_free_all(headers);
    if (h)
      curl_easy_cleanup(h);
  }
  curl_handle(const curl_handle&) = delete;
  curl_handle& operator=(const curl_handle&) = delete;
};

protocols::error alert_error(std::string message) {
  return protocols::error{"alert", {}, std::move(message)};
}

/// An address for the SMTP envelope: `<x@y>`.
std::string angle(const std::string& address) {
  if (!address.empty() && address.front() == '<')
    return address;
  return "<" + address + ">";
}

std::string rfc5322_date(unix_ms now) {
  std::time_t t = static_cast<std::time_t>(now / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

/// Header values stay on one line.
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n')
      c = ' ';
  return s;
}

class email_sender final : public alert_sender {
public:
  explicit email_sender(alerts_config cfg) : cfg_(std::move(cfg)) {}
  const char* name() const noexcept override { return "email"; }

  protocols::expected<bool> send(const alert_notice& n) override {
    auto now = protocols::unix_now_ms();
    struct upload {
      std::string data;
      std::size_t offset = 0;
    } up{email_message(n, cfg_, now), 0};
    curl_handle c;
    if (!c.h)
      return alert_error("email: cannot initialise libcurl");
    curl_easy_setopt(c.h, CURLOPT_URL, cfg_.smtp_url.c_str());
    if (cfg_.smtp_url.rfind("smtp://", 0) == 0 && cfg_.smtp_starttls)
      curl_easy_setopt(c.h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!cfg_.smtp_user.empty()) {
      curl_easy_setopt(c.h, CURLOPT_USERNAME, cfg_.smtp_user.c_str());
      curl_easy_setopt(c.h, CURLOPT_PASSWORD, cfg_.smtp_password.c_str());
    }
    if (!cfg_.ca_file.empty())
      curl_easy_setopt(c.h, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYHOST, 2L);
    auto from = angle(cfg_.email_from);
    curl_easy_setopt(c.h, CURLOPT_MAIL_FROM, from.c_str());
    for (const auto& to : cfg_.email_to)
      c.list = curl_slist_append(c.list, angle(to).c_str());
    curl_easy_setopt(c.h, CURLOPT_MAIL_RCPT, c.list);
    curl_easy_setopt(c.h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c.h, CURLOPT_READDATA, &up);
    curl_easy_setopt(
        c.h, CURLOPT_READFUNCTION,
        +[](char* buf, std::size_t size, std::size_t items, void* p) -> std::size_t {
          auto* u = static_cast<upload*>(p);
          auto n = std::min(size * items, u->data.size() - u->offset);
          std::memcpy(buf, u->data.data() + u->offset, n);
          u->offset += n;
          return n;
        });
    curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.timeout.count()));
    curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(cfg_.timeout.count()));
    curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
    auto rc = curl_easy_perform(c.h);
    if (rc != CURLE_OK) {
      long code = 0;
      curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &code);
      // libcurl's messages name the stage, never the credentials.
      return alert_error("email: " + std::string{curl_easy_strerror(rc)} +
                         (code ? " (SMTP " + std::to_string(code) + ")" : ""));
    }
    return true;
  }

private:
  alerts_config cfg_;
};

class teams_sender final : public alert_sender {
public:
  explicit teams_sender(alerts_config cfg) : cfg_(std::move(cfg)) {}
  const char* name() const noexcept override { return "teams"; }

  protocols::expected<bool> send(const alert_notice& n) override {
    auto body = teams_card_json(n, cfg_.instance);
    curl_handle c;
    if (!c.h)
      return alert_error("teams: cannot initialise libcurl");
    std::string response;
    curl_easy_setopt(c.h, CURLOPT_URL, cfg_.teams_webhook_url.c_str());
    c.headers = curl_slist_append(c.headers, "Content-Type: application/json");
    curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c.h, CURLOPT_USERAGENT, "gavel");
    if (!cfg_.ca_file.empty())
      curl_easy_setopt(c.h, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.timeout.count()));
    curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(
        c.h, CURLOPT_WRITEFUNCTION,
        +[](char* p, std::size_t size, std::size_t items, void* out) -> std::size_t {
          auto* s = static_cast<std::string*>(out);
          if (s->size() < 512)
            s->append(p, std::min<std::size_t>(size * items, 512 - s->size()));
          return size * items;
        });
    auto rc = curl_easy_perform(c.h);
    if (rc != CURLE_OK)
      // Never the URL: it carries the webhook's key.
      return alert_error("teams: " + std::string{curl_easy_strerror(rc)});
    long code = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299)
      return alert_error("teams: HTTP " + std::to_string(code) + ": " +
                         scrub_for_alert(response, 200));
    return true;
  }

private:
  alerts_config cfg_;
};

} // namespace

std::unique_ptr<alert_sender> make_email_sender(const alerts_config& cfg) {
  if (cfg.smtp_url.empty())
    return nullptr;
  return std::make_unique<email_sender>(cfg);
}

std::unique_ptr<alert_sender> make_teams_sender(const alerts_config& cfg) {
  if (cfg.teams_webhook_url.empty())
    return nullptr;
  return std::make_unique<teams_sender>(cfg);
}

std::string teams_card_json(const alert_notice& n, const std::string& instance) {
  namespace json = protocols::json;
  std::string out =
      R"({"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4","body":[)";
  out += R"({"type":"TextBlock","size":"Large","weight":"Bolder","wrap":true,"color":)";
  out += n.recovery ? R"("Good")" : R"("Attention")";
  out += R"(,"text":)";
  json::dump_string(n.subject, out);
  out += R"(},{"type":"TextBlock","wrap":true,"text":)";
  // Adaptive Card TextBlocks take Markdown: one paragraph per line.
  std::string text;
  for (char c : n.text)
    text += c == '\n' ? std::string{"\n\n"} : std::string(1, c);
  json::dump_string(text, out);
  out += R"(},{"type":"TextBlock","isSubtle":true,"size":"Small","wrap":true,"text":)";
  json::dump_string("gavel instance " + instance + " · incident " + n.key, out);
  out += "}]}}]}";
  return out;
}

std::string email_message(const alert_notice& n, const alerts_config& cfg,
                          protocols::unix_ms now) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex rng_mutex;
  std::uint64_t id;
  {
    std::lock_guard guard{rng_mutex};
    id = rng();
  }
  std::string to;
  for (const auto& t : cfg.email_to)
    to += (to.empty() ? "" : ", ") + t;
  auto domain = cfg.email_from.substr(cfg.email_from.find('@') + 1);
  if (!domain.empty() && domain.back() == '>')
    domain.pop_back();
  std::string m;
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "From: " + one_line(cfg.email_from) + "\r\n";
  m += "To: " + one_line(to) + "\r\n";
  m += "Subject: " + one_line(n.subject) + "\r\n";
  m += "Message-ID: <gavel." + std::to_string(now) + "." + std::to_string(id) + "@" +
       one_line(domain) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "X-Gavel-Incident: " + one_line(n.key) + "\r\n";
  m += "\r\n";
  // CRLF line ends; a line starting with '.' is doubled by libcurl itself.
  for (char c : n.text) {
    if (c == '\n')
      m += "\r\n";
    else
      m += c;
  }
  if (m.size() < 2 || m.substr(m.size() - 2) != "\r\n")
    m += "\r\n";
  return m;
}

} // namespace gavel::adapters
