#pragma once

#include "actors/interfaces.hpp"
#include "adapters/config/config.hpp"
#include "adapters/metrics.hpp"
#include "adapters/postgres/store.hpp"
#include "protocols/outcome.hpp"
#include "protocols/source.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gavel::actors {

/// The configured sources at run time (DESIGN §1.7, ADR 0022): each one's
/// flag and counts, shared by the HTTP edge (which reads the flag on every
/// request), the inbox actors and the SOURCES actor (which sets the flags).
/// Thread-safe; lock-free on the paths events take.
class source_registry {
public:
  /// One source. Fixed at construction; only the atomics change.
  struct entry {
    std::string name;
    protocols::source_kind kind = protocols::source_kind::http;
    bool file_default = true; ///< `enabled` in the configuration
    std::atomic<bool> enabled{true};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> duplicate{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::int64_t> last_event_ms{0}; ///< arrival of the last event taken
    /// Inboxes: rows waiting and the oldest one's age (-1: not known yet).
    std::atomic<std::int64_t> inbox_rows{-1};
    std::atomic<std::int64_t> inbox_oldest_ms{-1};
    adapters::metrics::histogram* propagation = nullptr;
    adapters::metrics::gauge* enabled_gauge = nullptr;
  };

  explicit source_registry(const std::vector<adapters::source_config>& sources);

  /// nullptr for a name no source has.
  entry* find(std::string_view name) noexcept;
  const std::vector<std::unique_ptr<entry>>& all() const noexcept { return entries_; }
  /// Names of the http sources (where `?source=` may point).
  const std::vector<std::string>& http_names() const noexcept { return http_names_; }

  /// Whether the persisted flags were read at least once: until then no
  /// source takes events (a flag an operator turned off must not be
  /// ignored for a moment after a restart).
  bool flags_known() const noexcept { return flags_known_.load(); }

  /// Applies the persisted flags: a source with a row takes its value, one
  /// without its file default.
  void apply(const std::vector<protocols::source_flag>& flags);

  /// Counts one event's outcome (and, when taken, its propagation: from its
  /// arrival, or its commit in the platform's inbox, to the outbox commit).
  void count(entry& e, protocols::ingest_error outcome, bool duplicate,
             std::string_view reason, std::chrono::duration<double> propagation,
             std::int64_t now_ms);

private:
  std::vector<std::unique_ptr<entry>> entries_;
  std::vector<std::string> http_names_;
  std::atomic<bool> flags_known_{false};
};

/// The `gavel_source_rejected_total{source,reason}` series (created on first
/// use; rejections are rare).
adapters::metrics::counter& source_rejected_counter(std::string_view source,
                                                    std::string_view reason);

struct sources_state {
  std::unique_ptr<adapters::pg_store> db;
  std::shared_ptr<source_registry> registry;
  std::chrono::milliseconds refresh{1000};
  bool reported_failure = false;
  static inline const char* name = "gavel.sources";
};

/// The SOURCES actor (spawn detached: libpq blocks): reads the persisted
/// flags at once and then every `refresh` (so a flip made by another
/// instance, or in the database, takes effect within it), and sets a flag
/// on request: persisted first, then applied, so an answered flip survives
/// a restart.
sources_actor::behavior_type sources(sources_actor::stateful_pointer<sources_state> self,
                                     adapters::pg_store::options db,
                                     std::shared_ptr<source_registry> registry,
                                     std::chrono::milliseconds refresh);

} // namespace gavel::actors
