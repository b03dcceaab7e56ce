#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

/// Azure Event Hubs' wire format (docs/wire-formats.md) as pure functions: the batch
/// body and the resource a SAS token is signed for. No I/O.
namespace gavel::adapters {

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

} // namespace gavel::adapters
