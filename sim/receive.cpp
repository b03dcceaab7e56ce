// `sim receive`: a Standard Webhooks receiver that records every arrival.

#include "adapters/http.hpp"
#include "protocols/crypto.hpp"
#include "sim/commands.hpp"
#include "sim/common.hpp"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

namespace gavel::sim {

namespace {

using adapters::http_request;
using adapters::http_responder;
using adapters::http_response;
using nlohmann::json;

std::optional<std::int64_t> json_int(const json& obj, const char* key) {
  if (!obj.is_object())
    return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end())
    return std::nullopt;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec == std::errc{} && res.ptr == s.data() + s.size())
      return v;
  }
  return std::nullopt;
}

void append_opt_int(std::optional<std::int64_t> v, std::string& out) {
  if (v)
    append_int(*v, out);
  else
    out += "null";
}

class receiver {
public:
  receiver(const receive_args& args, adapters::io_runtime& io, std::FILE* out)
      : args_(args), io_(io), out_(out), rng_(args.seed) {}

  void handle(http_request&& req, http_responder respond) {
    if (req.method == "GET") {
      auto path = std::string_view(req.target).substr(0, req.target.find('?'));
      if (path == "/_sim/stats") {
        http_response res;
        res.body = stats_json();
        respond(std::move(res));
      } else if (path == "/_sim/healthz") {
        respond(http_response{200, "text/plain", {}, "ok\n"});
      } else {
        respond(http_response{404, "text/plain", {}, "not found\n"});
      }
      return;
    }
    if (req.method != "POST") {
      respond(http_response{405, "text/plain", {{"Allow", "POST, GET"}}, ""});
      return;
    }
    on_post(std::move(req), std::move(respond));
  }

  std::string stats_json() const {
    std::string s = "{\"arrivals\":";
    append_int(arrivals_.load(), s);
    s += ",\"rejected_signature\":";
    append_int(rejected_signature_.load(), s);
    s += ",\"injected_failures\":";
    append_int(injected_failures_.load(), s);
    s += ",\"malformed\":";
    append_int(malformed_.load(), s);
    s += "}";
    return s;
  }

  /// Writes whatever is buffered; called by the main thread.
  void flush() {
    {
      std::lock_guard<std::mutex> guard(mtx_);
      spare_.swap(buf_);
    }
    if (!spare_.empty()) {
      std::fwrite(spare_.data(), 1, spare_.size(), out_);
      spare_.clear();
    }
    std::fflush(out_);
  }

private:
  void on_post(http_request&& req, http_responder respond) {
    const double t = now_unix_ms();
    auto id = req.header("webhook-id");
    auto ts_text = req.header("webhook-timestamp");
    auto sig = req.header("webhook-signature");
    std::int64_t ts = 0;
    auto res = std::from_chars(ts_text.data(), ts_text.data() + ts_text.size(), ts);
    const bool ts_ok = !ts_text.empty() && res.ec == std::errc{} &&
                       res.ptr == ts_text.data() + ts_text.size();
    const bool sig_ok =
        !id.empty() && ts_ok && !sig.empty() &&
        protocols::webhook_signature_matches(args_.secret, id, ts, req.body, sig);
    if (sig_ok && args_.fail_rate > 0) {
      bool fail;
      {
        std::lock_guard<std::mutex> guard(rng_mtx_);
        fail = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < args_.fail_rate;
      }
      if (fail) {
        ++injected_failures_;
        reply(std::move(respond),
              http_response{503, "text/plain", {}, "injected failure\n"});
        return;
      }
    }

    std::string line;
    line.reserve(320);
    line += "{\"t_ms\":";
    append_fixed(t, 3, line);
    bool malformed = false;
    auto j = json::parse(req.body, nullptr, false);
    const json* meta = nullptr;
    const json* data = nullptr;
    if (!j.is_discarded() && j.is_object()) {
      auto m = j.find("metadata");
      auto d = j.find("data");
      if (m != j.end() && m->is_object())
        meta = &*m;
      if (d != j.end() && d->is_object())
        data = &*d;
    }
    auto meta_string = [&](const char* key) -> std::string {
      if (!meta)
        return {};
      auto it = meta->find(key);
      return it != meta->end() && it->is_string() ? it->get<std::string>()
                                                  : std::string{};
    };
    auto event_id = meta_string("event_id");
    auto event_type = meta_string("event_type");
    malformed = !meta || !data || event_id.empty() || event_type.empty();
    line += ",\"event_id\":";
    append_json_string(event_id, line);
    line += ",\"event_type\":";
    append_json_string(event_type, line);
    line += ",\"auction_id\":";
    append_opt_int(data ? json_int(*data, "auction_id") : std::nullopt, line);
    line += ",\"bid_sequence\":";
    append_opt_int(meta ? json_int(*meta, "bid_sequence") : std::nullopt, line);
    line += ",\"total_bid_count\":";
    append_opt_int(data ? json_int(*data, "total_bid_count") : std::nullopt, line);
    line += ",\"sha256\":\"";
    line += sha256_hex(req.body);
    line += "\",\"sig_ok\":";
    line += sig_ok ? "true" : "false";
    line += ",\"webhook_id\":";
    append_json_string(id, line);
    if (malformed)
      line += ",\"malformed\":true";
    line += "}\n";
    {
      std::lock_guard<std::mutex> guard(mtx_);
      buf_ += line;
    }
    if (!sig_ok) {
      ++rejected_signature_;
      reply(std::move(respond), http_response{401, "text/plain", {}, "bad signature\n"});
    } else if (malformed) {
      ++malformed_;
      reply(std::move(respond),
            http_response{400, "text/plain", {}, "not an envelope\n"});
    } else {
      ++arrivals_;
      reply(std::move(respond), http_response{204, "", {}, ""});
    }
  }

