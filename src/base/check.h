// GANNET_CHECK: always-on invariant checks for bugs only (never for input a user, a file or the
// network can cause: those return a Status). A failed check prints file:line and aborts.
#pragma once

namespace gannet::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr);
}  // namespace gannet::detail

#define GANNET_CHECK(cond)                                              \
    do {                                                                \
        if (!(cond)) [[unlikely]] {                                     \
            ::gannet::detail::check_failed(__FILE__, __LINE__, #cond);  \
        }                                                               \
    } while (0)

#ifdef NDEBUG
#define GANNET_DCHECK(cond) \
    do {                    \
    } while (0)
#else
#define GANNET_DCHECK(cond) GANNET_CHECK(cond)
#endif
