// Connections over max_connections: a canned 503 instead of a session, at a
// bounded cost, so a flood of connections cannot take the server down.
#include "adapters/http/server_impl.hpp"

#include <array>
#include <sstream>

namespace gavel::adapters {

namespace {

/// Refusals (503 for max_connections) in progress at once; beyond, a new
/// connection is closed without an answer, so a flood cannot grow them.
constexpr std::size_t max_refusing = 256;
constexpr std::chrono::milliseconds refusal_time{2000};

/// The whole answer to a connection over max_connections, made once.
const std::string& refusal_bytes() {
  static const std::string bytes = [] {
    auto res = error_response(http::status::service_unavailable, "too_many_connections",
                              "connection limit reached; retry");
    res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    res.prepare_payload();
    std::ostringstream os;
    os << res;
    return os.str();
  }();
  return bytes;
}

/// Answers one connection over max_connections with a canned 503, then
/// half-closes and reads until the client closes (so the answer is not lost
/// to a reset), all within refusal_time.
class refusal : public std::enable_shared_from_this<refusal> {
public:
  refusal(tcp::socket socket, std::shared_ptr<std::atomic<std::size_t>> refusing)
      : stream_(std::move(socket)), refusing_(std::move(refusing)) {}
  ~refusal() { refusing_->fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    stream_.expires_after(refusal_time);
    const auto& bytes = refusal_bytes();
    net::async_write(stream_, net::buffer(bytes.data(), bytes.size()),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec)
                         return;
                       error_code ignored;
                       self->stream_.socket().shutdown(tcp::socket::shutdown_send,
                                                       ignored);
                       self->stream_.expires_after(refusal_time);
                       self->discard();
                     });
  }

private:
  void discard() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (!ec)
                                self->discard();
                            });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<std::atomic<std::size_t>> refusing_;
  std::array<char, 4096> scratch_{};
};

} // namespace

void http_server::impl::refuse(tcp::socket socket) {
  // On https the answer would need a TLS handshake first: more work than
  // the connection limit is there to save, so those are closed at once.
  const bool https = current_tls() != nullptr;
  if (https || refusing->fetch_add(1, std::memory_order_relaxed) >= max_refusing) {
    if (!https)
      refusing->fetch_sub(1, std::memory_order_relaxed);
    error_code ignored;
    socket.close(ignored);
    return;
  }
  std::make_shared<refusal>(std::move(socket), refusing)->start();
}

} // namespace gavel::adapters
