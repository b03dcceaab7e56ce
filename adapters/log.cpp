#include "adapters/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace gavel::adapters {

namespace {

// Escapes the message for the JSON-lines format (a custom flag formatter, so
// quotes and newlines in messages cannot break a line).
class json_message_flag : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
      case '"':
        dest.append(std::string_view{"\\\""});
        break;
      case '\\':
        dest.append(std::string_view{"\\\\"});
        break;
      case '\n':
        dest.append(std::string_view{"\\n"});
        break;
      case '\r':
        dest.append(std::string_view{"\\r"});
        break;
      case '\t':
        dest.append(std::string_view{"\\t"});
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          dest.append(std::string_view{buf});
        } else {
          dest.push_back(c);
        }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

} // namespace

void setup_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_logger_mt("gavel");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<json_message_flag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","thread":%t,"msg":"%*"})");
    spdlog::set_formatter(std::move(f));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v",
                        spdlog::pattern_time_type::utc);
  }
  spdlog::flush_on(spdlog::level::warn);
}

} // namespace gavel::adapters
