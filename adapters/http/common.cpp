// Parts of the HTTP adapter shared by server and client: the I/O runtime,
// header lookup, query and URL parsing and the blocking request wrapper.
#include "adapters/http/http.hpp"
#include "protocols/crypto.hpp"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <future>
#include <mutex>
#include <thread>

namespace gavel::adapters {

namespace net = boost::asio;

// -- io_runtime ---------------------------------------------------------------

struct io_runtime::impl {
  net::io_context context;
  net::executor_work_guard<net::io_context::executor_type> guard;
  std::vector<std::thread> threads;
  std::mutex mtx; // guards the stop/join sequence (stop() may race the dtor)

  explicit impl(unsigned n)
      : context(static_cast<int>(std::max(n, 1u))), guard(net::make_work_guard(context)) {
  }

  void stop() {
    std::lock_guard lock{mtx};
    guard.reset();
    context.stop();
    // Joining the calling thread would deadlock: a stop() from inside a
    // handler only signals; the destructor (or a later stop) joins the rest.
    auto self = std::this_thread::get_id();
    for (auto& t : threads)
      if (t.joinable() && t.get_id() != self)
        t.join();
  }
};

io_runtime::io_runtime(unsigned threads) : impl_(std::make_unique<impl>(threads)) {
  auto n = std::max(threads, 1u);
  impl_->threads.reserve(n);
  for (unsigned i = 0; i < n; ++i)
    impl_->threads.emplace_back([ctx = &impl_->context] { ctx->run(); });
}

io_runtime::~io_runtime() {
  impl_->stop();
  // Only reachable when the runtime is destroyed from one of its own threads,
  // which is a bug in the owner; detaching beats std::terminate.
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.detach();
}

net::io_context& io_runtime::context() {
  return impl_->context;
}

void io_runtime::stop() {
  impl_->stop();
}

// -- query --------------------------------------------------------------------

std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {};
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string{}
                                          : protocols::url_decode(part.substr(eq + 1));
    if (amp == std::string_view::npos)
      break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

// -- headers ------------------------------------------------------------------

std::string_view find_header(const header_list& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (boost::beast::iequals(key, name))
      return value;
  return {};
}

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         boost::beast::iequals(s.substr(0, prefix.size()), prefix);
}

// -- parse_url ----------------------------------------------------------------

namespace {

/// ASCII lower case for scheme and host; not the locale's std::tolower.
char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

protocols::error url_error(std::string message) {
  return protocols::error{"url", "", std::move(message)};
}

} // namespace

expected<url> parse_url(std::string_view text) {
  url result;
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return url_error("missing scheme in '" + std::string{text} + "'");
  for (char c : text.substr(0, sep))
    result.scheme.push_back(lower(c));
  if (result.scheme == "http")
    result.port = 80;
  else if (result.scheme == "https")
    result.port = 443;
  else
    return url_error("unsupported scheme '" + result.scheme + "' (http or https only)");
  auto rest = text.substr(sep + 3);
  auto authority_end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, authority_end);
  auto tail = authority_end == std::string_view::npos ? std::string_view{}
                                                      : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos)
    return url_error("user information in URLs is not supported");
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return url_error("unterminated IPv6 literal in '" + std::string{text} + "'");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return url_error("garbage after IPv6 literal in '" + std::string{text} + "'");
      port_text = after.substr(1);
      if (port_text.empty())
        return url_error("empty port in '" + std::string{text} + "'");
    }
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty())
        return url_error("empty port in '" + std::string{text} + "'");
    }
  }
  if (host.empty())
    return url_error("missing host in '" + std::string{text} + "'");
  for (char c : host)
    result.host.push_back(lower(c));
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535)
      return url_error("invalid port '" + std::string{port_text} + "'");
    result.port = static_cast<std::uint16_t>(value);
  }
  // The fragment never goes on the wire.
  tail = tail.substr(0, tail.find('#'));
  if (tail.empty())
    result.target = "/";
  else if (tail.front() == '?')
    result.target = "/" + std::string{tail};
  else
    result.target = std::string{tail};
  return result;
}

// -- http_connection::request -------------------------------------------------

http_result http_connection::request(std::string method, std::string target,
                                     header_list headers, std::string body) {
  std::promise<http_result> promise;
  auto future = promise.get_future();
  async_request(std::move(method), std::move(target), std::move(headers), std::move(body),
                [p = std::make_shared<std::promise<http_result>>(std::move(promise))](
                    http_result r) { p->set_value(std::move(r)); });
  try {
    return future.get();
  } catch (const std::future_error&) {
    // The runtime was torn down with the request still queued.
    http_result r;
    r.error = "aborted: I/O runtime stopped";
    return r;
  }
}

} // namespace gavel::adapters
