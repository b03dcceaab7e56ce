#pragma once

#include "adapters/destinations/client.hpp"

/// A destination's `pii = "mask" | "hash"` (DESIGN §1.9): the kind's client
/// sees every envelope with the `[pii] fields` of its `data` masked or
/// replaced by pseudonyms. The rewrite is a pure function of the stored
/// envelope (and the key), so a retry, a redrive or a replay after a
/// restart sends the same bytes; the outbox and dead letters keep the
/// envelope as ingested.
namespace gavel::adapters {

/// `inner` itself for pii = "clear", else `inner` behind the rewrite.
std::shared_ptr<destination_client> with_pii(std::shared_ptr<destination_client> inner,
                                             const destination_config& cfg);

} // namespace gavel::adapters
