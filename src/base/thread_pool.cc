#include "base/thread_pool.h"

#include <sched.h>

#include <algorithm>

namespace gannet {
namespace {
// ~50 µs of spinning before sleeping: longer than the gap between two kernels of a decode step.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    try {
        for (int i = 1; i < n_threads_; ++i) {
            workers_.emplace_back([this, i] { worker_loop(i); });
        }
    } catch (...) {
        // std::thread throws std::system_error when the OS refuses a thread (rlimits, memory). The
        // destructor does not run for a half-built pool, so stop the started workers here: a
        // joinable std::thread or a destroyed condition variable with waiters would abort or hang.
        stop_workers();
        throw;
    }
}

ThreadPool::~ThreadPool() {
    stop_workers();
}

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : workers_) {
        t.join();
    }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
    if (n_threads_ == 1) {
        fn(0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        n_pending_.store(n_threads_ - 1);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0);
    while (n_pending_.load(std::memory_order_acquire) != 0) {
        // The caller spins: the workers finish within the same loop's time scale.
    }
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    while (true) {
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
            ++spins;
        }
        if (generation_.load(std::memory_order_acquire) == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load() != seen; });
        }
        seen = generation_.load(std::memory_order_acquire);
        if (stop_.load()) {
            return;
        }
        (*job_)(index);
        n_pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) {
        return;
    }
    grain = std::max<int64_t>(1, grain);
    const int64_t max_chunks = (n + grain - 1) / grain;
    const int n_chunks = static_cast<int>(std::min<int64_t>(n_threads_, max_chunks));
    if (n_chunks <= 1) {
        fn(0, n);
        return;
    }
    // One pointer capture fits std::function's inline storage, so this call does not allocate
    // (decode steps run hundreds of these).
    struct Split {
        int64_t n;
        int n_chunks;
        const std::function<void(int64_t, int64_t)>* fn;
    } split{n, n_chunks, &fn};
    const Split* s = &split;
    run([s](int t) {
        if (t >= s->n_chunks) {
            return;
        }
        (*s->fn)(s->n * t / s->n_chunks, s->n * (t + 1) / s->n_chunks);
    });
}

int default_thread_count() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        return std::max(1, CPU_COUNT(&set));
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace gannet
