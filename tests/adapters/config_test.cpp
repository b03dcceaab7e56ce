#define CAF_SUITE adapters.config
#include "adapters/config/config.hpp"
#include "config_checks.hpp"
#include "source_tree.hpp"

#include <caf/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unistd.h>

using namespace gavel::adapters;
using gavel::test::source_dir;
using namespace std::chrono_literals;

namespace {

constexpr auto fails = gavel::test::config_fails;
using gavel::test::mentions;

constexpr std::string_view webhook_ok = R"(
[[destination]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)";

/// A temporary file removed at the end of the scope.
struct temp_file {
  std::string path;
  explicit temp_file(std::string_view content) {
    char name[] = "/tmp/gavel-config-test-XXXXXX";
    int fd = ::mkstemp(name);
    CAF_REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
    std::ofstream{path} << content;
  }
  ~temp_file() { std::filesystem::remove(path); }
};

} // namespace

CAF_TEST(an empty file yields every default) {
  auto r = parse_config("");
  CAF_REQUIRE(r);
  auto& c = *r;
  CAF_CHECK_EQUAL(c.server.listen, "127.0.0.1:8080");
  CAF_CHECK_EQUAL(c.server.max_body_bytes, 4u * 1024 * 1024);
  CAF_CHECK_EQUAL(c.server.request_timeout, 10s);
  CAF_CHECK_EQUAL(c.server.header_timeout, 10s);
  CAF_CHECK_EQUAL(c.server.body_timeout, 30s);
  CAF_CHECK_EQUAL(c.server.idle_timeout, 60s);
  CAF_CHECK_EQUAL(c.server.max_connections, 4096u);
  CAF_CHECK_EQUAL(c.database.url, "");
  CAF_CHECK_EQUAL(c.database.data_dir, "var/pg");
  CAF_CHECK_EQUAL(c.database.restart_limit, 5u);
  CAF_CHECK_EQUAL(c.database.restart_period, 60s);
  CAF_CHECK(c.ingest.tokens.empty());
  CAF_CHECK_EQUAL(c.ingest.max_batch, 1000u);
  CAF_CHECK_EQUAL(c.auction.heartbeat_interval, 60s);
  CAF_CHECK_EQUAL(c.auction.final_heartbeat_interval, 5s);
  CAF_CHECK_EQUAL(c.auction.final_window, 5min);
  CAF_CHECK_EQUAL(c.store.max_batch_events, 4096u);
  CAF_CHECK_EQUAL(c.store.synchronous_commit, true);
  CAF_CHECK_EQUAL(c.log.level, "info");
  CAF_CHECK_EQUAL(c.log.format, "text");
  CAF_CHECK(c.destinations.empty());
  CAF_CHECK(default_config().ingest.tokens.empty());
}

CAF_TEST(values override defaults and destinations get theirs) {
  auto r = parse_config(R"(
[server]
listen = "0.0.0.0:9090"
insecure_plain_http = true
io_threads = 2
[auction]
heartbeat_interval = "30s"
final_heartbeat_interval = "250ms"
[store]
synchronous_commit = false
[log]
format = "json"
)" + std::string{webhook_ok});
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->server.listen, "0.0.0.0:9090");
  CAF_CHECK_EQUAL(r->server.io_threads, 2u);
  CAF_CHECK_EQUAL(r->auction.heartbeat_interval, 30s);
  CAF_CHECK_EQUAL(r->auction.final_heartbeat_interval, 250ms);
  CAF_CHECK_EQUAL(r->store.synchronous_commit, false);
  CAF_CHECK_EQUAL(r->log.format, "json");
  CAF_REQUIRE_EQUAL(r->destinations.size(), 1u);
  auto& d = r->destinations[0];
  CAF_CHECK_EQUAL(d.name, "hook");
  CAF_CHECK_EQUAL(d.kind, "webhook");
  CAF_CHECK_EQUAL(d.event_types.size(), 4u);
  CAF_CHECK_EQUAL(d.concurrency, 0u);
  CAF_CHECK_EQUAL(effective_concurrency(d), 8u);
  CAF_CHECK_EQUAL(d.window, 20000u);
  CAF_CHECK_EQUAL(d.retry.initial, 100ms);
  CAF_CHECK_EQUAL(d.retry.max, 30s);
  CAF_CHECK_EQUAL(d.retry.multiplier, 2.0);
}

