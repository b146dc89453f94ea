// ThreadPool: a fixed set of workers for fork-join loops in the kernels. The calling thread takes
// part, so ThreadPool(1) runs everything inline. run() is not reentrant and must be called from one
// thread at a time (the engine loop owns the pool). Workers spin briefly before sleeping because a
// decode step issues hundreds of short parallel loops, each far shorter than a futex wake-up.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gannet {

class ThreadPool {
public:
    // Throws std::system_error (from std::thread) when the OS refuses a thread; the threads already
    // started are stopped first. The binaries turn it into one "internal error" line (main.cc).
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int n_threads() const { return n_threads_; }

    // Calls fn(thread_index) once on each of n_threads() threads and waits for all.
    void run(const std::function<void(int)>& fn);

    // Splits [0, n) into contiguous chunks of at least `grain` items, one chunk per thread,
    // and calls fn(begin, end) for each. Chunk boundaries depend only on n, grain and n_threads,
    // so results are reproducible run to run.
    void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

private:
    void worker_loop(int index);
    void stop_workers();  // wakes every worker with stop_ set and joins it

    int n_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int)>* job_ = nullptr;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> n_pending_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
};

// Hardware threads available to this process (at least 1).
int default_thread_count();

}  // namespace gannet
