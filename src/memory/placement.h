// Weight placement (#6): where each weight matrix of a model lives while a GPU runs it.
//   device  every matrix in device memory (today's behaviour);
//   mapped  matrices that fit --vram-budget in device memory, the rest in pinned host memory mapped
//           into the device: kernels read them over the bus (zero-copy). On a coherent unified-memory
//           machine (integrated GPU, or host page tables shared with the GPU) the same path runs at
//           full memory speed;
//   stream  layers that fit the budget stay in device memory; the others live in pinned host memory
//           and are copied layer by layer into two device buffers (double buffering: layer i+1 is
//           copied while layer i computes), for models larger than device memory.
// Managed (cudaMallocManaged) memory is never used, so device memory is never oversubscribed.
// This file is the pure planning logic (no CUDA); src/memory/cuda/ does the device side.
// Owner: memory. Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace gannet::memory {

enum class Placement { kDevice, kMapped, kStream };

// "device" | "mapped" | "stream"; anything else is kInvalidArgument naming the choices.
Result<Placement> parse_placement(std::string_view text);
const char* placement_name(Placement p);

// --vram-budget GB (decimal gigabytes, 1 GB = 1e9 bytes, fractions allowed) -> bytes. Rejects empty,
// non-numeric, trailing junk, negative, NaN/inf and more than 1e6 GB with kInvalidArgument.
Result<uint64_t> parse_vram_budget_gb(std::string_view text);

// MemAvailable of a /proc/meminfo text, in bytes (the free memory of a unified-memory device).
// kInvalidArgument when the line is missing or malformed.
Result<uint64_t> mem_available_bytes(std::string_view meminfo_text);

// Where one weight matrix (or one layer's block of matrices) lives.
enum class Where {
    kDevice,    // device memory, resident
    kMapped,    // pinned host memory mapped into the device, read in place by kernels
    kStreamed,  // pinned host memory, copied into a device stream buffer before each use
};
const char* where_name(Where w);

struct PlanInput {
    Placement placement = Placement::kDevice;
    std::vector<uint64_t> layer_bytes;     // matrix bytes of each layer (its block, alignment included)
    uint64_t embd_bytes = 0;               // token embedding table
    uint64_t head_bytes = 0;               // output matrix; ignored when is_head_tied
    bool is_head_tied = false;             // the output matrix is the embedding table
    std::optional<uint64_t> budget_bytes;  // --vram-budget; nullopt: all of free_bytes
    uint64_t free_bytes = 0;               // device memory available for weights (after cache, headroom)
};

struct Plan {
    Placement placement = Placement::kDevice;
    uint64_t budget_bytes = 0;  // the budget used: min(--vram-budget, free_bytes)
    Where embd = Where::kDevice;
    Where head = Where::kDevice;  // == embd when the head is tied
    std::vector<Where> layers;
    std::vector<uint64_t> layer_bytes;      // the input's, for callers that size budgets from them
    int n_slots = 0;                        // stream buffers (0 when nothing streams)
    uint64_t slot_bytes = 0;                // each, = the largest streamed layer block
    uint64_t device_bytes = 0;              // resident weights + stream buffers
    uint64_t mapped_bytes = 0;              // read over the bus every token (mapped matrices)
    uint64_t streamed_bytes_per_token = 0;  // copied host-to-device every token (0 when the streamed
                                            // layers fit the stream buffers and stay there)
    int64_t n_layers_resident = 0;
    int64_t n_layers_mapped = 0;
    int64_t n_layers_streamed = 0;

    // One line: "stream: budget 0.30 GB, 1 of 8 layers resident, 7 streamed (2 buffers of 0.12 GB) ...".
    std::string describe() const;
};

// Decides where every matrix goes. Greedy in order of use per token: the output matrix (read whole
// every token), then layers 0, 1, ..., then the embedding table (only one row is read per token).
// device: everything in device memory; kResourceExhausted naming the sizes when it exceeds the budget.
// mapped: what fits the budget in device memory, the rest mapped.
// stream: everything in device memory when it all fits; else two buffers of the largest layer are
// reserved first (kResourceExhausted when the budget cannot hold them), the layers that still fit stay
// resident, the rest stream; the output and embedding matrices that do not fit are mapped.
// kInvalidArgument for an empty layer list or a zero-sized layer.
Result<Plan> plan_placement(const PlanInput& in);

}  // namespace gannet::memory
