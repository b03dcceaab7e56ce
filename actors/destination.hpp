#pragma once

#include "actors/interfaces.hpp"
#include "adapters/config.hpp"

#include <deque>
#include <random>
#include <set>

namespace gavel::actors {

/// How one destination kind puts a record on the wire. Implementations live
/// with the adapters' clients; `send` must not block and calls `done` exactly
/// once, from any thread.
class sender {
public:
  virtual ~sender() = default;
  virtual void send(std::uint32_t lane, const adapters::outbox_record& rec,
                    std::function<void(adapters::http_result)> done) = 0;
};

/// Standard Webhooks sender: one keep-alive connection per lane.
std::shared_ptr<sender> make_webhook_sender(adapters::io_runtime& io,
                                            const adapters::destination_config& cfg);

struct destination_settings {
  std::string name;
  std::string kind;
  std::set<protocols::event_type> event_types;
  std::uint32_t lanes = 8;
  std::size_t window = 20000;
  std::size_t page = 2000;
  adapters::retry_config retry;
  std::chrono::milliseconds position_interval{200};
};

/// Builds settings from configuration.
destination_settings make_destination_settings(const adapters::destination_config& cfg);

struct destination_state {
  struct lane {
    std::deque<adapters::outbox_record> queue;
    bool in_flight = false;
    unsigned attempts = 0;
    std::uint64_t token = 0;
  };
  enum class mode { starting, catching_up, live };

  destination_settings settings;
  std::shared_ptr<sender> out;
  store_actor store;
  reader_actor reader;
  std::vector<lane> lanes;
  /// Positions held in memory, ascending, with a delivered flag.
  std::deque<std::pair<std::int64_t, bool>> order;
  std::int64_t delivered_through = 0;
  std::int64_t saved_through = 0;
  std::int64_t loaded_through = 0;
  std::int64_t max_seen_live = 0;
  mode m = mode::starting;
  bool reading = false;
  std::uint64_t delivered = 0;
  std::uint64_t retries = 0;
  std::string last_error;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "gavel.destination";
};

/// The DESTINATION actor: delivers every committed record of the types it
/// takes, at least once, in per-auction order. Auctions hash to lanes; a lane
/// sends one record at a time and retries its head with exponential backoff
/// and jitter, so a later event of an auction never overtakes an earlier one.
/// It holds at most `window` records in memory: beyond that it drops the live
/// feed and catches up from the outbox. delivered-through (every position at
/// or below it is delivered) is stored periodically; a restart resumes there.
destination_actor::behavior_type
destination(destination_actor::stateful_pointer<destination_state> self,
            destination_settings settings, std::shared_ptr<sender> out, store_actor store,
            reader_actor reader);

} // namespace gavel::actors
