// https for the server: the TLS context every session of a server shares.
#include "adapters/http/server_impl.hpp"

#include <filesystem>

namespace gavel::adapters {

/// Loads the certificate and key into a server context; the reason on failure.
std::optional<std::string> http_server::impl::setup_tls() {
  if (opts.tls_cert_file.empty() && opts.tls_key_file.empty())
    return std::nullopt;
  if (opts.tls_cert_file.empty() || opts.tls_key_file.empty())
    return "tls: both a certificate and a key file are needed";
  for (const auto* file : {&opts.tls_cert_file, &opts.tls_key_file}) {
    std::error_code fs_ec;
    if (!std::filesystem::is_regular_file(*file, fs_ec))
      return "tls: cannot read '" + *file + "': no such file";
  }
  ssl::context ctx{ssl::context::tls_server};
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                  ssl::context::single_dh_use);
  error_code ec;
  if (ctx.use_certificate_chain_file(opts.tls_cert_file, ec); ec)
    return "tls: cannot load certificate '" + opts.tls_cert_file + "': " + ec.message();
  if (ctx.use_private_key_file(opts.tls_key_file, ssl::context::pem, ec); ec)
    return "tls: cannot load key '" + opts.tls_key_file + "': " + ec.message();
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return "tls: the key '" + opts.tls_key_file + "' does not match the certificate";
  tls.emplace(std::move(ctx));
  return std::nullopt;
}

} // namespace gavel::adapters
