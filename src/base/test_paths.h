// Where tests find shared data: ../shared beside the checkout (CI lays it there), or the folder
// named by the GANNET_SHARED_DIR environment variable. Test-only helper.
#pragma once

#include <cstdlib>
#include <string>

namespace gannet {

inline std::string shared_data_dir() {
    if (const char* env = std::getenv("GANNET_SHARED_DIR")) {
        return env;
    }
#ifdef GANNET_SHARED_DIR
    return GANNET_SHARED_DIR;
#else
    return "../shared";
#endif
}

inline std::string source_dir() {
#ifdef GANNET_SOURCE_DIR
    return GANNET_SOURCE_DIR;
#else
    return ".";
#endif
}

}  // namespace gannet
