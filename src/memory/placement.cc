#include "memory/placement.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "base/status.h"

namespace gannet::memory {
namespace {

double gb(uint64_t bytes) {
    return static_cast<double>(bytes) / 1e9;
}

}  // namespace

Result<Placement> parse_placement(std::string_view text) {
    if (text == "device") {
        return Placement::kDevice;
    }
    if (text == "mapped") {
        return Placement::kMapped;
    }
    if (text == "stream") {
        return Placement::kStream;
    }
    return make_error(ErrorCode::kInvalidArgument, "--placement: '%.*s' is not device, mapped or stream",
                      static_cast<int>(text.size()), text.data());
}

const char* placement_name(Placement p) {
    switch (p) {
        case Placement::kDevice: return "device";
        case Placement::kMapped: return "mapped";
        case Placement::kStream: return "stream";
    }
    return "?";
}

const char* where_name(Where w) {
    switch (w) {
        case Where::kDevice: return "device";
        case Where::kMapped: return "mapped";
        case Where::kStreamed: return "streamed";
    }
    return "?";
}

Result<uint64_t> parse_vram_budget_gb(std::string_view text) {
    const std::string s(text);
    auto bad = [&] {
        return make_error(ErrorCode::kInvalidArgument,
                          "--vram-budget: '%s' is not a number of gigabytes in [0, 1000000] (e.g. 12 or 0.5)",
                          s.c_str());
    };
    if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        return bad();
    }
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v) || v < 0.0 || v > 1e6) {
        return bad();
    }
    return static_cast<uint64_t>(std::llround(v * 1e9));
}

Result<uint64_t> mem_available_bytes(std::string_view meminfo_text) {
    constexpr std::string_view kKey = "MemAvailable:";
    size_t at = 0;
    while (at < meminfo_text.size()) {
        const size_t eol = std::min(meminfo_text.find('\n', at), meminfo_text.size());
        const std::string_view line = meminfo_text.substr(at, eol - at);
        at = eol + 1;
        if (line.substr(0, kKey.size()) != kKey) {
            continue;
        }
        std::string_view rest = line.substr(kKey.size());
        while (!rest.empty() && rest.front() == ' ') {
            rest.remove_prefix(1);
        }
        uint64_t kb = 0;
        size_t n_digits = 0;
        while (n_digits < rest.size() && rest[n_digits] >= '0' && rest[n_digits] <= '9' && n_digits < 15) {
            kb = kb * 10 + static_cast<uint64_t>(rest[n_digits] - '0');
            ++n_digits;
        }
        if (n_digits == 0 || rest.substr(n_digits) != " kB") {
            return make_error(ErrorCode::kInvalidArgument, "meminfo: malformed line '%.*s'",
                              static_cast<int>(line.size()), line.data());
        }
        return kb * 1024;
    }
    return make_error(ErrorCode::kInvalidArgument, "meminfo: no MemAvailable line");
}

std::string Plan::describe() const {
    const int64_t n = static_cast<int64_t>(layers.size());
    const std::string budget =
        budget_bytes == UINT64_MAX ? std::string("unlimited") : str_printf("%.3f GB", gb(budget_bytes));
    std::string s = str_printf("%s: budget %s, %lld of %lld layers resident", placement_name(placement), budget.c_str(),
                               static_cast<long long>(n_layers_resident), static_cast<long long>(n));
    if (n_layers_mapped > 0) {
        s += str_printf(", %lld mapped", static_cast<long long>(n_layers_mapped));
    }
    if (n_layers_streamed > 0) {
        s += str_printf(", %lld streamed (%d buffers of %.3f GB)", static_cast<long long>(n_layers_streamed), n_slots,
                        gb(slot_bytes));
    }
    s += str_printf("; output %s, embedding %s; %.3f GB in device memory, %.3f GB/token mapped, %.3f GB/token copied",
                    where_name(head), where_name(embd), gb(device_bytes), gb(mapped_bytes),
                    gb(streamed_bytes_per_token));
    return s;
}

