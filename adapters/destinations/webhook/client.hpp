#pragma once

#include "adapters/destinations/client.hpp"

#include <memory>

namespace gavel::adapters::destinations {

/// The webhook client for `cfg`, sending to `target` (parsed from the
/// destination's URL key).
std::shared_ptr<destination_client>
make_webhook_client(io_runtime& io, const destination_config& cfg, const url& target);

} // namespace gavel::adapters::destinations
