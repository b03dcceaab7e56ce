// libFuzzer target: an ingest body as POST /v1/events treats it
// (actors/api/ingest.cpp): parse + validate with the configured limits, then,
// for every accepted item, what the store does with it (event id, envelope,
// synthesised auction.opened).
#include "protocols/event.hpp"

#include "adapters/config/config.hpp"
#include "protocols/json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace gavel;
using namespace gavel::protocols;

namespace {

validation_limits configured_limits() {
  // The defaults a deployment runs with, read from the one declaration.
  auto cfg = adapters::default_config();
  validation_limits limits;
  limits.max_batch = cfg.ingest.max_batch;
  limits.max_depth = cfg.ingest.max_depth;
  return limits;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const validation_limits limits = configured_limits();
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto body = parse_ingest_body(text, limits);
  if (!body)
    return 0;
  if (body->items.empty() || body->items.size() > limits.max_batch)
    std::abort(); // empty_batch and batch_too_large are whole-body errors
  if (!body->is_batch && body->items.size() != 1)
    std::abort();
  for (const auto& item : body->items) {
    if (!item) {
      if (item.err().code != "schema")
        std::abort();
      continue;
    }
    const auto& ev = *item;
    if (ev.auction_id < 1 || ev.type == event_type::producer_heartbeat)
      std::abort();
    if (ev.type == event_type::bid_placed && (ev.bid_id < 1 || !is_decimal(ev.price)))
      std::abort();
    envelope_metadata meta;
    meta.event_id = ev.event_id();
    meta.type = ev.type;
    meta.producer_timestamp = 1781015000000;
    meta.bid_sequence = 2;
    // The envelope is what every destination parses: it must be JSON.
    if (!json::parse(make_envelope(meta, ev.data)))
      std::abort();
    auto open = synthesized_open_data(ev);
    if (!json::parse(json::dump(open)))
      std::abort();
  }
  return 0;
}
