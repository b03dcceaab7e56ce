// gavel: the service and its admin subcommands.
#include "actors/cmd/backfill.hpp"
#include "actors/cmd/reconcile.hpp"
#include "actors/cmd/service.hpp"
#include "actors/cmd/signals.hpp"
#include "adapters/config/config.hpp"
#include "adapters/inbox.hpp"
#include "adapters/log.hpp"
#include "adapters/metrics.hpp"
#include "adapters/postgres/embedded_postgres.hpp"
#include "adapters/postgres/embedded_postgres_supervisor.hpp"
#include "adapters/postgres/store.hpp"
#include "protocols/time.hpp"
#include "protocols/version.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace {

using namespace gavel;

struct database {
  std::unique_ptr<adapters::embedded_postgres> embedded;
  std::string url;
};

/// The configured server, or the embedded cluster when none is configured.
protocols::expected<database> open_database(const adapters::config& cfg) {
  database db;
  if (!cfg.database.url.empty()) {
    db.url = cfg.database.url;
    return db;
  }
  adapters::embedded_postgres::options opts;
  opts.data_dir = cfg.database.data_dir;
  db.embedded = std::make_unique<adapters::embedded_postgres>(opts);
  GAVEL_LOG_INFO("starting embedded PostgreSQL under {}", opts.data_dir);
  auto url = db.embedded->start();
  if (!url)
    return url.err();
  db.url = *url;
  return db;
}

int migrate(const std::string& url) {
  adapters::pg_store store{{url}};
  auto v = store.migrate();
  if (!v) {
    GAVEL_LOG_ERROR("migration failed: {}", v.err().message);
    return 1;
  }
  GAVEL_LOG_INFO("database schema at version {}", *v);
  return 0;
}

/// `gavel migrate --source NAME`: the inbox DDL applied to that inbox
/// source's database (Gavel's own for a postgres_inbox without a url).
int migrate_source(const adapters::config& cfg, const std::string& name) {
  auto sources = adapters::effective_sources(cfg.sources);
  auto it =
      std::find_if(sources.begin(), sources.end(),
                   [&](const adapters::source_config& s) { return s.name == name; });
  if (it == sources.end() || it->kind == "http") {
    GAVEL_LOG_ERROR("migrate --source: no inbox source named {}", name);
    return 2;
  }
  std::unique_ptr<database> own;
  adapters::inbox_options opts;
  opts.url = it->url;
  if (it->kind == "postgres_inbox" && opts.url.empty()) {
    auto db = open_database(cfg);
    if (!db) {
      GAVEL_LOG_ERROR("database: {}", db.err().message);
      return 1;
    }
    own = std::make_unique<database>(std::move(*db));
    opts.url = own->url;
  }
  auto reader = it->kind == "postgres_inbox" ? adapters::make_postgres_inbox(opts)
                                             : adapters::make_mysql_inbox(opts);
  auto applied = reader->apply_schema();
  reader.reset();
  if (own && own->embedded && own->embedded->started_here())
    own->embedded->stop();
  if (!applied) {
    GAVEL_LOG_ERROR("migrate --source {}: {}", name, applied.err().message);
    return 1;
  }
  GAVEL_LOG_INFO("inbox schema applied for source {}", name);
  return 0;
}

/// `gavel prune`: the retention plan (and, without --dry-run, its execution).
int prune(const adapters::config& cfg, bool dry_run) {
  auto db = open_database(cfg);
  if (!db) {
    GAVEL_LOG_ERROR("database: {}", db.err().message);
    return 1;
  }
  int rc = migrate(db->url);
  if (rc == 0) {
    adapters::pg_store store{{db->url}};
    auto r =
        actors::run_retention(store, actors::make_maintenance_settings(cfg), !dry_run);
    if (!r) {
      GAVEL_LOG_ERROR("prune: {}", r.err().message);
      rc = 1;
    } else {
      auto day = [](protocols::unix_ms t) {
        return t == 0 ? std::string{"-"} : protocols::format_iso8601_ms(t).substr(0, 10);
      };
      std::printf("%s (max_age %lld days)\n",
                  dry_run ? "retention plan, nothing changed" : "retention run",
                  static_cast<long long>(cfg.retention.max_age.count() / 86'400'000));
      std::printf("%-20s %-10s %-10s %10s %14s  %s\n", "partition", "from", "to", "rows",
                  "max_position", dry_run ? "would" : "done");
      std::size_t going = 0;
      for (const auto& p : *r) {
        going += p.drop ? 1 : 0;
        std::printf("%-20s %-10s %-10s %10lld %14lld  %s%s\n", p.name.c_str(),
                    p.is_default ? "default" : day(p.from_ms).c_str(),
                    p.is_default ? "" : day(p.to_ms).c_str(),
                    static_cast<long long>(p.rows),
                    static_cast<long long>(p.max_position),
                    p.drop && dry_run && !p.is_default ? "drop" : "",
                    p.drop && dry_run && !p.is_default ? "" : p.reason.c_str());
      }
      std::printf("%zu partition(s) %s\n", going, dry_run ? "would go" : "removed");
    }
  }
  // A cluster a running `gavel serve` uses stays up.
  if (db->embedded && db->embedded->started_here())
    db->embedded->stop();
  return rc;
}

