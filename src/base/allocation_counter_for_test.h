// Counts heap allocations for tests of "this path does not allocate" (STYLE.md: steady-state
// decode steps do not allocate). Replaces the global operator new/delete with counting ones, so
// include it in exactly ONE source file of a test executable. Thread-safety: the count is atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace gannet::test_support {

inline std::atomic<int64_t> g_allocation_count{0};

// Heap allocations (operator new calls) made by this process so far.
inline int64_t allocation_count() {
    return g_allocation_count.load(std::memory_order_relaxed);
}

}  // namespace gannet::test_support

// g++ inlines these across the replacement and then flags malloc/free as mismatched with new/delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
    gannet::test_support::g_allocation_count.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {  // NOLINT: the replaced global allocator itself
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);  // NOLINT
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);  // NOLINT
}
#pragma GCC diagnostic pop
