#pragma once

#include "protocols/event.hpp"
#include "protocols/expected.hpp"
#include "protocols/pii.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// Gavel's configuration (one TOML file, docs/configuration.md). The defaults are the
/// member initialisers below; every key is declared once beside the code it
/// configures (see README.md: sections in adapters/config/*_keys.cpp, each
/// destination kind's own keys in adapters/destinations/<kind>/keys.cpp) with
/// its documentation and validator. Unknown keys and bad values fail with an
/// error whose `field` is the dotted key (`destination[1].url`,
/// `auction.final_window`).
namespace gavel::adapters {

using protocols::expected;
using millis = std::chrono::milliseconds;

struct server_config {
  std::string listen = "127.0.0.1:8080";
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  unsigned io_threads = 2; ///< HTTP server and destination clients (ADR 0007)
  /// Events accepted but not yet committed above which ingest answers 503.
  std::size_t max_in_flight = 100000;
  /// Time Gavel allows itself to answer a request once it has been read
  /// (make the events durable, or 503); reading is bounded by the three below.
  millis request_timeout{10000};
  /// The whole request header must arrive within this (from accept, or from
  /// the first byte of a keep-alive request); beyond, the connection closes.
  millis header_timeout{10000};
  /// The whole request body must arrive within this, from the end of the header.
  millis body_timeout{30000};
  /// A keep-alive connection waiting this long for its next request closes.
  millis idle_timeout{60000};
  /// Open connections beyond which a new one is answered 503 and closed.
  std::size_t max_connections = 4096;
  /// Enables POST /v1/destinations/<name>/crash (tests and drills only).
  bool fault_injection = false;
  /// SIGTERM: time allowed for commits in flight and destinations' last
  /// deliveries before the process stops (positions are stored after).
  millis drain_timeout{5000};
  /// https: PEM certificate chain (leaf first) and its key; both or none.
  /// Reloaded on SIGHUP.
  std::string tls_cert;
  std::string tls_key;
  /// mTLS: clients must present a certificate signed by a CA in this bundle.
  std::string client_ca;
  /// Allows plain HTTP on an address other than loopback (behind a proxy
  /// that terminates TLS); otherwise such a configuration is refused.
  bool insecure_plain_http = false;
};

/// Admission by time (ADR 0014): an adaptive limit on events in flight, cut
/// when even the fastest answer of an interval exceeds target_delay.
struct admission_config {
  bool enabled = true;
  millis target_delay{100};
  millis interval{100};
  std::size_t initial_limit = 2000;
  std::size_t min_limit = 100;
};

struct database_config {
  std::string url; ///< empty: the embedded cluster
  std::string data_dir = "var/pg";
  millis connect_timeout{3000};
  /// Restarts of the embedded cluster tolerated within restart_period by its
  /// supervisor; beyond: alert, and restarts slow to one per backoff_max.
  unsigned restart_limit = 5;
  millis restart_period{60000};
};

struct ingest_config {
  /// Legacy bearer tokens (resolved secrets), each with the scopes `ingest:*`
  /// and `admin`; empty list and no [[token]]: every request 401.
  std::vector<std::string> tokens;
  std::size_t max_batch = 1000;
  std::size_t max_depth = 32;
};

/// One `[[token]]` (DESIGN §1.9): a named bearer secret and what it may do.
struct token_config {
  std::string name;   ///< unique, [a-z0-9_-]+; audit records and logs name it
  std::string secret; ///< resolved secret
  /// `ingest:<source>`, `ingest:*`, `read`, `pii`, `admin` (checked by
  /// protocols::parse_scopes).
  std::vector<std::string> scopes;
};

/// One `[[source]]` (DESIGN §1.7, docs/sources.md): where events enter.
struct source_config {
  std::string name;          ///< unique, [a-z0-9_-]+; metrics, the API and the database
  std::string kind = "http"; ///< http | postgres_inbox | mysql_inbox
  bool enabled = true;       ///< the flag's default; the admin API's flip persists
  /// Inboxes: the platform's database (resolved secret). postgres_inbox: a
  /// libpq URI, empty for Gavel's own database; mysql_inbox: mysql://...
  std::string url;
  millis poll_interval{1000}; ///< inboxes: the longest wait between reads
  unsigned batch = 500;       ///< inboxes: rows taken per read
};

/// The sources a configuration has: its `[[source]]`, or the one http
/// source `default` when it has none.
std::vector<source_config> effective_sources(const std::vector<source_config>& sources);

/// Masking on read paths (protocols/pii.hpp).
struct pii_config {
  /// Members of an envelope's `data` masked for tokens without `pii`.
  std::vector<std::string> fields = protocols::default_pii_fields();
};

struct auction_config {
  millis heartbeat_interval{60000};
  millis final_heartbeat_interval{5000};
  millis final_window{300000};
  millis idle_timeout{300000}; ///< a closed auction's actor is passivated after this
};

struct store_config {
  std::size_t max_batch_events = 4096; ///< per transaction
  bool synchronous_commit = true;
  /// Crashes of the store or registry tolerated within restart_period by the
  /// core supervisor; beyond: failed + alert, until an operator restart.
  unsigned restart_limit = 5;
  millis restart_period{60000};
};

struct retry_config {
  millis initial{100};
  millis max{30000};
  double multiplier = 2.0;
};

struct destination_config {
  std::string name;
  std::string kind; ///< eventhub | hubspot | webhook
  std::vector<std::string> event_types{protocols::event_type_names.begin(),
                                       protocols::event_type_names.end()};
  // eventhub
  std::string endpoint;
  std::string hub;
  std::string sas_key_name;
  std::string sas_key;     ///< resolved secret
  millis sas_ttl{3600000}; ///< token lifetime; renewed when a tenth is left
  // hubspot
  std::string base_url;
  std::string token; ///< resolved secret
  std::string object_type;
  std::string id_property;
  unsigned requests_per_10s = 100;
  /// HubSpot property ← envelope path, as "property=path" (default: the
  /// standard mapping, see adapters/destinations/hubspot/format.hpp).
  std::vector<std::string> properties;
  // webhook
  std::string url;
  std::string secret; ///< resolved secret, `whsec_<base64>`
  // common
  std::string ca_file;
  /// What this destination receives of the `[pii] fields`: "clear" (as
  /// ingested), "mask" (as a token without `pii` reads them) or "hash"
  /// (protocols::pseudonym keyed by `pii_key`).
  std::string pii = "clear";
  std::string pii_key; ///< resolved secret; with pii = "hash"
  /// Whether it receives backfilled auctions (DESIGN §1.10); unset: the
  /// kind's default, see effective_backfill().
  std::optional<bool> backfill;
  /// The `[pii] fields`, copied here by the loader for the client.
  std::vector<std::string> pii_fields = protocols::default_pii_fields();
  /// Parallel lanes (auctions hash to a lane); 0: the kind's default, see
  /// effective_concurrency().
  unsigned concurrency = 0;
  std::size_t window = 20000; ///< envelopes held in memory before catch-up mode
  millis request_timeout{10000};
  retry_config retry;
  /// Records per request; 0: the kind's default (eventhub 500, hubspot 100, webhook 1).
  std::size_t max_batch_events = 0;
  /// Consecutive failed requests that open the circuit breaker.
  unsigned circuit_failures = 5;
  /// How long the circuit stays open before a half-open probe (doubles while
  /// probes fail, up to retry_max or this, whichever is larger).
  millis circuit_open{5000};
  /// Supervision: more than `restart_limit` crashes within `restart_period`
  /// marks the destination failed (and raises an alert) instead of restarting.
  unsigned restart_limit = 5;
  millis restart_period{60000};
};

/// Requests in flight at once: `concurrency`, or the kind's default: 32 for
/// Event Hubs (one auction per send, so a burst over many auctions needs many
/// sends in parallel; Azure takes them), 8 for webhooks and HubSpot (whose
/// rate limit, not parallelism, bounds it).
unsigned effective_concurrency(const destination_config& d);

/// Whether a destination receives backfilled auctions: `backfill`, or the
/// kind's default: false for HubSpot (a CRM wants the live picture, and
/// history at its rate limit would take days), true otherwise.
bool effective_backfill(const destination_config& d);

/// Alerting (actors/alerts.cpp): rules, thresholds and where alerts go.
struct alerts_config {
  millis interval{5000};         ///< how often health is evaluated
  millis failing_for{60000};     ///< a destination not ok for this long
  millis lag_above{30000};       ///< a destination's lag above this
  bool dead_letters = true;      ///< any new dead letter
  bool restart_intensity = true; ///< a destination's supervisor gave up
  millis database_unreachable_for{10000};
  /// A source's rejected share of its events over the window, in percent
  /// (0: no such alert).
  double source_rejection_percent = 1;
  millis source_rejection_window{600000};
  /// A source's propagation p99 (commit or arrival to outbox commit) above
  /// this for source_propagation_for.
  millis source_propagation_above{5000};
  millis source_propagation_for{300000};
  millis min_interval{300000};    ///< per incident: at most one notice per this
  unsigned max_per_hour = 30;     ///< every notice together (a storm cap)
  std::string instance = "gavel"; ///< names this deployment in the text
  millis timeout{10000};          ///< per send
  // email (SMTP through libcurl); empty smtp_url: no email
  std::string smtp_url; ///< smtp://host:587 (STARTTLS) or smtps://host:465
  std::string smtp_user;
  std::string smtp_password; ///< resolved secret
  bool smtp_starttls = true; ///< smtp://: require STARTTLS
  std::string email_from;
  std::vector<std::string> email_to;
  std::string ca_file; ///< extra CA bundle for SMTP and Teams TLS
  // Microsoft Teams incoming webhook; empty: no Teams
  std::string teams_webhook_url; ///< resolved secret (the URL carries a key)
};

/// Outbox retention (docs/adr/0005-outbox-retention.md).
struct retention_config {
  bool enabled = true;
  millis max_age{30LL * 24 * 3'600'000};
  millis interval{3'600'000};
  unsigned partitions_ahead = 7; ///< daily partitions created in advance
};

struct log_config {
  std::string level = "info";  ///< trace|debug|info|warn|error
  std::string format = "text"; ///< text|json
};

struct config {
  server_config server;
  admission_config admission;
  database_config database;
  ingest_config ingest;
  std::vector<token_config> tokens;
  std::vector<source_config> sources;
  pii_config pii;
  auction_config auction;
  store_config store;
  log_config log;
  alerts_config alerts;
  retention_config retention;
  std::vector<destination_config> destinations;
};

/// Resolves a secret-valued key: `env:NAME` reads the environment (error when
/// unset), `file:PATH` reads the file (trailing newline dropped), anything
/// else is the literal.
expected<std::string> resolve_secret(std::string_view value);

/// Parses TOML text; `origin` names the source in messages.
expected<config> parse_config(std::string_view toml_text,
                              std::string_view origin = "config");
/// Reads and parses a file; a missing file is an error.
expected<config> load_config(const std::string& path);
/// The configuration with every default (no file).
config default_config();

/// One declared key, for reference listings and documentation checks.
struct config_key {
  std::string key;           ///< dotted: `server.listen`, `destination.url`
  std::string default_value; ///< as TOML text, `(required)` or `(secret)`
  std::string doc;
  std::string kind; ///< destinations: the kind it belongs to; empty: every kind
};
/// Every key the configuration accepts, in declaration order.
std::vector<config_key> config_keys();

} // namespace gavel::adapters