/// The HTTP server's counters as scrape-time metrics.
void register_server_metrics(const adapters::http_server& server) {
  auto& r = adapters::metrics::global();
  auto stat = [&server](std::uint64_t adapters::http_server_stats::*field) {
    return [&server, field] { return static_cast<double>(server.stats().*field); };
  };
  using s = adapters::http_server_stats;
  r.counter_callback("gavel_http_connections_accepted_total",
                     "Connections accepted by the HTTP server.", {},
                     stat(&s::connections_accepted));
  r.counter_callback("gavel_http_connections_refused_total",
                     "Connections answered 503 and closed (max_connections reached).", {},
                     stat(&s::connections_refused));
  r.counter_callback("gavel_http_header_timeouts_total",
                     "Connections closed: no whole request header within "
                     "server.header_timeout.",
                     {}, stat(&s::header_timeouts));
  r.counter_callback("gavel_http_body_timeouts_total",
                     "Connections closed: no whole request body within "
                     "server.body_timeout.",
                     {}, stat(&s::body_timeouts));
  r.gauge_callback("gavel_http_connections_active", "Open HTTP connections.", {},
                   stat(&s::connections_active));
  r.counter_callback("gavel_http_requests_total",
                     "Complete HTTP requests handed to the handler.", {},
                     stat(&s::requests));
  r.counter_callback("gavel_http_requests_rejected_total",
                     "HTTP requests answered by the server itself (400, 413, 431).", {},
                     stat(&s::requests_rejected));
  r.counter_callback("gavel_http_tls_handshake_failures_total",
                     "Connections closed in the TLS handshake.", {},
                     stat(&s::tls_handshake_failures));
}

int serve(const adapters::config& cfg) {
  // Before the database starts: a signal during start-up is taken once the
  // service is up, as a graceful stop.
  shutdown_signals signals;

  auto db = open_database(cfg);
  if (!db) {
    GAVEL_LOG_ERROR("database: {}", db.err().message);
    return 1;
  }
  if (int rc = migrate(db->url); rc != 0)
    return rc;
  // With the embedded cluster Gavel is its database's supervisor: a dead
  // postmaster is restarted, not only noticed through failing queries.
  std::unique_ptr<adapters::embedded_postgres_supervisor> supervisor;
  if (db->embedded) {
    adapters::embedded_postgres_supervisor::options so;
    so.restart_limit = cfg.database.restart_limit;
    so.restart_period = cfg.database.restart_period;
    supervisor =
        std::make_unique<adapters::embedded_postgres_supervisor>(*db->embedded, so);
    if (auto ok = supervisor->start(); !ok) {
      GAVEL_LOG_ERROR("database: {}", ok.err().message);
      return 1;
    }
  }
  auto stop_database = [&] {
    // Supervision ends first: a cluster that is being stopped is not
    // restarted.
    if (supervisor)
      supervisor->stop();
    if (db->embedded)
      db->embedded->stop();
  };
  int rc = 0;
  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads", 2);
  // Work sharing (one queue, workers block on a condition variable) instead
  // of CAF's default work stealing, whose idle workers poll and nanosleep:
  // with two workers on a shared two-core machine the polling cost about
  // half of Gavel's CPU time (docs/adr/0007-hot-path.md). Work stealing
  // with its polling phases turned off made no difference the shared
  // machine's noise would let us see.
  caf_cfg.set("scheduler.policy", caf::atom("sharing"));
  caf_cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{caf_cfg};
  adapters::io_runtime io{cfg.server.io_threads};
  actors::service svc{sys, io, cfg, db->url};
  if (supervisor)
    svc.watch_database([s = supervisor.get()] { return s->status(); });
  if (auto ok = svc.start(); !ok) {
    GAVEL_LOG_ERROR("{}", ok.err().message);
    rc = 1;
  } else {
    adapters::http_server_options opts;
    opts.listen = cfg.server.listen;
    opts.max_body_bytes = cfg.server.max_body_bytes;
    opts.header_timeout = cfg.server.header_timeout;
    opts.body_timeout = cfg.server.body_timeout;
    opts.idle_timeout = cfg.server.idle_timeout;
    opts.max_connections = cfg.server.max_connections;
    opts.tls_cert_file = cfg.server.tls_cert;
    opts.tls_key_file = cfg.server.tls_key;
    opts.client_ca_file = cfg.server.client_ca;
    adapters::http_server server{
        io, opts, [&svc](adapters::http_request&& req, adapters::http_responder respond) {
          svc.handle(std::move(req), std::move(respond));
        }};
    auto port = server.start();
    if (!port) {
      GAVEL_LOG_ERROR("listen on {}: {}", cfg.server.listen, port.err().message);
      rc = 1;
    } else {
      register_server_metrics(server);
      signals.on_reload([&server, https = !cfg.server.tls_cert.empty()] {
        if (!https)
          GAVEL_LOG_INFO("SIGHUP: plain HTTP, no certificate to reload");
        else if (auto ok = server.reload_tls(); ok)
          GAVEL_LOG_INFO(
              "SIGHUP: certificate and key reloaded; new connections use them");
        else
          GAVEL_LOG_ERROR("SIGHUP: {}", ok.err().message);
      });
      GAVEL_LOG_INFO("gavel listening on {} (port {}, {}), {} destination(s)",
                     cfg.server.listen, *port,
                     cfg.server.tls_cert.empty()    ? "plain HTTP"
                     : cfg.server.client_ca.empty() ? "https"
                                                    : "https with client certificates",
                     cfg.destinations.size());
      std::cout << "gavel ready on port " << *port << std::endl;
      int sig = signals.wait();
      GAVEL_LOG_INFO("signal {}: shutting down (a second signal exits at once)", sig);
      // No restart of the database from here on: the drain may fail on a
      // dead one, and the cluster is stopped below.
      if (supervisor)
        supervisor->stop();
      // A second signal ends the process without waiting, and a shutdown
      // that does not finish in time must not keep the process (and a
      // supervisor waiting on it) forever: everything acknowledged is
      // already durable, so exiting is safe.
      signals.escalate(std::chrono::seconds{30});
      // No new connections; requests already read are answered (their
      // events commit), then destinations finish what is committed and
      // store their positions.
      server.stop_accepting();
      auto summary = svc.drain(cfg.server.drain_timeout);
      GAVEL_LOG_INFO("drained: {}", summary);
      signals.on_reload({});
      server.stop();
    }
  }
  svc.stop();
  // Give the actors a moment to take their exit messages (the store ends
  // its current transaction first).
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  stop_database();
  GAVEL_LOG_INFO("gavel stopped");
  spdlog::default_logger()->flush();
  // CAF 0.17's actor clock can deadlock when destroying the actor system
  // drops the last reference to an actor that still has a pending timer
  // (the actor's cleanup pushes to the clock from the clock's own thread).
  // Everything acknowledged is durable and positions are stored by now, so
  // the process ends here instead of running those destructors.
  std::cout.flush();
  std::_Exit(rc);
}

