// Prometheus text exposition for the engine: counters and fixed-bucket histograms. Thread-safe
// (one mutex; observations are a few per token, far below contention).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace gannet::engine {

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
    void observe(double v);
    // "# TYPE name histogram" block with cumulative _bucket{le=...}, _sum and _count lines.
    std::string render(const std::string& name, const std::string& help) const;
    uint64_t count() const { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, non-cumulative; last is +Inf
    double sum_ = 0.0;
    uint64_t count_ = 0;
};

// One line pair: "# HELP", "# TYPE", then "name value".
std::string render_scalar(const std::string& name, const std::string& type, const std::string& help, double value);

}  // namespace gannet::engine