CAF_TEST(a bad duration names its key) {
  auto e = fails("[auction]\nheartbeat_interval = \"60\"\n");
  CAF_CHECK_EQUAL(e.code, "config");
  CAF_CHECK_EQUAL(e.field, "auction.heartbeat_interval");
  CAF_CHECK(mentions(e.message, "auction.heartbeat_interval"));
  CAF_CHECK(mentions(e.message, "test.toml:2"));
  // A bare number is a type error with the same key.
  e = fails("[auction]\nheartbeat_interval = 60\n");
  CAF_CHECK_EQUAL(e.field, "auction.heartbeat_interval");
  CAF_CHECK(mentions(e.message, "duration"));
  // Zero where zero means nothing sensible.
  e = fails("[server]\nrequest_timeout = \"0s\"\n");
  CAF_CHECK_EQUAL(e.field, "server.request_timeout");
  CAF_CHECK(mentions(e.message, "greater than zero"));
  // ... but allowed where it has a meaning.
  CAF_CHECK(parse_config("[auction]\nfinal_window = \"0s\"\n"));
  e = fails(std::string{webhook_ok} + "retry_max = \"-1s\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].retry_max");
}

CAF_TEST(the http server limits parse and are checked) {
  auto r = parse_config("[server]\nheader_timeout = \"2s\"\nbody_timeout = \"250ms\"\n"
                        "idle_timeout = \"5m\"\nmax_connections = 100\n");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->server.header_timeout, 2s);
  CAF_CHECK_EQUAL(r->server.body_timeout, 250ms);
  CAF_CHECK_EQUAL(r->server.idle_timeout, 5min);
  CAF_CHECK_EQUAL(r->server.max_connections, 100u);
  for (auto key : {"header_timeout", "body_timeout", "idle_timeout"}) {
    auto e = fails(std::string{"[server]\n"} + key + " = \"0s\"\n");
    CAF_CHECK_EQUAL(e.field, std::string{"server."} + key);
    e = fails(std::string{"[server]\n"} + key + " = 10\n");
    CAF_CHECK_EQUAL(e.field, std::string{"server."} + key);
  }
  auto e = fails("[server]\nmax_connections = 0\n");
  CAF_CHECK_EQUAL(e.field, "server.max_connections");
  e = fails("[server]\nheader_timout = \"2s\"\n");
  CAF_CHECK_EQUAL(e.field, "server.header_timout");
  CAF_CHECK(mentions(e.message, "did you mean `header_timeout`"));
}

CAF_TEST(an unknown key names the dotted key) {
  auto e = fails("[server]\nlisen = \"127.0.0.1:1\"\n");
  CAF_CHECK_EQUAL(e.field, "server.lisen");
  CAF_CHECK(mentions(e.message, "server.lisen: unknown key"));
  CAF_CHECK(mentions(e.message, "did you mean `listen`"));
  e = fails("[srever]\nlisten = \"127.0.0.1:1\"\n");
  CAF_CHECK_EQUAL(e.field, "srever");
  e = fails("listen = \"127.0.0.1:1\"\n");
  CAF_CHECK_EQUAL(e.field, "listen");
  e = fails(std::string{webhook_ok} + "retries = 3\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].retries");
  CAF_CHECK(mentions(e.message, "unknown key"));
}