/// `gavel check-config --keys`: one line per key, as TOML with its
/// default, then what it does (destination keys name their kind).
void print_config_keys(std::ostream& out) {
  for (const auto& k : adapters::config_keys()) {
    out << k.key << " = " << k.default_value;
    if (!k.kind.empty())
      out << "  [" << k.kind << "]";
    out << "\n    " << k.doc << "\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"gavel: durable, ordered auction-event relay"};
  app.set_version_flag("--version", gavel::version_line("gavel"));
  app.require_subcommand(1);
  std::string config_path;
  auto* serve_cmd = app.add_subcommand("serve", "run the service");
  serve_cmd->add_option("--config,-c", config_path, "TOML configuration file");
  auto* migrate_cmd = app.add_subcommand("migrate", "apply database schema migrations");
  migrate_cmd->add_option("--config,-c", config_path, "TOML configuration file");
  std::string source_name;
  migrate_cmd->add_option("--source", source_name,
                          "apply the inbox DDL to this inbox source's database instead");
  auto* prune_cmd = app.add_subcommand(
      "prune",
      "remove outbox partitions past retention.max_age that every destination has");
  prune_cmd->add_option("--config,-c", config_path, "TOML configuration file");
  bool dry_run = false;
  prune_cmd->add_flag("--dry-run", dry_run, "show what would go; change nothing");
  auto* reconcile_cmd = app.add_subcommand(
      "reconcile", "compare a warehouse export (CSV or JSON lines) with the outbox");
  reconcile_cmd->add_option("--config,-c", config_path, "TOML configuration file");
  std::string export_path;
  reconcile_cmd
      ->add_option("--file", export_path,
                   "the export: event_id, auction_id, "
                   "bid_sequence")
      ->required();
  auto* backfill_cmd = app.add_subcommand(
      "backfill",
      "replay history (JSON lines or a CSV bid log) through the running service "
      "in the low-priority lane; resumable (docs/backfill.md)");
  actors::backfill_options bf;
  backfill_cmd->add_option("--config,-c", config_path, "TOML configuration file")
      ->required();
  backfill_cmd->add_option("--source", bf.source, "the source the history belongs to")
      ->required();
  backfill_cmd->add_option("--file", bf.file, "history: .csv for CSV, else JSON lines")
      ->required();
  backfill_cmd->add_option(
      "--job", bf.job, "job name (the checkpoint's key); default <source>-<file name>");
  backfill_cmd->add_option("--rate", bf.rate,
                           "at most this many events per second (0: no cap)");
  backfill_cmd->add_option(
      "--token", bf.token,
      "bearer token; default the first token of FILE that may ingest "
      "into the source");
  backfill_cmd->add_option(
      "--url", bf.url, "the service; default from server.listen (https with tls_cert)");
  backfill_cmd->add_option("--ca-file", bf.ca_file,
                           "CA bundle that signed the server's certificate");
  backfill_cmd->add_option("--client-cert", bf.client_cert, "client certificate (mTLS)");
  backfill_cmd->add_option("--client-key", bf.client_key, "client certificate's key");
  backfill_cmd->add_option("--batch", bf.batch, "events per request")
      ->capture_default_str();
  backfill_cmd
      ->add_option("--connections", bf.connections,
                   "requests in flight at once (each auction always on the same one)")
      ->capture_default_str();
  backfill_cmd
      ->add_option("--progress", bf.progress,
                   "auto (a bar on a terminal, JSON lines otherwise), bar, json or none")
      ->check(CLI::IsMember({"auto", "bar", "json", "none"}))
      ->capture_default_str();
  backfill_cmd->add_flag("--verify", bf.verify,
                         "when done, check the file against the outbox (exit 1 on a "
                         "difference)");
  auto* check_cmd = app.add_subcommand("check-config", "validate a configuration file");
  auto* check_file =
      check_cmd->add_option("--config,-c", config_path, "TOML configuration file");
  bool list_keys = false;
  check_cmd
      ->add_flag("--keys", list_keys,
                 "list every key the configuration accepts, with its default")
      ->excludes(check_file);
  auto* schema_cmd = app.add_subcommand(
      "inbox-schema",
      "print the DDL of the transactional inbox for the platform's database");
  std::string kind_name;
  schema_cmd->add_option("--kind", kind_name, "postgres or mysql");
  CLI11_PARSE(app, argc, argv);

  if (*schema_cmd) {
    auto kind = adapters::parse_inbox_kind(kind_name);
    if (!kind) {
      std::cerr << "gavel: inbox-schema: --kind must be postgres or mysql" << std::endl;
      return 2;
    }
    std::cout << adapters::inbox_schema(*kind);
    return 0;
  }

  if (*check_cmd && list_keys) {
    print_config_keys(std::cout);
    return 0;
  }
  if (config_path.empty()) {
    // Built-in defaults alone mean no destinations and no tokens (every
    // ingest 401) on ./var/pg: never what someone starting Gavel wants.
    std::cerr << "gavel: " << app.get_subcommands().front()->get_name()
              << ": --config FILE is required. To start: copy "
                 "config/gavel.example.toml, set its tokens and destinations "
                 "(docs/configuration.md), then `gavel serve --config FILE`."
              << std::endl;
    return 2;
  }
  auto cfg = adapters::load_config(config_path);
  if (!cfg) {
    std::cerr << "gavel: configuration: " << cfg.err().message << std::endl;
    return 2;
  }
  adapters::setup_logging(cfg->log.level, cfg->log.format);
  if (*check_cmd) {
    std::cout << "configuration ok" << std::endl;
    return 0;
  }
  if (*prune_cmd)
    return prune(*cfg, dry_run);
  if (*reconcile_cmd) {
    // Exit 2 (could not compare) when the database cannot be reached.
    auto db = open_database(*cfg);
    if (!db) {
      GAVEL_LOG_ERROR("database: {}", db.err().message);
      return 2;
    }
    int rc = actors::run_reconcile(db->url, export_path);
    if (db->embedded && db->embedded->started_here())
      db->embedded->stop();
    return rc;
  }
  if (*backfill_cmd) {
    std::optional<database> db;
    int rc = actors::run_backfill(*cfg, bf, [&]() -> protocols::expected<std::string> {
      auto opened = open_database(*cfg);
      if (!opened)
        return opened.err();
      db = std::move(*opened);
      return db->url;
    });
    if (db && db->embedded && db->embedded->started_here())
      db->embedded->stop();
    return rc;
  }
  if (*migrate_cmd && !source_name.empty())
    return migrate_source(*cfg, source_name);
  if (*migrate_cmd) {
    auto db = open_database(*cfg);
    if (!db) {
      GAVEL_LOG_ERROR("database: {}", db.err().message);
      return 1;
    }
    int rc = migrate(db->url);
    if (db->embedded && db->embedded->started_here())
      db->embedded->stop();
    return rc;
  }
  return serve(*cfg);
}
