// Logging: one line per event, "LEVEL component: message", to stderr. The level comes from
// GANNET_LOG_LEVEL (debug|info|warn|error, default warn) or set_log_level(). The log sink is the
// only process-wide mutable state (STYLE.md). Thread-safe: each line is written with one call.
#pragma once

namespace gannet {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
[[gnu::format(printf, 3, 4)]] void log_message(LogLevel level, const char* component, const char* fmt, ...);

}  // namespace gannet

#define GANNET_LOG_(level, component, ...)                                 \
    do {                                                                   \
        if (static_cast<int>(level) >= static_cast<int>(::gannet::log_level())) { \
            ::gannet::log_message(level, component, __VA_ARGS__);          \
        }                                                                  \
    } while (0)
#define GANNET_LOG_DEBUG(component, ...) GANNET_LOG_(::gannet::LogLevel::kDebug, component, __VA_ARGS__)
#define GANNET_LOG_INFO(component, ...) GANNET_LOG_(::gannet::LogLevel::kInfo, component, __VA_ARGS__)
#define GANNET_LOG_WARN(component, ...) GANNET_LOG_(::gannet::LogLevel::kWarn, component, __VA_ARGS__)
#define GANNET_LOG_ERROR(component, ...) GANNET_LOG_(::gannet::LogLevel::kError, component, __VA_ARGS__)