CAF_TEST(a wrong type names the key and what is expected) {
  auto e = fails("[server]\nmax_body_bytes = \"big\"\n");
  CAF_CHECK_EQUAL(e.field, "server.max_body_bytes");
  CAF_CHECK(mentions(e.message, "expected an integer, got a string"));
  e = fails("[store]\nsynchronous_commit = \"yes\"\n");
  CAF_CHECK_EQUAL(e.field, "store.synchronous_commit");
  CAF_CHECK(mentions(e.message, "boolean"));
  e = fails("[ingest]\ntokens = \"dev-token\"\n");
  CAF_CHECK_EQUAL(e.field, "ingest.tokens");
  CAF_CHECK(mentions(e.message, "array of strings"));
  e = fails("server = 5\n");
  CAF_CHECK_EQUAL(e.field, "server");
  e = fails("[destination]\nname = \"x\"\n");
  CAF_CHECK_EQUAL(e.field, "destination");
  CAF_CHECK(mentions(e.message, "[[destination]]"));
}

CAF_TEST(bad values name the key) {
  struct row {
    std::string text;
    std::string field;
  };
  for (auto& [text, field] : std::vector<row>{
           {"[server]\nlisten = \"8080\"", "server.listen"},
           {"[server]\nlisten = \"localhost:http\"", "server.listen"},
           {"[server]\nlisten = \"localhost:70000\"", "server.listen"},
           {"[ingest]\nmax_batch = 1001", "ingest.max_batch"},
           {"[ingest]\nmax_batch = 0", "ingest.max_batch"},
           {"[log]\nlevel = \"verbose\"", "log.level"},
           {"[log]\nformat = \"xml\"", "log.format"},
           {"[database]\nurl = \"mysql://x\"", "database.url"},
           {"[database]\nrestart_limit = 1001", "database.restart_limit"},
           {"[database]\nrestart_limit = -1", "database.restart_limit"},
           {"[database]\nrestart_period = \"0s\"", "database.restart_period"},
           {"[auction]\nfinal_heartbeat_interval = \"60s\"",
            "auction.final_heartbeat_interval"},
           {std::string{webhook_ok} + "concurrency = 257", "destination[0].concurrency"},
           {std::string{webhook_ok} + "window = 99", "destination[0].window"},
           {std::string{webhook_ok} + "retry_multiplier = 0.5",
            "destination[0].retry_multiplier"},
           {std::string{webhook_ok} + "event_types = [\"bid.placed\", \"bid.won\"]",
            "destination[0].event_types[1]"},
           {std::string{webhook_ok} + "event_types = []", "destination[0].event_types"},
           {std::string{webhook_ok} + "ca_file = \"/nonexistent/ca.pem\"",
            "destination[0].ca_file"},
       }) {
    auto r = parse_config(text, "test.toml");
    CAF_CHECK(!r);
    if (!r) {
      CAF_CHECK_EQUAL(r.err().field, field);
      CAF_CHECK(mentions(r.err().message, field));
    }
  }
}

