// libFuzzer target: Boost.Beast's HTTP/1.1 request parser configured as
// Gavel's server configures it (adapters/http/server_session.cpp, fresh_parser):
// string body, body limit from server.max_body_bytes, header limit from
// http_server_options. The bytes are fed in segments of a fuzzer-chosen size
// the way the server's reads deliver them (header first, then the body
// eagerly), and pipelined requests each get a fresh parser.
#include "adapters/config/config.hpp"
#include "adapters/http/http.hpp"

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace beast = boost::beast;
namespace http = beast::http;
using namespace gavel;

namespace {

struct limits {
  std::size_t body;
  std::uint32_t header;
};

limits configured_limits() {
  adapters::http_server_options opts;
  opts.max_body_bytes = adapters::default_config().server.max_body_bytes;
  return {opts.max_body_bytes, static_cast<std::uint32_t>(std::min<std::size_t>(
                                   opts.max_header_bytes, UINT32_MAX))};
}

/// What the server reads from a complete request (on_request, on_read_header).
void consume(http::request<http::string_body>& msg, const limits& lim) {
  std::string sink;
  sink += msg.method_string();
  sink += msg.target();
  for (const auto& field : msg) {
    sink += field.name_string();
    sink += field.value();
  }
  sink += msg[http::field::expect];
  if (msg.keep_alive())
    sink += 'k';
  if (msg.body().size() > lim.body)
    std::abort(); // the body limit did not hold
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const limits lim = configured_limits();
  if (size == 0)
    return 0;
  // First byte: segment size of the simulated socket reads (1..256).
  const std::size_t segment = std::size_t{data[0]} + 1;
  const char* in = reinterpret_cast<const char*>(data + 1);
  std::size_t remaining = size - 1;

  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  auto fresh = [&] {
    parser.emplace();
    parser->body_limit(lim.body);
    parser->header_limit(lim.header);
  };
  fresh();
  for (int requests = 0; requests < 64;) {
    beast::error_code ec;
    std::size_t used = 0;
    if (buffer.size() > 0) {
      // async_read_header parses lazily; async_read then reads the body eagerly.
      parser->eager(parser->is_header_done());
      used = parser->put(buffer.data(), ec);
      buffer.consume(used);
    }
    if (ec == http::error::need_more || (!ec && used == 0 && !parser->is_done())) {
      if (remaining == 0) {
        // The client went away mid-request (or between requests).
        parser->put_eof(ec);
        if (!ec && parser->is_done()) {
          auto msg = parser->release();
          consume(msg, lim);
        }
        break;
      }
      auto n = std::min(segment, remaining);
      auto dst = buffer.prepare(n);
      std::copy_n(in, n, static_cast<char*>(dst.data()));
      buffer.commit(n);
      in += n;
      remaining -= n;
      continue;
    }
    if (ec)
      break; // the server answers 400/413/431 and closes
    if (parser->is_done()) {
      auto msg = parser->release();
      consume(msg, lim);
      ++requests;
      if (!msg.keep_alive())
        break;
      fresh();
    }
  }
  return 0;
}
