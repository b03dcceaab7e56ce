#pragma once

#include "protocols/expected.hpp"
#include "protocols/json.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The destinations' wire formats (docs/wire-formats.md) as pure functions: request
/// bodies and the reading of responses. No I/O.
namespace gavel::protocols {

// -- Azure Event Hubs ----------------------------------------------------------

/// Event Hubs' limit on one send (bytes of the request body).
inline constexpr std::size_t eventhub_max_batch_bytes = 1024 * 1024;

/// One message of a batch send.
struct eventhub_message {
  std::string_view body; ///< the envelope, carried as the message's Body string
  std::string_view partition_key;
  std::string_view event_id;
  std::string_view event_type;
};

/// The `application/vnd.microsoft.servicebus.json` batch body:
/// `[{"Body":"<envelope>","BrokerProperties":{"PartitionKey":"<key>"},
///    "UserProperties":{"event_id":"..","event_type":".."}}, ...]`.
std::string eventhub_batch_body(const std::vector<eventhub_message>& messages);

/// The bytes one message adds to a batch body (for the 1 MB limit), exact.
std::size_t eventhub_message_size(const eventhub_message& m);

/// `<endpoint>/<hub>` with the scheme forced to https, no trailing slash:
/// the resource URI a SAS token is signed for.
std::string eventhub_resource_uri(std::string_view endpoint, std::string_view hub);

// -- HubSpot CRM ---------------------------------------------------------------

/// HubSpot's limit on inputs per batch call.
inline constexpr std::size_t hubspot_max_batch_inputs = 100;

/// Property name ← envelope path (`metadata.event_id`, `data.amount`).
using hubspot_mapping = std::vector<std::pair<std::string, std::string>>;

/// The default mapping: every metadata field and the common data fields, as
/// `gavel_event_id`, `gavel_event_type`, `bid_sequence`, `auction_id`, ...
hubspot_mapping default_hubspot_mapping();

/// One upsert input: `{"idProperty":P,"id":V,"properties":{...}}` where V is
/// the value mapped to P. Numbers are passed as their exact decimal text
/// (HubSpot properties are strings on the wire); absent paths are omitted;
/// objects and arrays are passed as compact JSON text. Error code
/// "malformed" when the envelope is not JSON, "id_property" when the
/// mapping yields no value for the id property.
expected<json::value> hubspot_input(std::string_view envelope,
                                    const hubspot_mapping& mapping,
                                    std::string_view id_property);

/// `{"inputs":[...]}`.
std::string hubspot_batch_body(const std::vector<json::value>& inputs);

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
expected<hubspot_outcome> read_hubspot_response(std::string_view body,
                                                std::string_view id_property,
                                                const std::vector<std::string>& sent_ids);

} // namespace gavel::protocols