CAF_TEST(destinations are checked per kind) {
  // A missing per-kind key.
  auto e = fails("[[destination]]\nname = \"wh\"\nkind = \"webhook\"\n"
                 "url = \"https://example.com/hook\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].secret");
  CAF_CHECK(mentions(e.message, "missing"));
  e = fails("[[destination]]\nname = \"eh\"\nkind = \"eventhub\"\n"
            "endpoint = \"https://ns.servicebus.windows.net\"\nhub = \"bids\"\n"
            "sas_key_name = \"send\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].sas_key");
  e = fails(
      "[[destination]]\nname = \"crm\"\nkind = \"hubspot\"\n"
      "base_url = \"https://api.hubapi.com\"\ntoken = \"t\"\nobject_type = \"p_bids\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].id_property");
  // The upsert key must be a mapped property.
  e = fails("[[destination]]\nname = \"crm\"\nkind = \"hubspot\"\n"
            "base_url = \"https://api.hubapi.com\"\ntoken = \"t\"\nobject_type = \"p\"\n"
            "id_property = \"bid_key\"\nproperties = [\"amount=data.amount\"]\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].id_property");
  CAF_CHECK(mentions(e.message, "not a mapped property"));
  e = fails("[[destination]]\nname = \"crm\"\nkind = \"hubspot\"\n"
            "base_url = \"https://api.hubapi.com\"\ntoken = \"t\"\nobject_type = \"p\"\n"
            "id_property = \"k\"\nproperties = [\"k=event_id\"]\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].properties[0]");
  // A key of another kind.
  e = fails(std::string{webhook_ok} + "hub = \"bids\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].hub");
  CAF_CHECK(mentions(e.message, "not a key of a webhook destination"));
  // Name and kind.
  e = fails("[[destination]]\nkind = \"webhook\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].name");
  e = fails("[[destination]]\nname = \"Hook\"\nkind = \"webhook\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].name");
  e = fails("[[destination]]\nname = \"x\"\nkind = \"kafka\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].kind");
  // Webhook URL and secret formats.
  e = fails("[[destination]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"ftp://h/\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].url");
  e = fails("[[destination]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://h/\"\n"
            "secret = \"s3cret\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].secret");
  CAF_CHECK(mentions(e.message, "whsec_"));
  e = fails("[[destination]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://h/\"\n"
            "secret = \"whsec_not base64!\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].secret");
  // A complete one of each kind.
  auto r = parse_config(R"(
[[destination]]
name = "warehouse"
kind = "eventhub"
endpoint = "https://ns.servicebus.windows.net"
hub = "bids"
sas_key_name = "send"
sas_key = "k3y"
[[destination]]
name = "crm"
kind = "hubspot"
event_types = ["auction.opened", "bid.placed", "auction.closed"]
base_url = "https://api.hubapi.com"
token = "pat-na1-x"
object_type = "p_bids"
id_property = "gavel_event_id"
requests_per_10s = 50
)");
  CAF_REQUIRE(r);
  CAF_REQUIRE_EQUAL(r->destinations.size(), 2u);
  CAF_CHECK_EQUAL(r->destinations[0].sas_key, "k3y");
  CAF_CHECK_EQUAL(r->destinations[1].event_types.size(), 3u);
  CAF_CHECK_EQUAL(r->destinations[1].requests_per_10s, 50u);
}

CAF_TEST(destination names are unique) {
  auto e = fails(std::string{webhook_ok} + std::string{webhook_ok});
  CAF_CHECK_EQUAL(e.field, "destination[1].name");
  CAF_CHECK(mentions(e.message, "duplicate"));
}

CAF_TEST(secrets resolve from the environment) {
  ::setenv("GAVEL_TEST_TOKEN", "t0ken", 1);
  auto r = parse_config("[ingest]\ntokens = [\"env:GAVEL_TEST_TOKEN\", \"literal\"]\n");
  CAF_REQUIRE(r);
  CAF_REQUIRE_EQUAL(r->ingest.tokens.size(), 2u);
  CAF_CHECK_EQUAL(r->ingest.tokens[0], "t0ken");
  CAF_CHECK_EQUAL(r->ingest.tokens[1], "literal");
  ::unsetenv("GAVEL_TEST_UNSET");
  auto e = fails("[ingest]\ntokens = [\"literal\", \"env:GAVEL_TEST_UNSET\"]\n");
  CAF_CHECK_EQUAL(e.field, "ingest.tokens[1]");
  CAF_CHECK(mentions(e.message, "GAVEL_TEST_UNSET"));
  CAF_CHECK(mentions(e.message, "not set"));
  ::setenv("GAVEL_TEST_EMPTY", "", 1);
  e = fails(std::string{webhook_ok} +
            "[[destination]]\nname = \"crm\"\nkind = \"hubspot\"\n"
            "base_url = \"https://api.hubapi.com\"\n"
            "token = \"env:GAVEL_TEST_EMPTY\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[1].token");
  CAF_CHECK(mentions(e.message, "GAVEL_TEST_EMPTY"));
  // The resolved value is validated too.
  ::setenv("GAVEL_TEST_SECRET", "not-a-whsec", 1);
  e = fails("[[destination]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://h/\"\n"
            "secret = \"env:GAVEL_TEST_SECRET\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].secret");
  ::unsetenv("GAVEL_TEST_TOKEN");
  ::unsetenv("GAVEL_TEST_EMPTY");
  ::unsetenv("GAVEL_TEST_SECRET");
}

CAF_TEST(one run names every fault of the file in file order) {
  for (const char* v : {"GAVEL_TEST_MISSING_A", "GAVEL_TEST_MISSING_B",
                        "GAVEL_TEST_MISSING_C", "GAVEL_TEST_MISSING_D"})
    ::unsetenv(v);
  auto e =
      fails("[ingest]\ntokens = [\"env:GAVEL_TEST_MISSING_A\"]\n"
            "[server]\nlisten = \"127.0.0.1:8080\"\nbogus = 1\n"
            "[[destination]]\nname = \"hook\"\nkind = \"webhook\"\n"
            "url = \"http://h/\"\nsecret = \"env:GAVEL_TEST_MISSING_B\"\n"
            "[[destination]]\nname = \"crm\"\nkind = \"hubspot\"\n"
            "base_url = \"https://api.hubapi.com\"\n"
            "token = \"env:GAVEL_TEST_MISSING_C\"\n"
            "[[token]]\nsecret = \"env:GAVEL_TEST_MISSING_D\"\nscopes = [\"read\"]\n");
  CAF_CHECK_EQUAL(e.field, "ingest.tokens[0]");
  CAF_CHECK(mentions(e.message, "5 errors:"));
  std::size_t at = 0;
  for (const char* what : {"GAVEL_TEST_MISSING_A", "server.bogus", "GAVEL_TEST_MISSING_B",
                           "GAVEL_TEST_MISSING_C", "GAVEL_TEST_MISSING_D"}) {
    auto found = e.message.find(what, at);
    CAF_MESSAGE("looking for " << what << " after offset " << at);
    CAF_CHECK(found != std::string::npos);
    if (found != std::string::npos)
      at = found;
  }
  // One fault alone reads as before: no count.
  e = fails("[server]\nbogus = 1\n");
  CAF_CHECK(!mentions(e.message, "errors:"));
}

CAF_TEST(secrets resolve from files without the trailing newline) {
  temp_file f{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"};
  auto r = parse_config("[[destination]]\nname = \"x\"\nkind = \"webhook\"\n"
                        "url = \"http://h/\"\nsecret = \"file:" +
                        f.path + "\"\n");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->destinations[0].secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  temp_file two{"a\n\n"};
  auto s = resolve_secret("file:" + two.path);
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(*s, "a\n"); // only one newline is dropped
  auto e = fails("[[destination]]\nname = \"x\"\nkind = \"eventhub\"\n"
                 "sas_key = \"file:/nonexistent/key\"\n");
  CAF_CHECK_EQUAL(e.field, "destination[0].sas_key");
  CAF_CHECK(mentions(e.message, "/nonexistent/key"));
  // Kept in a local: CAF_CHECK_EQUAL binds its operands to references, and
  // `*` of a temporary expected would dangle (ASan: stack-use-after-scope).
  auto plain = resolve_secret("plain");
  CAF_REQUIRE(plain);
  CAF_CHECK_EQUAL(*plain, "plain");
}

CAF_TEST(invalid toml reports the position) {
  auto e = fails("[server]\nlisten = \n");
  CAF_CHECK_EQUAL(e.code, "config");
  CAF_CHECK(mentions(e.message, "test.toml:2"));
}

CAF_TEST(a missing file names its path) {
  auto r = load_config("/nonexistent/gavel.toml");
  CAF_REQUIRE(!r);
  CAF_CHECK(mentions(r.err().message, "/nonexistent/gavel.toml"));
}

CAF_TEST(the shipped configuration files parse) {
  ::setenv("GAVEL_INGEST_TOKEN", "ingest-token", 1);
  ::setenv("GAVEL_EVENTHUB_KEY", "eventhub-key", 1);
  ::setenv("GAVEL_HUBSPOT_TOKEN", "pat-na1-test", 1);
  ::setenv("GAVEL_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
  ::setenv("GAVEL_DATABASE_URL", "postgresql://gavel:pw@db.internal:5432/gavel", 1);
  ::setenv("GAVEL_SMTP_PASSWORD", "smtp-password", 1);
  ::setenv("GAVEL_TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/webhookb2/k",
           1);
  ::setenv("GAVEL_PLATFORM_TOKEN", "platform-token", 1);
  ::setenv("GAVEL_OPS_TOKEN", "ops-token", 1);
  auto dir = source_dir() + "/config/";
  for (auto name : {"gavel.example.toml", "dev.toml", "prod.toml"}) {
    CAF_MESSAGE("parsing " << name);
    auto r = load_config(dir + name);
    if (!r)
      CAF_FAIL(name << ": " << r.err().message);
  }
  auto dev = load_config(dir + "dev.toml");
  CAF_REQUIRE(dev);
  CAF_CHECK_EQUAL(dev->database.url, "");
  CAF_REQUIRE_EQUAL(dev->ingest.tokens.size(), 1u);
  CAF_CHECK_EQUAL(dev->ingest.tokens[0], "dev-token");
  auto prod = load_config(dir + "prod.toml");
  CAF_REQUIRE(prod);
  CAF_CHECK_EQUAL(prod->database.url, "postgresql://gavel:pw@db.internal:5432/gavel");
  CAF_CHECK_EQUAL(prod->alerts.smtp_password, "smtp-password");
  CAF_CHECK_EQUAL(prod->retention.max_age, 720h);
  // Without its environment the example fails, naming the key and variable.
  ::unsetenv("GAVEL_INGEST_TOKEN");
  auto e = load_config(dir + "gavel.example.toml");
  CAF_REQUIRE(!e);
  CAF_CHECK_EQUAL(e.err().field, "ingest.tokens[0]");
  CAF_CHECK(mentions(e.err().message, "GAVEL_INGEST_TOKEN"));
  for (auto v : {"GAVEL_EVENTHUB_KEY", "GAVEL_HUBSPOT_TOKEN", "GAVEL_WEBHOOK_SECRET",
                 "GAVEL_DATABASE_URL", "GAVEL_SMTP_PASSWORD", "GAVEL_TEAMS_WEBHOOK_URL",
                 "GAVEL_PLATFORM_TOKEN", "GAVEL_OPS_TOKEN"})
    ::unsetenv(v);
}

CAF_TEST(alerts and retention keys parse and are checked) {
  auto r = parse_config(R"([alerts]
interval = "1s"
failing_for = "2m"
smtp_url = "smtp://mail.example.com:587"
smtp_user = "gavel"
smtp_password = "literal-password"
email_from = "gavel@example.com"
email_to = ["oncall@example.com"]
teams_webhook_url = "https://example.webhook.office.com/webhookb2/x"
[retention]
max_age = "30d"
interval = "15m"
)",
                        "test.toml");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->alerts.interval, 1s);
  CAF_CHECK_EQUAL(r->alerts.failing_for, 2min);
  CAF_CHECK_EQUAL(r->alerts.smtp_password, "literal-password");
  CAF_CHECK_EQUAL(r->alerts.email_to.size(), 1u);
  CAF_CHECK_EQUAL(r->retention.max_age, 720h);
  CAF_CHECK_EQUAL(r->retention.interval, 15min);
  CAF_CHECK(r->retention.enabled);
  // Defaults: the issue's thresholds.
  auto d = parse_config("");
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->alerts.failing_for, 60s);
  CAF_CHECK_EQUAL(d->alerts.lag_above, 30s);
  CAF_CHECK(d->alerts.dead_letters);
  CAF_CHECK_EQUAL(d->retention.max_age, 720h);
  CAF_CHECK_EQUAL(d->server.drain_timeout, 5s);

  auto e = fails("[alerts]\nsmtp_url = \"smtp://mail:25\"\nemail_to = [\"a@b.c\"]\n");
  CAF_CHECK_EQUAL(e.field, "alerts.email_from");
  e = fails("[alerts]\nsmtp_url = \"http://mail:25\"\n");
  CAF_CHECK_EQUAL(e.field, "alerts.smtp_url");
  e = fails("[alerts]\nemail_to = [\"not-an-address\"]\n");
  CAF_CHECK_EQUAL(e.field, "alerts.email_to[0]");
  e = fails("[alerts]\nteams_webhook_url = \"env:GAVEL_TEST_UNSET_TEAMS_URL\"\n");
  CAF_CHECK_EQUAL(e.field, "alerts.teams_webhook_url");
  e = fails("[retention]\nmax_age = \"30 days\"\n");
  CAF_CHECK_EQUAL(e.field, "retention.max_age");
  e = fails("[retention]\nmax_ag = \"30d\"\n");
  CAF_CHECK(mentions(e.message, "did you mean `max_age`"));
}

