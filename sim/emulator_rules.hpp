#pragma once

// The pure rules behind the destination emulators (`sim eventhub`, `sim
// hubspot`): SAS token checks, Event Hubs batch parsing and partitioning,
// HubSpot batch-upsert parsing, the rate-limit window, outage windows and
// the arrival line format. No I/O, so tests/sim/emulator_rules_test.cpp can
// cover them with fixed clocks.

#include "protocols/crypto.hpp"
#include "protocols/expected.hpp"

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gavel::sim {

using protocols::expected;

// -- SAS tokens (Azure Event Hubs / Service Bus) ------------------------------

using protocols::url_decode;

/// The fields of `SharedAccessSignature sr=..&sig=..&se=..&skn=..` as they
/// appear in the header (still percent-encoded), in any order.
struct sas_fields {
  std::string sr;
  std::string sig;
  std::string se;
  std::string skn;
};

/// Nullopt unless the header starts with `SharedAccessSignature ` and carries
/// all four fields.
std::optional<sas_fields> parse_sas_header(std::string_view header);

/// A resource URI reduced for comparison: lower case, scheme (`https://`,
/// `http://`, `sb://`, `amqps://`) and trailing `/` removed:
/// `https://NS.servicebus.windows.net/Hub/` -> `ns.servicebus.windows.net/hub`.
std::string normalize_resource(std::string_view uri);

enum class sas_verdict {
  ok,
  missing,        ///< no Authorization header
  malformed,      ///< not a SharedAccessSignature with sr, sig, se, skn
  expired,        ///< se is at or before now
  wrong_key_name, ///< skn is not the configured key name
  wrong_audience, ///< sr does not cover the entity addressed
  bad_signature,  ///< sig is not HMAC-SHA256(key, sr + "\n" + se)
};
const char* to_string(sas_verdict v);

/// What the emulator expects of a token.
struct sas_expectation {
  std::string key_name;
  std::string key;    ///< used as given (its bytes), not base64-decoded, like Azure
  std::string entity; ///< normalized: `host/hub` or `host/hub/partitions/N`
  std::int64_t now_unix_s = 0;
};

/// Checks a SAS header the way the service does: the signature is the
/// base64 HMAC-SHA256, keyed with the key's bytes, of the `sr` value exactly
/// as it appears in the token (still percent-encoded) + "\n" + the `se`
/// text; `sig` and `skn` are percent-decoded before comparison; the decoded
/// `sr`, normalized, must be the entity or one of its parents at a path
/// boundary (a namespace-wide token covers every hub), compared without case.
sas_verdict check_sas(std::string_view header, const sas_expectation& expect);

// -- Event Hubs batches -------------------------------------------------------

/// What a send addresses: `/<hub>/messages` or `/<hub>/partitions/<id>/messages`.
struct eventhub_target {
  std::string hub;
  std::optional<std::string> partition_id; ///< as written in the path
};
/// Parses the path (without the query); nullopt for any other path.
std::optional<eventhub_target> parse_eventhub_path(std::string_view path);

struct eventhub_message {
  std::string body; ///< the `Body` string
  std::optional<std::string> partition_key;
};

/// Parses an `application/vnd.microsoft.servicebus.json` batch: a non-empty
/// JSON array of objects, each with a string `Body`, an optional
/// `BrokerProperties` object (its `PartitionKey`, when present, a string) and
/// an optional `UserProperties` object. Error code "malformed" (message for
/// people) otherwise.
expected<std::vector<eventhub_message>> parse_eventhub_batch(std::string_view body);

/// Empty when every message of the batch carries the same partition key (or
/// none carries one); otherwise why the batch mixes keys. Azure's documentation
/// does not promise mixed batches are kept apart, so the emulator rejects them
/// on purpose: stricter than the service.
std::string partition_key_mix_error(const std::vector<eventhub_message>& batch);

/// The partition of a partition key: FNV-1a (64 bit) of its bytes modulo
/// `partitions`. Stable across runs and machines (not Azure's own hash, which
/// no client may rely on anyway).
std::uint32_t partition_for_key(std::string_view key, std::uint32_t partitions);

// -- HubSpot batch upsert -----------------------------------------------------

/// The object type of `/crm/v3/objects/<objectType>/batch/upsert`; nullopt for
/// any other path.
std::optional<std::string> parse_hubspot_upsert_path(std::string_view path);

struct hubspot_input {
  std::string id;          ///< the `id` (value of the idProperty)
  std::string id_property; ///< may be empty (then the record id is meant)
  nlohmann::json properties = nlohmann::json::object();
};

/// HubSpot's limit of inputs per batch call.
constexpr std::size_t hubspot_max_inputs = 100;

/// Parses `{"inputs":[{"idProperty":"p","id":"v","properties":{...}}, ...]}`.
/// Property values must be strings, numbers, booleans or null. Error code
/// "malformed" for bad JSON or shape, "too_many" beyond hubspot_max_inputs,
/// "empty" for no inputs.
expected<std::vector<hubspot_input>> parse_hubspot_batch(std::string_view body);

/// The ids (values of the idProperty) that more than one input of a batch
/// names, each once, in order of first appearance. HubSpot rejects such a
/// batch upsert as a whole (400 VALIDATION_ERROR, nothing written): its id
/// property must be unique, and two inputs would resolve to one record
/// (ADR 0013 has the sources).
std::vector<std::string> duplicate_ids(const std::vector<hubspot_input>& inputs);

/// Compact JSON with object keys sorted (nlohmann's default object is
/// ordered by key), so equal properties give equal bytes.
std::string canonical_json(const nlohmann::json& value);

/// A property value as text: strings as they are, numbers and booleans as
/// their JSON text, null as empty.
std::string property_text(const nlohmann::json& value);

/// One rule of `--poison PROPERTY=VALUE`.
struct poison_rule {
  std::string property;
  std::string value;
};
/// Parses `PROPERTY=VALUE`; nullopt when there is no `=` or no property.
std::optional<poison_rule> parse_poison_rule(std::string_view text);
/// Whether the input matches a rule (property text equal to the value) or
/// has its id in `bad_ids`.
bool is_poisoned(const hubspot_input& input, const std::vector<poison_rule>& rules,
                 const std::vector<std::string>& bad_ids);

// -- rate limit ---------------------------------------------------------------

/// `100/10s` -> 100 requests per 10 000 ms.
struct rate_limit_spec {
  std::size_t limit = 100;
  std::int64_t window_ms = 10'000;
};
std::optional<rate_limit_spec> parse_rate_limit(std::string_view text);

/// A rolling window like HubSpot's TEN_SECONDLY_ROLLING: a request is
/// admitted when fewer than `limit` admitted requests lie in the last
/// `window_ms` (the window (now - window_ms, now]). Separately it keeps the
/// largest number of requests received (note_received: every request,
/// whatever its answer) within any window: a client that respects the limit
/// keeps that at or below `limit`. Not thread-safe; times must not decrease.
class rate_window {
public:
  explicit rate_window(rate_limit_spec spec);

  struct decision {
    bool admitted = false;
    std::size_t remaining = 0;       ///< admissions left in the window after this one
    std::int64_t retry_after_ms = 0; ///< when refused: until a slot frees up
  };
  /// Counts a request toward max_offered_in_window (call once per request).
  void note_received(std::int64_t now_ms);
  /// Admits the request (counting it against the limit) or refuses it.
  decision admit(std::int64_t now_ms);

  const rate_limit_spec& spec() const noexcept { return spec_; }
  /// Changes limit and window from now on (history and maxima stay).
  void set_spec(rate_limit_spec spec) noexcept { spec_ = spec; }
  /// Requests received within the busiest window so far.
  std::size_t max_offered_in_window() const noexcept { return max_offered_; }
  /// Admitted requests within the busiest window so far (never above limit).
  std::size_t max_admitted_in_window() const noexcept { return max_admitted_; }
  /// Admissions left now (for headers of responses that did not count).
  std::size_t remaining(std::int64_t now_ms);

private:
  void expire(std::int64_t now_ms);

  rate_limit_spec spec_;
  std::deque<std::int64_t> offered_;
  std::deque<std::int64_t> admitted_;
  std::size_t max_offered_ = 0;
  std::size_t max_admitted_ = 0;
};

// -- outages ------------------------------------------------------------------

/// `START+DURATION` relative to process start, e.g. `10s+60s`.
struct outage_window {
  std::int64_t start_ms = 0;
  std::int64_t duration_ms = 0;
  bool contains(std::int64_t elapsed_ms) const noexcept {
    return elapsed_ms >= start_ms && elapsed_ms < start_ms + duration_ms;
  }
};
std::optional<outage_window> parse_outage(std::string_view text);

// -- arrival lines ------------------------------------------------------------

/// One line of an emulator's arrival log: the fields `sim verify` reads
/// (same as `sim receive`), plus where it went.
struct arrival_fields {
  double t_ms = 0;
  std::string event_id;
  std::string event_type;
  std::optional<std::int64_t> auction_id;
  std::optional<std::int64_t> bid_sequence;
  std::optional<std::int64_t> total_bid_count;
  std::string sha256;
  bool malformed = false;
  std::optional<std::uint32_t> partition;   ///< Event Hubs
  std::optional<std::string> partition_key; ///< Event Hubs
  std::string object_type;                  ///< HubSpot
  std::string record_id;                    ///< HubSpot: the input's id
  /// HubSpot: the emulator's number of the request that carried it (which
  /// inputs travelled together, and in what order).
  std::optional<std::int64_t> request;
};

/// Fields of a `{metadata, data}` envelope (as `sim receive` reads them);
/// `malformed` when it is not one. sha256 over the exact bytes.
arrival_fields envelope_arrival(std::string_view envelope);

/// Fields of a HubSpot input per the Gavel mapping contract (sim/README.md):
/// `gavel_event_id`, `gavel_event_type`, `auction_id`, `bid_sequence`,
/// `total_bid_count` properties; sha256 over canonical_json(properties).
arrival_fields hubspot_arrival(const hubspot_input& input);

/// The JSON line (with trailing newline). `sig_ok` is always true (only
/// authenticated requests are recorded) and `webhook_id` repeats `event_id`,
/// so `sim verify` reads these logs unchanged.
std::string arrival_line(const arrival_fields& a);

/// An integer from a JSON number or a decimal string; nullopt otherwise.
std::optional<std::int64_t> json_int(const nlohmann::json& obj, const char* key);

} // namespace gavel::sim