Result<Plan> plan_placement(const PlanInput& in) {
    if (in.layer_bytes.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "placement: a model without layers");
    }
    uint64_t total = in.embd_bytes + (in.is_head_tied ? 0 : in.head_bytes);
    uint64_t largest = 0;
    for (size_t l = 0; l < in.layer_bytes.size(); ++l) {
        if (in.layer_bytes[l] == 0) {
            return make_error(ErrorCode::kInvalidArgument, "placement: layer %zu has no weight bytes", l);
        }
        total += in.layer_bytes[l];
        largest = std::max(largest, in.layer_bytes[l]);
    }
    Plan p;
    p.placement = in.placement;
    p.budget_bytes = std::min(in.budget_bytes.value_or(in.free_bytes), in.free_bytes);
    const char* budget_what =
        in.budget_bytes.has_value() && *in.budget_bytes <= in.free_bytes ? "--vram-budget" : "free device memory";
    p.layers.assign(in.layer_bytes.size(), Where::kDevice);
    p.layer_bytes = in.layer_bytes;

    if (in.placement == Placement::kDevice || (in.placement == Placement::kStream && total <= p.budget_bytes)) {
        if (total > p.budget_bytes) {
            return make_error(ErrorCode::kResourceExhausted,
                              "placement device: the weights need %.3f GB of device memory but %s allows %.3f GB "
                              "(try --placement stream or mapped)",
                              gb(total), budget_what, gb(p.budget_bytes));
        }
        p.device_bytes = total;
        p.n_layers_resident = static_cast<int64_t>(in.layer_bytes.size());
        return p;
    }

    uint64_t left = p.budget_bytes;
    if (in.placement == Placement::kStream) {
        const uint64_t need = 2 * largest;
        if (need > left) {
            return make_error(ErrorCode::kResourceExhausted,
                              "placement stream: %s allows %.3f GB but streaming needs at least %.3f GB "
                              "(two buffers of the largest layer, %.3f GB each)",
                              budget_what, gb(p.budget_bytes), gb(need), gb(largest));
        }
        left -= need;
    }
    auto take = [&](uint64_t bytes) {
        if (bytes <= left) {
            left -= bytes;
            p.device_bytes += bytes;
            return true;
        }
        return false;
    };
    // Greedy in order of bytes read per token: output (whole matrix each token), layers, embedding.
    const Where spill = Where::kMapped;
    if (in.is_head_tied) {
        p.embd = take(in.embd_bytes) ? Where::kDevice : spill;
        p.head = p.embd;
        if (p.embd == Where::kMapped) {
            p.mapped_bytes += in.embd_bytes;
        }
    } else {
        p.head = take(in.head_bytes) ? Where::kDevice : spill;
        if (p.head == Where::kMapped) {
            p.mapped_bytes += in.head_bytes;
        }
    }
    uint64_t streamed = 0;
    uint64_t streamed_largest = 0;
    for (size_t l = 0; l < in.layer_bytes.size(); ++l) {
        const uint64_t b = in.layer_bytes[l];
        if (take(b)) {
            p.layers[l] = Where::kDevice;
            ++p.n_layers_resident;
        } else if (in.placement == Placement::kStream) {
            p.layers[l] = Where::kStreamed;
            ++p.n_layers_streamed;
            streamed += b;
            streamed_largest = std::max(streamed_largest, b);
        } else {
            p.layers[l] = Where::kMapped;
            ++p.n_layers_mapped;
            p.mapped_bytes += b;
        }
    }
    if (!in.is_head_tied) {
        // A mapped embedding table costs one row per token over the bus: not counted in mapped_bytes.
        p.embd = take(in.embd_bytes) ? Where::kDevice : spill;
    }
    if (in.placement == Placement::kStream) {
        p.n_slots = static_cast<int>(std::min<int64_t>(2, p.n_layers_streamed));
        p.slot_bytes = streamed_largest;
        p.device_bytes += static_cast<uint64_t>(p.n_slots) * p.slot_bytes;
        // One or two streamed layers fit their buffers for good: copied once, never again.
        p.streamed_bytes_per_token = p.n_layers_streamed > p.n_slots ? streamed : 0;
    }
    return p;
}

}  // namespace gannet::memory
