// The keys of operations: alerting (adapters/alert.cpp, actors/alerts.cpp)
// and logging (adapters/log.cpp).
#include "adapters/config/key.hpp"

namespace gavel::adapters::keys {

namespace {

/// A share in percent, 0..100: an integer or a float (`1`, `0.5`).
top_key percent_key(std::string_view section, std::string_view name, std::string doc,
                    double alerts_config::*member) {
  return {
      section,
      name,
      std::move(doc),
      {},
      [member](const toml::node& n, config& c, const std::string& field) -> opt_error {
        std::optional<double> v;
        if (auto i = n.as_integer())
          v = static_cast<double>(i->get());
        else if (auto f = n.as_floating_point())
          v = f->get();
        if (!v)
          return wrong_type(field, "a number of percent (1 or 0.5)", n);
        if (!(*v >= 0 && *v <= 100))
          return make_error(field, "expected a percentage from 0 to 100");
        c.alerts.*member = *v;
        return std::nullopt;
      },
      [member](const config& c) {
        auto text = std::to_string(c.alerts.*member);
        text.erase(text.find_last_not_of('0') + 1);
        if (text.back() == '.')
          text.pop_back();
        return text;
      }};
}

} // namespace

void add_alerts_keys(std::vector<top_key>& k) {
  constexpr std::string_view a = "alerts";
  k.push_back(duration_key<config>(
      a, "interval", "how often pipeline health is evaluated",
      [](auto& c) -> auto& { return c.alerts.interval; }));
  k.push_back(duration_key<config>(
      a, "failing_for", "alert when a destination is not ok for this long",
      [](auto& c) -> auto& { return c.alerts.failing_for; }));
  k.push_back(duration_key<config>(
      a, "lag_above", "alert when a destination's oldest undelivered event is older",
      [](auto& c) -> auto& { return c.alerts.lag_above; }));
  k.push_back(bool_key<config>(
      a, "dead_letters", "alert on any new dead letter",
      [](auto& c) -> auto& { return c.alerts.dead_letters; }));
  k.push_back(bool_key<config>(
      a, "restart_intensity",
      "alert when a destination's supervisor gives up (restart intensity exceeded)",
      [](auto& c) -> auto& { return c.alerts.restart_intensity; }));
  k.push_back(duration_key<config>(
      a, "database_unreachable_for", "alert when PostgreSQL is unreachable this long",
      [](auto& c) -> auto& { return c.alerts.database_unreachable_for; }));
  k.push_back(percent_key(a, "source_rejection_percent",
                          "alert when a source's rejected share of its events over "
                          "source_rejection_window is above this (0: never)",
                          &alerts_config::source_rejection_percent));
  k.push_back(duration_key<config>(
      a, "source_rejection_window", "the window of source_rejection_percent",
      [](auto& c) -> auto& { return c.alerts.source_rejection_window; }));
  k.push_back(duration_key<config>(
      a, "source_propagation_above",
      "alert when a source's propagation p99 (its commit or arrival to the outbox "
      "commit) is above this for source_propagation_for",
      [](auto& c) -> auto& { return c.alerts.source_propagation_above; }));
  k.push_back(duration_key<config>(
      a, "source_propagation_for", "how long source_propagation_above must hold",
      [](auto& c) -> auto& { return c.alerts.source_propagation_for; }));
  k.push_back(duration_key<config>(
      a, "min_interval",
      "at most one notice per incident per this (the recovery notice always goes)",
      [](auto& c) -> auto& { return c.alerts.min_interval; }));
  k.push_back(int_key<config>(
      a, "max_per_hour", "cap on all notices in any hour (a storm guard)",
      [](auto& c) -> auto& { return c.alerts.max_per_hour; }, 1, 10000));
  k.push_back(string_key<config>(
      a, "instance", "names this deployment in alert text",
      [](auto& c) -> auto& { return c.alerts.instance; }, check_not_empty));
  k.push_back(duration_key<config>(
      a, "timeout", "time allowed for one send",
      [](auto& c) -> auto& { return c.alerts.timeout; }));
  k.push_back(string_key<config>(
      a, "smtp_url",
      "smtp://host:587 (STARTTLS) or smtps://host:465; empty: no email alerts",
      [](auto& c) -> auto& { return c.alerts.smtp_url; }, check_smtp_url));
  k.push_back(string_key<config>(
      a, "smtp_user", "SMTP AUTH user; empty: no AUTH",
      [](auto& c) -> auto& { return c.alerts.smtp_user; }));
  k.push_back(string_key<config>(
      a, "smtp_password", "SMTP AUTH password (secret)",
      [](auto& c) -> auto& { return c.alerts.smtp_password; }, {}, {}, secret_or_empty));
  k.push_back(bool_key<config>(
      a, "smtp_starttls",
      "smtp://: require STARTTLS (false only for a local relay or tests)",
      [](auto& c) -> auto& { return c.alerts.smtp_starttls; }));
  k.push_back(string_key<config>(
      a, "email_from", "sender address of alert emails",
      [](auto& c) -> auto& { return c.alerts.email_from; }));
  k.push_back(list_key<config>(
      a, "email_to", "recipients of alert emails",
      [](auto& c) -> auto& { return c.alerts.email_to; },
      [](const toml::node& n, const std::string& f) -> expected<std::string> {
        auto s = read_string(n, f);
        if (s && s->find('@') == std::string::npos)
          return make_error(f, "expected an email address, got " + quoted(*s));
        return s;
      },
      show_list));
  k.push_back(string_key<config>(
      a, "ca_file", "extra CA bundle (PEM) for SMTP and Teams TLS; empty: system CAs",
      [](auto& c) -> auto& { return c.alerts.ca_file; }, check_readable_file));
  k.push_back(string_key<config>(
      a, "teams_webhook_url",
      "Microsoft Teams incoming webhook URL (secret: it carries a key); empty: no "
      "Teams",
      [](auto& c) -> auto& { return c.alerts.teams_webhook_url; },
      unless_empty(check_http_url), {}, secret_or_empty));
}

void add_log_keys(std::vector<top_key>& k) {
  k.push_back(enum_key<config>("log", "level", "trace|debug|info|warn|error",
                               [](auto& c) -> auto& { return c.log.level; },
                               {"trace", "debug", "info", "warn", "error"}));
  k.push_back(enum_key<config>("log", "format", "text|json",
                               [](auto& c) -> auto& { return c.log.format; },
                               {"text", "json"}));
}

std::optional<key_fault> check_alerts_keys(const config& c) {
  const auto& a = c.alerts;
  if (a.smtp_url.empty() || (!a.email_from.empty() && !a.email_to.empty()))
    return std::nullopt;
  return key_fault{a.email_from.empty() ? "alerts.email_from" : "alerts.email_to",
                   "required when alerts.smtp_url is set",
                   {"alerts.smtp_url"}};
}

} // namespace gavel::adapters::keys
