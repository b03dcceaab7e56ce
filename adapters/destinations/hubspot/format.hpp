#pragma once

#include "protocols/expected.hpp"
#include "protocols/json.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// HubSpot CRM's wire format (docs/wire-formats.md) as pure functions: the mapping of
/// an envelope to upsert properties, the batch body and the reading of its
/// response. No I/O.
namespace gavel::adapters {

/// HubSpot's limit on inputs per batch call.
inline constexpr std::size_t hubspot_max_batch_inputs = 100;

/// Property name ← envelope path (`metadata.event_id`, `data.amount`).
using hubspot_mapping = std::vector<std::pair<std::string, std::string>>;

/// The default mapping: every metadata field and the common data fields, as
/// `gavel_event_id`, `gavel_event_type`, `bid_sequence`, `auction_id`, ...
hubspot_mapping default_hubspot_mapping();

/// The mapping a destination's `properties` ("property=path" each, checked
/// by the configuration) describe; the default mapping when there are none.
hubspot_mapping hubspot_mapping_of(const std::vector<std::string>& properties);

/// One upsert input: `{"idProperty":P,"id":V,"properties":{...}}` where V is
/// the value mapped to P. Numbers are passed as their exact decimal text
/// (HubSpot properties are strings on the wire); absent paths are omitted;
/// objects and arrays are passed as compact JSON text. Error code
/// "malformed" when the envelope is not JSON, "id_property" when the
/// mapping yields no value for the id property.
protocols::expected<protocols::json::value> hubspot_input(std::string_view envelope,
                                                          const hubspot_mapping& mapping,
                                                          std::string_view id_property);

/// `{"inputs":[...]}`.
std::string hubspot_batch_body(const std::vector<protocols::json::value>& inputs);

/// How HubSpot answered one batch, record by record.
struct hubspot_outcome {
  /// Ids (values of the id property) HubSpot reports as written.
  std::vector<std::string> succeeded;
  /// Ids named in an error's context, with that error's message and status.
  struct failure {
    std::string id;
    std::string message;
    int status = 0;
  };
  std::vector<failure> failed;
  /// Errors that name no id we sent (their messages).
  std::vector<std::string> unattributed;
};

/// Reads a `200`/`201`/`207` batch response: `results[].properties[P]` or
/// `results[].id` for successes, `errors[]` with their `context` for
/// failures (every string in an error's context that equals an id we sent
/// attributes the error to that input). `sent_ids` are the ids in the batch.
protocols::expected<hubspot_outcome>
read_hubspot_response(std::string_view body, std::string_view id_property,
                      const std::vector<std::string>& sent_ids);

} // namespace gavel::adapters