CAF_TEST(admission keys parse with their defaults and are checked) {
  auto d = parse_config("");
  CAF_REQUIRE(d);
  CAF_CHECK(d->admission.enabled);
  CAF_CHECK_EQUAL(d->admission.target_delay, 100ms);
  CAF_CHECK_EQUAL(d->admission.interval, 100ms);
  CAF_CHECK_EQUAL(d->admission.initial_limit, 2000u);
  CAF_CHECK_EQUAL(d->admission.min_limit, 100u);
  auto r = parse_config(R"([admission]
enabled = false
target_delay = "250ms"
interval = "1s"
initial_limit = 500
min_limit = 500
)");
  CAF_REQUIRE(r);
  CAF_CHECK(!r->admission.enabled);
  CAF_CHECK_EQUAL(r->admission.target_delay, 250ms);
  CAF_CHECK_EQUAL(r->admission.interval, 1s);
  auto e = fails("[admission]\ntarget_delay = 50\n");
  CAF_CHECK_EQUAL(e.field, "admission.target_delay");
  e = fails("[admission]\ninterval = \"0ms\"\n");
  CAF_CHECK_EQUAL(e.field, "admission.interval");
  e = fails("[admission]\nmin_limit = 0\n");
  CAF_CHECK_EQUAL(e.field, "admission.min_limit");
  e = fails("[admission]\ninitial_limit = 10\nmin_limit = 20\n");
  CAF_CHECK_EQUAL(e.field, "admission.min_limit");
  e = fails("[admission]\ntarget = \"50ms\"\n");
  CAF_CHECK_EQUAL(e.field, "admission.target");
}

