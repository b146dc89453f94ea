#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace gannet::detail {

void check_failed(const char* file, int line, const char* expr) {
    std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
    std::fflush(stderr);
    std::abort();
}

}  // namespace gannet::detail
