#define CAF_SUITE adapters.config_sources
#include "adapters/config/config.hpp"

#include <caf/test/unit_test.hpp>
#include <cstdlib>
#include <string>

using namespace gavel::adapters;
using namespace std::chrono_literals;

namespace {

bool mentions(const std::string& message, std::string_view what) {
  return message.find(what) != std::string::npos;
}

void refused(std::string_view text, std::string_view field, std::string_view what) {
  auto r = parse_config(text, "test.toml");
  if (r) {
    CAF_ERROR("expected an error, the configuration parsed: " << text);
    return;
  }
  CAF_CHECK_EQUAL(r.err().code, "config");
  CAF_CHECK_EQUAL(r.err().field, field);
  if (!mentions(r.err().message, what))
    CAF_ERROR("message " << r.err().message << " does not say " << what);
}

} // namespace

CAF_TEST(without sources there is one enabled http source named default) {
  auto r = parse_config("");
  CAF_REQUIRE(r);
  CAF_CHECK(r->sources.empty());
  auto s = effective_sources(r->sources);
  CAF_REQUIRE_EQUAL(s.size(), 1u);
  CAF_CHECK_EQUAL(s[0].name, "default");
  CAF_CHECK_EQUAL(s[0].kind, "http");
  CAF_CHECK(s[0].enabled);
}

CAF_TEST(sources parse with their defaults and secrets) {
  ::setenv("GAVEL_TEST_WP_URL", "mysql://wp:p%40ss@127.0.0.1:3306/wordpress", 1);
  auto r = parse_config(R"(
[[source]]
name = "web"
[[source]]
name = "platform-db"
kind = "postgres_inbox"
enabled = false
poll_interval = "250ms"
batch = 1000
[[source]]
name = "wordpress"
kind = "mysql_inbox"
url = "env:GAVEL_TEST_WP_URL"
)");
  ::unsetenv("GAVEL_TEST_WP_URL");
  CAF_REQUIRE(r);
  CAF_REQUIRE_EQUAL(r->sources.size(), 3u);
  CAF_CHECK_EQUAL(r->sources[0].kind, "http");
  CAF_CHECK(r->sources[0].enabled);
  CAF_CHECK_EQUAL(r->sources[0].poll_interval, 1000ms);
  CAF_CHECK_EQUAL(r->sources[0].batch, 500u);
  CAF_CHECK_EQUAL(r->sources[1].kind, "postgres_inbox");
  CAF_CHECK(!r->sources[1].enabled);
  CAF_CHECK(r->sources[1].url.empty()); // Gavel's own database
  CAF_CHECK_EQUAL(r->sources[1].poll_interval, 250ms);
  CAF_CHECK_EQUAL(r->sources[1].batch, 1000u);
  CAF_CHECK_EQUAL(r->sources[2].url, "mysql://wp:p%40ss@127.0.0.1:3306/wordpress");
  CAF_CHECK_EQUAL(effective_sources(r->sources).size(), 3u);
}

CAF_TEST(bad sources stop the start naming the key and never the url) {
  refused("[[source]]\nkind = \"http\"\n", "source[0].name", "missing");
  refused("[[source]]\nname = \"Web\"\n", "source[0].name", "lowercase");
  refused("[[source]]\nname = \"web\"\nkind = \"kafka\"\n", "source[0].kind", "kafka");
  refused("[[source]]\nname = \"web\"\nenabled = \"no\"\n", "source[0].enabled",
          "boolean");
  refused("[[source]]\nname = \"web\"\nbatch = 0\n", "source[0].batch", "1..1000");
  refused("[[source]]\nname = \"web\"\npoll = \"1s\"\n", "source[0].poll", "unknown");
  refused("[[source]]\nname = \"web\"\nurl = \"postgresql://h/db\"\n", "source[0].url",
          "only inbox sources");
  refused("[[source]]\nname = \"wp\"\nkind = \"mysql_inbox\"\n", "source[0].url",
          "required");
  refused("[[source]]\nname = \"wp\"\nkind = \"mysql_inbox\"\n"
          "url = \"postgresql://secret-password@h/db\"\n",
          "source[0].url", "mysql://");
  refused(
      "[[source]]\nname = \"pg\"\nkind = \"postgres_inbox\"\nurl = \"mysql://h/db\"\n",
      "source[0].url", "libpq");
  refused("[[source]]\nname = \"wp\"\nkind = \"mysql_inbox\"\n"
          "url = \"env:GAVEL_TEST_UNSET_WP_URL\"\n",
          "source[0].url", "GAVEL_TEST_UNSET_WP_URL");
  refused("[[source]]\nname = \"a\"\n[[source]]\nname = \"a\"\nkind = \"http\"\n",
          "source[1].name", "duplicate source name");
  refused("source = 1\n", "source", "[[source]]");
  // A refused url is named, its text (a password) never shown.
  auto r = parse_config("[[source]]\nname = \"wp\"\nkind = \"mysql_inbox\"\n"
                        "url = \"mysql://wp:hunter2@\"\n");
  CAF_REQUIRE(!r);
  CAF_CHECK(!mentions(r.err().message, "hunter2"));
}

CAF_TEST(source alert thresholds parse and are checked) {
  auto r = parse_config("[alerts]\nsource_rejection_percent = 0.5\n"
                        "source_rejection_window = \"5m\"\n"
                        "source_propagation_above = \"10s\"\n"
                        "source_propagation_for = \"1m\"\n");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->alerts.source_rejection_percent, 0.5);
  CAF_CHECK_EQUAL(r->alerts.source_rejection_window, 300000ms);
  CAF_CHECK_EQUAL(r->alerts.source_propagation_above, 10000ms);
  CAF_CHECK_EQUAL(r->alerts.source_propagation_for, 60000ms);
  auto d = parse_config("");
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->alerts.source_rejection_percent, 1.0);
  CAF_CHECK_EQUAL(d->alerts.source_rejection_window, 600000ms);
  CAF_CHECK_EQUAL(d->alerts.source_propagation_above, 5000ms);
  CAF_CHECK_EQUAL(d->alerts.source_propagation_for, 300000ms);
  refused("[alerts]\nsource_rejection_percent = 101\n", "alerts.source_rejection_percent",
          "0 to 100");
  refused("[alerts]\nsource_rejection_percent = \"1%\"\n",
          "alerts.source_rejection_percent", "percent");
}
