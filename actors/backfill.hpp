#pragma once

#include "actors/interfaces.hpp"
#include "adapters/postgres/store.hpp"

#include <memory>

namespace gavel::actors {

struct backfills_state {
  std::unique_ptr<adapters::pg_store> db;
  static inline const char* name = "backfills";
};

/// The BACKFILLS actor (spawn detached: libpq blocks): the jobs of
/// `gavel backfill` and their checkpoints (DESIGN §1.10, ADR 0027), on a
/// connection of its own. A checkpoint moves only after the batch before it
/// is committed to the outbox, so it never runs ahead of what is stored.
backfills_actor::behavior_type
backfills(backfills_actor::stateful_pointer<backfills_state> self,
          adapters::pg_store::options db);

} // namespace gavel::actors
