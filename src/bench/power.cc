#include "bench/power.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

namespace gannet::bench {
namespace {

// The few NVML entry points we use, declared with NVML's C ABI (nvml.h is not needed at build time).
using NvmlInit = int (*)();
using NvmlShutdown = int (*)();
using NvmlCount = int (*)(unsigned int*);
using NvmlHandle = int (*)(unsigned int, void**);
using NvmlPower = int (*)(void*, unsigned int*);  // milliwatts

struct Nvml {
    void* lib = nullptr;
    NvmlShutdown shutdown = nullptr;
    NvmlPower power = nullptr;
    std::vector<void*> devices;
};

// Opens NVML; on failure returns false and says why in *note.
bool open_nvml(Nvml* n, std::string* note) {
    n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (n->lib == nullptr) {
        *note += "no GPU power (libnvidia-ml.so.1 not found); ";
        return false;
    }
    auto init = reinterpret_cast<NvmlInit>(dlsym(n->lib, "nvmlInit_v2"));
    auto count = reinterpret_cast<NvmlCount>(dlsym(n->lib, "nvmlDeviceGetCount_v2"));
    auto handle = reinterpret_cast<NvmlHandle>(dlsym(n->lib, "nvmlDeviceGetHandleByIndex_v2"));
    n->power = reinterpret_cast<NvmlPower>(dlsym(n->lib, "nvmlDeviceGetPowerUsage"));
    n->shutdown = reinterpret_cast<NvmlShutdown>(dlsym(n->lib, "nvmlShutdown"));
    unsigned int n_devices = 0;
    if (init == nullptr || count == nullptr || handle == nullptr || n->power == nullptr || init() != 0
        || count(&n_devices) != 0 || n_devices == 0) {
        *note += "no GPU power (NVML present but no device answered); ";
        return false;
    }
    for (unsigned int i = 0; i < n_devices; ++i) {
        void* h = nullptr;
        if (handle(i, &h) == 0) {
            n->devices.push_back(h);
        }
    }
    return !n->devices.empty();
}

struct RaplDomain {
    std::string energy_path;
    double max_uj = 0;  // counter wraps at max_energy_range_uj
};

double read_number(const std::string& path, bool* ok) {
    std::ifstream f(path);
    double v = 0;
    *ok = static_cast<bool>(f >> v);
    return v;
}

// Top-level package domains only (intel-rapl:N, not the core/uncore subdomains intel-rapl:N:M,
// which the package already includes).
std::vector<RaplDomain> find_rapl(std::string* note) {
    std::vector<RaplDomain> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/sys/class/powercap", ec)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with("intel-rapl:") || name.find(':', 11) != std::string::npos) {
            continue;
        }
        bool ok = false;
        RaplDomain d{(e.path() / "energy_uj").string(), 0};
        read_number(d.energy_path, &ok);
        if (!ok) {
            continue;
        }
        d.max_uj = read_number((e.path() / "max_energy_range_uj").string(), &ok);
        out.push_back(d);
    }
    if (out.empty()) {
        *note += "no CPU power (RAPL energy_uj missing or not readable); ";
    }
    return out;
}

}  // namespace

double PowerReading::total_w() const {
    if (gpu_w < 0 && cpu_w < 0) {
        return -1;
    }
    return std::max(gpu_w, 0.0) + std::max(cpu_w, 0.0);
}

struct PowerMeter::Impl {
    Nvml nvml;
    bool has_nvml = false;
    std::vector<RaplDomain> rapl;
    std::string note;

    std::thread sampler;
    std::atomic<bool> is_stopping{false};
    double gpu_sum_w = 0;
    int64_t n_gpu_samples = 0;
    std::vector<double> rapl_start_uj;
    std::chrono::steady_clock::time_point t_start;

    void sample_loop() {
        while (!is_stopping.load()) {
            double sum_mw = 0;
            for (void* d : nvml.devices) {
                unsigned int mw = 0;
                if (nvml.power(d, &mw) == 0) {
                    sum_mw += mw;
                }
            }
            gpu_sum_w += sum_mw / 1000.0;
            ++n_gpu_samples;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // NVML's power reading updates ~every 100 ms
        }
    }
};

PowerMeter::PowerMeter() : impl_(std::make_unique<Impl>()) {
    impl_->has_nvml = open_nvml(&impl_->nvml, &impl_->note);
    impl_->rapl = find_rapl(&impl_->note);
}

PowerMeter::~PowerMeter() {
    stop();
    if (impl_->nvml.lib != nullptr) {
        if (impl_->has_nvml && impl_->nvml.shutdown != nullptr) {
            impl_->nvml.shutdown();
        }
        dlclose(impl_->nvml.lib);
    }
}

void PowerMeter::start() {
    stop();
    Impl& m = *impl_;
    m.gpu_sum_w = 0;
    m.n_gpu_samples = 0;
    m.rapl_start_uj.clear();
    for (const RaplDomain& d : m.rapl) {
        bool ok = false;
        m.rapl_start_uj.push_back(read_number(d.energy_path, &ok));
    }
    m.t_start = std::chrono::steady_clock::now();
    m.is_stopping.store(false);
    if (m.has_nvml) {
        m.sampler = std::thread([&m] { m.sample_loop(); });
    }
}

PowerReading PowerMeter::stop() {
    Impl& m = *impl_;
    PowerReading r;
    r.note = m.note;
    if (!r.note.empty()) {
        r.note.resize(r.note.size() - 2);  // trailing "; "
    }
    m.is_stopping.store(true);
    if (m.sampler.joinable()) {
        m.sampler.join();
    }
    if (m.has_nvml && m.n_gpu_samples > 0) {
        r.gpu_w = m.gpu_sum_w / static_cast<double>(m.n_gpu_samples);
    }
    const double dt_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.t_start).count();
    if (!m.rapl.empty() && m.rapl_start_uj.size() == m.rapl.size() && dt_s > 0) {
        double uj = 0;
        for (size_t i = 0; i < m.rapl.size(); ++i) {
            bool ok = false;
            double now = read_number(m.rapl[i].energy_path, &ok);
            double delta = now - m.rapl_start_uj[i];
            if (delta < 0 && m.rapl[i].max_uj > 0) {
                delta += m.rapl[i].max_uj;  // the counter wrapped once during the window
            }
            uj += delta;
        }
        r.cpu_w = uj / 1e6 / dt_s;
    }
    m.rapl_start_uj.clear();
    return r;
}

}  // namespace gannet::bench
