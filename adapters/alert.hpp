#pragma once

/// Alerting: the rule engine that turns pipeline health into incidents
/// (deduplicated, rate-limited: one alert and one recovery notice per
/// incident), and the senders that deliver notices — email over SMTP and a
/// Microsoft Teams incoming webhook, both through libcurl (blocking: run them
/// on a detached actor or a thread of their own).

#include "adapters/config/config.hpp"
#include "protocols/event.hpp"
#include "protocols/expected.hpp"
#include "protocols/health.hpp"
#include "protocols/source.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gavel::adapters {

/// What the rules look at (built from the health snapshot).
struct health_input {
  protocols::unix_ms now = 0;
  bool database_up = true;
  struct destination {
    std::string name;
    protocols::destination_state state = protocols::destination_state::ok;
    double lag_seconds = 0;
    std::uint64_t dead_letters = 0; ///< cumulative
    std::string last_error;
  };
  std::vector<destination> destinations;
  /// The store and registry's supervisor: ok | restarting | failed | unknown.
  protocols::core_state core_state = protocols::core_state::ok;
  std::string core_error; ///< why it last restarted
  /// The embedded cluster restarted more often than database.restart_limit
  /// within database.restart_period.
  bool database_over_limit = false;
  std::string database_error; ///< why it last restarted
  /// The store's commits are refused for want of storage (disk full, read-only).
  bool storage_refusing = false;
  std::string storage_error;
  /// Each source's cumulative counts (actors/sources.hpp).
  /// One source as /v1/pipeline and the rules see it (actors::source_health).
  struct source {
    std::string name;
    protocols::source_kind kind = protocols::source_kind::http;
    bool enabled = true;
    std::uint64_t taken = 0;    ///< accepted and duplicate events
    std::uint64_t rejected = 0; ///< events turned away for good
    /// The propagation histogram: upper bounds (seconds) and non-cumulative
    /// bucket counts (one more than bounds: +Inf).
    std::vector<double> bounds;
    std::vector<std::uint64_t> buckets;
    /// Inboxes: the age of the oldest row waiting (nullopt: empty or unknown).
    std::optional<double> oldest_seconds;
  };
  std::vector<source> sources;
};

/// One notice to send.
struct alert_notice {
  std::string key; ///< incident identity, e.g. "destination_failing:crm"
  bool recovery = false;
  std::string subject; ///< one line
  std::string text;    ///< plain text, several lines
};

/// The rules (thresholds from `[alerts]`) and the incident book. Pure: time
/// comes in with the input, so tests drive it deterministically.
class alert_engine {
public:
  explicit alert_engine(alerts_config cfg);

  /// Evaluates one snapshot; returns the notices to send now.
  std::vector<alert_notice> evaluate(const health_input& in);

  /// Incidents currently open (key → opened at).
  std::map<std::string, protocols::unix_ms> open_incidents() const;

  /// Notices suppressed by the rate limits so far.
  std::uint64_t suppressed() const noexcept { return suppressed_; }

private:
  struct incident {
    protocols::unix_ms since = 0;       ///< condition true since
    protocols::unix_ms clear_since = 0; ///< condition false since (0: true now)
    bool open = false;                  ///< the alert went (or was due)
    bool notified = false;              ///< the alert was actually sent
    protocols::unix_ms opened_at = 0;
    std::string detail;
  };
  void observe(const std::string& key, bool condition, protocols::unix_ms hold,
               protocols::unix_ms now, std::string subject, std::string detail,
               std::vector<alert_notice>& out);
  bool allow(const std::string& key, protocols::unix_ms now);
  void evaluate_sources(const health_input& in, std::vector<alert_notice>& out);

  alerts_config cfg_;
  std::map<std::string, incident> incidents_;
  std::map<std::string, std::uint64_t> dead_letter_baseline_;
  std::map<std::string, protocols::unix_ms> last_dead_letter_;
  std::map<std::string, protocols::unix_ms> last_notice_;
  std::deque<protocols::unix_ms> sent_; ///< notice times in the last hour
  /// Per source: (time, taken, rejected) samples covering the rejection window.
  struct source_sample {
    protocols::unix_ms at = 0;
    std::uint64_t taken = 0;
    std::uint64_t rejected = 0;
  };
  std::map<std::string, std::deque<source_sample>> source_samples_;
  /// Per source: the propagation counts (all, slow) at the last evaluation,
  /// and whether the last interval with events was slow.
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> propagation_seen_;
  std::map<std::string, bool> propagation_slow_;
  std::uint64_t suppressed_ = 0;
};

/// Masks what must never leave in alert text: email addresses, bearer
/// tokens, signatures and query strings of URLs; caps the length.
std::string scrub_for_alert(std::string_view text, std::size_t max = 300);

/// Delivers notices somewhere.
class alert_sender {
public:
  virtual ~alert_sender() = default;
  virtual const char* name() const noexcept = 0;
  /// Blocking; error code "alert" with a message that carries no secret.
  virtual protocols::expected<bool> send(const alert_notice& n) = 0;
};

/// Email over SMTP (libcurl): STARTTLS required on smtp:// unless
/// `smtp_starttls` is false, TLS from the start on smtps://, AUTH when a user
/// is set, peer and host verified.
std::unique_ptr<alert_sender> make_email_sender(const alerts_config& cfg);

/// Microsoft Teams incoming webhook: an Adaptive Card in a message
/// (`{"type":"message","attachments":[{"contentType":
/// "application/vnd.microsoft.card.adaptive","content":{...}}]}`), which both
/// the classic Incoming Webhook connector and the Workflows webhook accept.
std::unique_ptr<alert_sender> make_teams_sender(const alerts_config& cfg);

/// The Teams request body for a notice (exposed for tests).
std::string teams_card_json(const alert_notice& n, const std::string& instance);

/// The RFC 5322 message for a notice (exposed for tests).
std::string email_message(const alert_notice& n, const alerts_config& cfg,
                          protocols::unix_ms now);

} // namespace gavel::adapters
