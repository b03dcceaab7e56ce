#pragma once

// Test-only TLS material and a minimal HTTPS server for the client tests.
// The certificates are made at test time with the openssl CLI, in a fresh
// temporary directory that is removed afterwards.

#include "adapters/http/http.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace gavel::test {

/// A throwaway CA, a server certificate for 127.0.0.1 / localhost signed by
/// it (good), a second one for a different name (other.example) and a client
/// certificate (client).
class test_pki {
public:
  test_pki() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gavel-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    write("good.ext", "basicConstraints=CA:FALSE\n"
                      "extendedKeyUsage=serverAuth\n"
                      "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    write("other.ext", "basicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth\n"
                       "subjectAltName=DNS:other.example\n");
    write("client.ext", "basicConstraints=CA:FALSE\n"
                        "extendedKeyUsage=clientAuth\n");
    const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("openssl req -x509 " + ec_key + " -keyout ca.key -out ca.pem -days 2" +
        " -subj '/CN=gavel test CA'" + " -addext basicConstraints=critical,CA:TRUE" +
        " -addext keyUsage=critical,keyCertSign,cRLSign");
    for (std::string name : {"good", "other", "client"}) {
      run("openssl req " + ec_key + " -keyout " + name + ".key -out " + name +
          ".csr -subj '/CN=" + (name == "good" ? "localhost" : name + ".example") + "'");
      run("openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key" +
          " -CAcreateserial -days 2 -out " + name + ".pem -extfile " + name + ".ext");
    }
  }

  ~test_pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;

  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  std::string ca_file() const { return path("ca.pem"); }

private:
  void write(const std::string& file, const std::string& text) {
    std::ofstream{dir_ / file} << text;
  }

  void run(const std::string& command) {
    auto full = "cd '" + dir_.string() + "' && " + command + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("failed: " + command);
  }

  std::filesystem::path dir_;
};

/// HTTPS server on 127.0.0.1 (ephemeral port) answering every request with
/// 200 and "tls ok <target>", keep-alive. Runs on its own io_runtime.
class tls_test_server {
public:
  tls_test_server(const std::string& cert_file, const std::string& key_file)
      : ctx_(boost::asio::ssl::context::tls_server), acceptor_(io_.context()) {
    namespace net = boost::asio;
    ctx_.use_certificate_chain_file(cert_file);
    ctx_.use_private_key_file(key_file, net::ssl::context::pem);
    net::ip::tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), 0};
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
  }

  ~tls_test_server() { io_.stop(); }

  std::uint16_t port() const { return port_; }

private:
  struct session : std::enable_shared_from_this<session> {
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;

    session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx)
        : stream(std::move(socket), ctx) {}

    void start() {
      stream.async_handshake(boost::asio::ssl::stream_base::server,
                             [self = shared_from_this()](boost::system::error_code ec) {
                               if (!ec)
                                 self->read();
                             });
    }

    void read() {
      namespace http = boost::beast::http;
      req = {};
      http::async_read(
          stream, buffer, req,
          [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            if (ec)
              return;
            self->res = {http::status::ok, self->req.version()};
            self->res.body() = "tls ok " + std::string{self->req.target()};
            self->res.keep_alive(self->req.keep_alive());
            self->res.prepare_payload();
            http::async_write(self->stream, self->res,
                              [self](boost::system::error_code ec, std::size_t) {
                                if (!ec && self->res.keep_alive())
                                  self->read();
                              });
          });
    }
  };

  void accept() {
    acceptor_.async_accept(
        [this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
          if (ec)
            return;
          std::make_shared<session>(std::move(socket), ctx_)->start();
          accept();
        });
  }

  adapters::io_runtime io_{1};
  boost::asio::ssl::context ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
};

} // namespace gavel::test
