// Power draw during a run: GPU board power summed over devices through NVML (libnvidia-ml.so.1,
// opened with dlopen so the binary never links or needs it) and CPU package power from RAPL
// energy counters (/sys/class/powercap/intel-rapl:N/energy_uj, often root-only). A background
// thread samples every 200 ms. Owner: bench helper. Thread-safety: start/stop from one thread.
#pragma once

#include <memory>
#include <string>

namespace gannet::bench {

struct PowerReading {
    double gpu_w = -1;  // mean GPU power over the window; -1 when NVML is unavailable
    double cpu_w = -1;  // mean CPU package power; -1 when RAPL is unreadable
    std::string note;   // why a source is missing, e.g. "no NVML (libnvidia-ml.so.1 not found)"

    // gpu_w + cpu_w over the known sources; -1 when neither is known.
    double total_w() const;
};

class PowerMeter {
public:
    PowerMeter();
    PowerMeter(const PowerMeter&) = delete;
    PowerMeter& operator=(const PowerMeter&) = delete;
    ~PowerMeter();

    // Starts a sampling window (ends any running one).
    void start();
    // Ends the window and returns the means over it.
    PowerReading stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gannet::bench