CAF_TEST(tokens parse with their scopes and pii fields default to the bidder) {
  ::setenv("GAVEL_TEST_READ_TOKEN", "read-secret", 1);
  temp_file secret{"ops-secret\n"};
  auto r = parse_config(R"(
[ingest]
tokens = ["legacy"]
[[token]]
name = "platform"
secret = "literal-secret"
scopes = ["ingest:*"]
[[token]]
name = "analyst"
secret = "env:GAVEL_TEST_READ_TOKEN"
scopes = ["read", "pii"]
[[token]]
name = "ops"
secret = "file:)" + secret.path +
                        R"("
scopes = ["admin", "ingest:web"]
)");
  ::unsetenv("GAVEL_TEST_READ_TOKEN");
  CAF_REQUIRE(r);
  CAF_REQUIRE_EQUAL(r->tokens.size(), 3u);
  CAF_CHECK_EQUAL(r->tokens[0].secret, "literal-secret");
  CAF_CHECK_EQUAL(r->tokens[1].name, "analyst");
  CAF_CHECK_EQUAL(r->tokens[1].secret, "read-secret");
  CAF_CHECK_EQUAL(r->tokens[2].secret, "ops-secret");
  CAF_CHECK_EQUAL(r->tokens[2].scopes, (std::vector<std::string>{"admin", "ingest:web"}));
  CAF_CHECK_EQUAL(r->ingest.tokens, std::vector<std::string>{"legacy"});
  CAF_CHECK_EQUAL(r->pii.fields,
                  (std::vector<std::string>{"bidder_name", "bidder_email"}));
  auto p = parse_config("[pii]\nfields = [\"bidder_phone\"]\n");
  CAF_REQUIRE(p);
  CAF_CHECK_EQUAL(p->pii.fields, std::vector<std::string>{"bidder_phone"});
}

