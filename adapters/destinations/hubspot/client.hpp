#pragma once

#include "adapters/destinations/client.hpp"

#include <memory>

namespace gavel::adapters::destinations {

/// The hubspot client for `cfg`, sending to `origin` (parsed from the
/// destination's URL key).
std::shared_ptr<destination_client>
make_hubspot_client(io_runtime& io, const destination_config& cfg, const url& origin);

} // namespace gavel::adapters::destinations
