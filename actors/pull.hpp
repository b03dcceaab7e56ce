#pragma once

#include "actors/interfaces.hpp"
#include "adapters/postgres/store.hpp"

#include <memory>
#include <vector>

namespace gavel::actors {

struct pull_state {
  std::unique_ptr<adapters::pg_store> db;
  /// The configured destinations and their event types (auction summaries).
  std::vector<protocols::delivery_scope> destinations;
  static inline const char* name = "gavel.pull";
};

/// The PULL actor: the reconciliation pull API's reads on a connection of
/// its own (docs/adr/0020-pull-api-and-digests.md). Spawn detached: libpq
/// blocks. One request at a time; requests queue in its mailbox, and the API
/// bounds how long each waits.
pull_actor::behavior_type pull(pull_actor::stateful_pointer<pull_state> self,
                               adapters::pg_store::options db,
                               std::vector<protocols::delivery_scope> destinations);

} // namespace gavel::actors
