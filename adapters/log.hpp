#pragma once

#include <spdlog/spdlog.h>
#include <string>

/// Logging is spdlog's default logger; these macros keep call sites short and
/// let a build drop levels.
#define GAVEL_LOG_TRACE(...) ::spdlog::trace(__VA_ARGS__)
#define GAVEL_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define GAVEL_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define GAVEL_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define GAVEL_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)

namespace gavel::adapters {

/// Configures the default logger: level (trace|debug|info|warn|error) and
/// format ("text", or "json" for one JSON object per line), to stderr.
void setup_logging(const std::string& level, const std::string& format);

} // namespace gavel::adapters
