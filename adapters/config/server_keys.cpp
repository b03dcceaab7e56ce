// The keys of the HTTP edge: the server, admission by time and ingest limits
// (their code: adapters/http/, protocols/admission.hpp, actors/api/).
#include "adapters/config/key.hpp"
#include "protocols/listen_address.hpp"

namespace gavel::adapters::keys {

void add_server_keys(std::vector<top_key>& k) {
  k.push_back(string_key<config>(
      "server", "listen", "host:port of the HTTP server (ingest, operations API)",
      [](auto& c) -> auto& { return c.server.listen; }, check_listen));
  k.push_back(int_key<config>(
      "server", "max_body_bytes", "largest request body accepted; larger gets 413",
      [](auto& c) -> auto& { return c.server.max_body_bytes; }, 1024, 1LL << 30));
  k.push_back(int_key<config>(
      "server", "io_threads", "threads running the HTTP server's I/O",
      [](auto& c) -> auto& { return c.server.io_threads; }, 1, 64));
  k.push_back(int_key<config>(
      "server", "max_in_flight",
      "events accepted but not yet committed above which ingest answers 503",
      [](auto& c) -> auto& { return c.server.max_in_flight; }, 1, 100'000'000));
  k.push_back(duration_key<config>(
      "server", "request_timeout",
      "time allowed to answer a request once it has been read (else 503)",
      [](auto& c) -> auto& { return c.server.request_timeout; }));
  k.push_back(duration_key<config>(
      "server", "header_timeout",
      "the whole request header must arrive within this (from accept, or from the "
      "first byte of a keep-alive request), else the connection is closed",
      [](auto& c) -> auto& { return c.server.header_timeout; }));
  k.push_back(duration_key<config>(
      "server", "body_timeout",
      "the whole request body must arrive within this after its header, else the "
      "connection is closed",
      [](auto& c) -> auto& { return c.server.body_timeout; }));
  k.push_back(duration_key<config>(
      "server", "idle_timeout",
      "a keep-alive connection with no new request for this long is closed",
      [](auto& c) -> auto& { return c.server.idle_timeout; }));
  k.push_back(int_key<config>(
      "server", "max_connections",
      "open connections beyond which a new one is answered 503 and closed",
      [](auto& c) -> auto& { return c.server.max_connections; }, 1, 1'000'000));
  k.push_back(bool_key<config>(
      "server", "fault_injection",
      "enable POST /v1/destinations/<name>/crash (drills and tests only)",
      [](auto& c) -> auto& { return c.server.fault_injection; }));
  k.push_back(duration_key<config>(
      "server", "drain_timeout",
      "on SIGTERM: time for commits in flight and the destinations' last deliveries",
      [](auto& c) -> auto& { return c.server.drain_timeout; }, true));
  k.push_back(string_key<config>(
      "server", "tls_cert",
      "https: PEM certificate chain, leaf first (with tls_key; reloaded on SIGHUP)",
      [](auto& c) -> auto& { return c.server.tls_cert; }));
  k.push_back(string_key<config>(
      "server", "tls_key", "https: PEM private key of tls_cert (reloaded on SIGHUP)",
      [](auto& c) -> auto& { return c.server.tls_key; }));
  k.push_back(string_key<config>(
      "server", "client_ca",
      "mTLS: PEM CA bundle; every client must present a certificate it signed",
      [](auto& c) -> auto& { return c.server.client_ca; }));
  k.push_back(bool_key<config>(
      "server", "insecure_plain_http",
      "allow plain HTTP on an address other than loopback (TLS ended by a proxy)",
      [](auto& c) -> auto& { return c.server.insecure_plain_http; }));
}

std::optional<key_fault> check_server_keys(const config& c) {
  const auto& s = c.server;
  if (s.tls_cert.empty() != s.tls_key.empty())
    return key_fault{s.tls_cert.empty() ? "server.tls_cert" : "server.tls_key",
                     "https needs both server.tls_cert and server.tls_key",
                     {"server.tls_cert", "server.tls_key"}};
  if (!s.client_ca.empty() && s.tls_cert.empty())
    return key_fault{"server.client_ca",
                     "client certificates need https: set server.tls_cert and "
                     "server.tls_key too"};
  auto addr = protocols::parse_listen_address(s.listen);
  if (s.tls_cert.empty() && !s.insecure_plain_http && addr &&
      !protocols::is_loopback_host(addr->host))
    return key_fault{"server.listen",
                     "plain HTTP on " + s.listen +
                         " would carry tokens and bidder data in clear: set "
                         "server.tls_cert and server.tls_key, listen on loopback "
                         "(127.0.0.1), or set server.insecure_plain_http = true when "
                         "a proxy in front ends TLS"};
  return std::nullopt;
}

void add_admission_keys(std::vector<top_key>& k) {
  k.push_back(bool_key<config>(
      "admission", "enabled",
      "adaptive admission by queue delay; false: only server.max_in_flight sheds",
      [](auto& c) -> auto& { return c.admission.enabled; }));
  k.push_back(duration_key<config>(
      "admission", "target_delay",
      "queue delay tolerated: when even the fastest answer of an interval took longer, "
      "the limit on events in flight is cut and the excess is answered 503 at once",
      [](auto& c) -> auto& { return c.admission.target_delay; }));
  k.push_back(duration_key<config>(
      "admission", "interval", "how often the limit is reconsidered",
      [](auto& c) -> auto& { return c.admission.interval; }));
  k.push_back(int_key<config>(
      "admission", "initial_limit",
      "events in flight admitted at start, before any answer",
      [](auto& c) -> auto& { return c.admission.initial_limit; }, 1, 100'000'000));
  k.push_back(int_key<config>(
      "admission", "min_limit", "the limit never goes below this many events in flight",
      [](auto& c) -> auto& { return c.admission.min_limit; }, 1, 100'000'000));
}

void add_ingest_keys(std::vector<top_key>& k) {
  k.push_back(list_key<config>(
      "ingest", "tokens",
      "bearer tokens accepted by POST /v1/events (secrets); empty: every request 401",
      [](auto& c) -> auto& { return c.ingest.tokens; },
      [](const toml::node& n, const std::string& f) { return read_secret(n, f); },
      [](const std::vector<std::string>& v) {
        return v.empty() ? std::string{"[]"}
                         : "[" + std::to_string(v.size()) + " secret(s)]";
      }));
  k.push_back(int_key<config>(
      "ingest", "max_batch", "most events in one POST /v1/events array",
      [](auto& c) -> auto& { return c.ingest.max_batch; }, 1, 1000));
  k.push_back(int_key<config>(
      "ingest", "max_depth", "deepest JSON nesting accepted in an event",
      [](auto& c) -> auto& { return c.ingest.max_depth; }, 2, 1024));
}

std::optional<key_fault> check_admission_keys(const config& c) {
  // Both are capped by server.max_in_flight (the hard bound) where used.
  if (c.admission.min_limit <= c.admission.initial_limit)
    return std::nullopt;
  return key_fault{"admission.min_limit",
                   "must not exceed admission.initial_limit (" +
                       std::to_string(c.admission.initial_limit) + ")",
                   {"admission.min_limit", "admission.initial_limit"}};
}

} // namespace gavel::adapters::keys