  void reply(http_responder respond, http_response res) {
    if (args_.latency_ms == 0) {
      respond(std::move(res));
      return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(
        io_.context(), std::chrono::milliseconds(args_.latency_ms));
    timer->async_wait([timer, respond = std::move(respond),
                       res = std::move(res)](const boost::system::error_code&) mutable {
      respond(std::move(res));
    });
  }

  const receive_args& args_;
  adapters::io_runtime& io_;
  std::FILE* out_;
  std::mutex mtx_;
  std::string buf_;
  std::string spare_;
  std::mutex rng_mtx_;
  std::mt19937_64 rng_;
  std::atomic<std::int64_t> arrivals_{0};
  std::atomic<std::int64_t> rejected_signature_{0};
  std::atomic<std::int64_t> injected_failures_{0};
  std::atomic<std::int64_t> malformed_{0};
};

} // namespace

int run_receive(const receive_args& args) {
  if (args.secret.empty()) {
    std::cerr << "sim receive: --secret is required\n";
    return 2;
  }
  if (args.fail_rate < 0 || args.fail_rate > 1) {
    std::cerr << "sim receive: --fail-rate must be within [0, 1]\n";
    return 2;
  }
  std::FILE* out = std::fopen(args.out.c_str(), "ab");
  if (!out) {
    std::cerr << "sim receive: cannot open " << args.out << "\n";
    return 2;
  }
  block_termination_signals();
  int code = 0;
  {
    adapters::io_runtime io(std::max(1u, args.threads));
    receiver recv(args, io, out);
    adapters::http_server_options opts;
    opts.listen = args.listen;
    adapters::http_server server(io, opts,
                                 [&recv](http_request&& req, http_responder respond) {
                                   recv.handle(std::move(req), std::move(respond));
                                 });
    auto port = server.start();
    if (!port) {
      std::cerr << "sim receive: cannot listen on " << args.listen << ": "
                << port.err().message << "\n";
      code = 2;
    } else {
      auto host = args.listen.substr(0, args.listen.rfind(':'));
      std::cout << "listening on " << host << ":" << *port << std::endl;
      while (!wait_termination_signal(std::chrono::milliseconds(50)))
        recv.flush();
      server.stop();
      io.stop();
      recv.flush();
      std::cerr << "sim receive: " << recv.stats_json() << "\n";
    }
  }
  std::fclose(out);
  return code;
}

} // namespace gavel::sim
