#include "engine/metrics.h"

#include <cstdio>

namespace gannet::engine {
namespace {

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return buf;
}

}  // namespace

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) {
        ++i;
    }
    ++counts_[i];
    sum_ += v;
    ++count_;
}

std::string Histogram::render(const std::string& name, const std::string& help) const {
    std::string s = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cum += counts_[i];
        s += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
    }
    cum += counts_.back();
    s += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
    s += name + "_sum " + num(sum_) + "\n";
    s += name + "_count " + std::to_string(count_) + "\n";
    return s;
}

std::string render_scalar(const std::string& name, const std::string& type, const std::string& help, double value) {
    return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + num(value) + "\n";
}

}  // namespace gannet::engine