CAF_TEST(bad tokens stop the start naming the key) {
  auto check = [](std::string_view text, std::string_view field, std::string_view what) {
    auto e = fails(text);
    CAF_CHECK_EQUAL(e.code, "config");
    CAF_CHECK_EQUAL(e.field, field);
    if (!mentions(e.message, what))
      CAF_ERROR("message " << e.message << " does not say " << what);
  };
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = [\"read\", \"write\"]\n",
        "token[0].scopes[1]", "unknown scope \"write\"");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = [\"ingest:Web\"]\n",
        "token[0].scopes[0]", "unknown scope");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = []\n", "token[0].scopes",
        "at least one scope");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = [\"pii\"]\n",
        "token[0].scopes", "pii needs read or admin");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = [\"read\", \"read\"]\n",
        "token[0].scopes[1]", "listed twice");
  check("[[token]]\nname = \"a\"\nscopes = [\"read\"]\n", "token[0].secret", "missing");
  check("[[token]]\nsecret = \"s\"\nscopes = [\"read\"]\n", "token[0].name", "missing");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\n", "token[0].scopes", "missing");
  check("[[token]]\nname = \"A b\"\nsecret = \"s\"\nscopes = [\"read\"]\n",
        "token[0].name", "");
  check("[[token]]\nname = \"a\"\nsecret = \"s\"\nscopes = [\"read\"]\nscope = 1\n",
        "token[0].scope", "did you mean `scopes`");
  check("[[token]]\nname = \"a\"\nsecret = \"\"\nscopes = [\"read\"]\n",
        "token[0].secret", "");
  check("[[token]]\nname = \"a\"\nsecret = \"env:GAVEL_TEST_UNSET_TOKEN\"\n"
        "scopes = [\"read\"]\n",
        "token[0].secret", "GAVEL_TEST_UNSET_TOKEN");
  check("token = 1\n", "token", "[[token]]");
  // Names and secrets are unique, across the legacy tokens too; the message
  // names the keys and never the secret.
  check("[[token]]\nname = \"a\"\nsecret = \"s1\"\nscopes = [\"read\"]\n"
        "[[token]]\nname = \"a\"\nsecret = \"s2\"\nscopes = [\"read\"]\n",
        "token[1].name", "duplicate token name");
  auto e = fails(
      "[[token]]\nname = \"a\"\nsecret = \"shared-secret\"\nscopes = [\"read\"]\n"
      "[[token]]\nname = \"b\"\nsecret = \"shared-secret\"\nscopes = [\"admin\"]\n");
  CAF_CHECK_EQUAL(e.field, "token[1].secret");
  CAF_CHECK(mentions(e.message, "token[0].secret"));
  CAF_CHECK(mentions(e.message, "test.toml:7"));
  CAF_CHECK(!mentions(e.message, "shared-secret"));
  e = fails("[[token]]\nname = \"a\"\nsecret = \"old\"\nscopes = [\"read\"]\n"
            "[ingest]\ntokens = [\"old\"]\n");
  CAF_CHECK_EQUAL(e.field, "token[0].secret");
  CAF_CHECK(mentions(e.message, "ingest.tokens[0]"));
  check("[pii]\nfields = [\"\"]\n", "pii.fields[0]", "must not be empty");
  check("[pii]\nfield = []\n", "pii.field", "did you mean `fields`");
}
