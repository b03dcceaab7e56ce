// https for the server: the TLS context new sessions take, loaded at start
// and again on reload (SIGHUP) while the sessions already open keep theirs.
#include "adapters/http/server_impl.hpp"

#include <filesystem>

namespace gavel::adapters {

namespace {

/// A server context from the options' files; the reason on failure.
std::variant<std::shared_ptr<ssl::context>, std::string>
load_context(const http_server_options& opts) {
  if (opts.tls_cert_file.empty() || opts.tls_key_file.empty())
    return std::string{"tls: both a certificate and a key file are needed"};
  for (const auto* file :
       {&opts.tls_cert_file, &opts.tls_key_file, &opts.client_ca_file}) {
    std::error_code fs_ec;
    if (!file->empty() && !std::filesystem::is_regular_file(*file, fs_ec))
      return "tls: cannot read '" + *file + "': no such file";
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  error_code ec;
  if (ctx->use_certificate_chain_file(opts.tls_cert_file, ec); ec)
    return "tls: cannot load certificate '" + opts.tls_cert_file + "': " + ec.message();
  if (ctx->use_private_key_file(opts.tls_key_file, ssl::context::pem, ec); ec)
    return "tls: cannot load key '" + opts.tls_key_file + "': " + ec.message();
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return "tls: the key '" + opts.tls_key_file + "' does not match the certificate";
  if (!opts.client_ca_file.empty()) {
    if (ctx->load_verify_file(opts.client_ca_file, ec); ec)
      return "tls: cannot load client_ca '" + opts.client_ca_file + "': " + ec.message();
    // Tells clients which CAs are accepted, so one holding several
    // certificates picks the right one.
    if (auto* names = SSL_load_client_CA_file(opts.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Session resumption with client certificates needs a context id, or
    // OpenSSL fails the resumed handshake.
    static constexpr unsigned char id[] = "gavel";
    SSL_CTX_set_session_id_context(ctx->native_handle(), id, sizeof id - 1);
  }
  return ctx;
}

} // namespace

std::optional<std::string> http_server::impl::setup_tls() {
  if (opts.tls_cert_file.empty() && opts.tls_key_file.empty()) {
    if (!opts.client_ca_file.empty())
      return "tls: client_ca needs a certificate and key of the server's own";
    return std::nullopt;
  }
  auto loaded = load_context(opts);
  if (auto* reason = std::get_if<std::string>(&loaded))
    return *reason;
  std::lock_guard lock{tls_mtx};
  tls = std::get<std::shared_ptr<ssl::context>>(std::move(loaded));
  return std::nullopt;
}

std::shared_ptr<ssl::context> http_server::impl::current_tls() const {
  std::lock_guard lock{tls_mtx};
  return tls;
}

expected<protocols::done> http_server::impl::reload_tls() {
  if (!current_tls())
    return protocols::error{"tls", "", "this server does not serve https"};
  auto loaded = load_context(opts);
  if (auto* reason = std::get_if<std::string>(&loaded))
    return protocols::error{"tls", "", *reason + " (the previous certificate stays)"};
  std::lock_guard lock{tls_mtx};
  tls = std::get<std::shared_ptr<ssl::context>>(std::move(loaded));
  return protocols::done{};
}

} // namespace gavel::adapters
