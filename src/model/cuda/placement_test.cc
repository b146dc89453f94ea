// Weight placement (#6) end to end on the GPU: the same prompt gives bit-identical logits (every
// prompt row, then greedy decode steps) under device, mapped (all mapped, part mapped) and stream
// (every layer streamed, some resident, two streamed layers held in the buffers) placements, for
// quantized, f16/bf16/f32, tied-embedding and odd-layer-count models; bad budgets fail clearly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "model/cuda/cuda_model.h"
#include "model/test_models.h"
#include "runner/cuda/cuda_runner.h"

namespace gannet::model::cuda {
namespace {

using memory::Placement;

struct Run {
    std::vector<float> prompt_logits;  // all rows
    std::vector<std::vector<float>> decode_logits;
    std::vector<int32_t> tokens;  // greedy
};

int32_t argmax(std::span<const float> v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

constexpr int32_t kBlockSize = 16;

// The prompt through the CUDA runner (every row's logits), then greedy decode steps as the
// scheduler sends them (one token, CUDA graph where the placement allows).
Result<Run> run(const Model& cpu, const CudaModelOptions& o, int64_t n_prompt, int64_t n_decode) {
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<CudaModel> m, CudaModel::create(cpu, o));
    std::printf("  %s\n", m->placement().describe().c_str());
    const auto n_blocks = static_cast<int32_t>((n_prompt + n_decode + kBlockSize - 1) / kBlockSize);
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::CudaRunner> r,
                            runner::CudaRunner::create(*m, {.n_blocks = n_blocks, .block_size = kBlockSize}));
    std::vector<kvcache::BlockId> table(static_cast<size_t>(n_blocks));
    for (int32_t b = 0; b < n_blocks; ++b) {
        table[static_cast<size_t>(b)] = b;
    }
    const int64_t n_vocab = cpu.config().n_vocab;
    std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
    for (int64_t i = 0; i < n_prompt; ++i) {
        tokens[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919 + 13) % n_vocab);
    }
    Run out;
    GANNET_ASSIGN_OR_RETURN(std::span<const float> all, r->run_sequence(tokens, 0, LogitsMode::kAll));
    out.prompt_logits.assign(all.begin(), all.end());
    int32_t next = argmax(all.last(static_cast<size_t>(n_vocab)));
    // Twice over the same positions: the second pass finds the buffers holding the last layers.
    for (int pass = 0; pass < 2; ++pass) {
        for (int64_t i = 0; i < n_decode; ++i) {
            const int32_t pos = static_cast<int32_t>(n_prompt + i);
            sched::SchedulerOutput step;
            step.seqs.push_back({.seq_id = 0,
                                 .tokens = std::span(&next, 1),
                                 .pos = pos,
                                 .block_table = table,
                                 .is_logits_needed = true});
            GANNET_ASSIGN_OR_RETURN(std::span<const float> l, r->run(step));
            out.decode_logits.emplace_back(l.begin(), l.end());
            out.tokens.push_back(next);
            next = argmax(l);
        }
        next = out.tokens.front();
    }
    return out;
}

void expect_identical(const Run& want, const Run& got, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(got.tokens, want.tokens);
    ASSERT_EQ(got.prompt_logits.size(), want.prompt_logits.size());
    EXPECT_TRUE(got.prompt_logits == want.prompt_logits) << "prompt logits differ";
    ASSERT_EQ(got.decode_logits.size(), want.decode_logits.size());
    for (size_t i = 0; i < want.decode_logits.size(); ++i) {
        EXPECT_TRUE(got.decode_logits[i] == want.decode_logits[i]) << "decode step " << i;
    }
}

void check_all_placements(const std::string& path) {
    SCOPED_TRACE(path);
    std::printf("placements of %s\n", path.c_str());
    auto loaded = Model::load(path);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
    const Model& cpu = **loaded;
    const int64_t n_prompt = 19;  // > kMatvecMaxTokens: the prompt goes through the gemm path
    const int64_t n_decode = 5;
    auto ref = run(cpu, {}, n_prompt, n_decode);
    if (!ref.has_value() && ref.error().code() == ErrorCode::kUnimplemented) {
        GTEST_SKIP() << ref.error().message();
    }
    ASSERT_TRUE(ref.has_value()) << ref.error().message();

    auto dev = CudaModel::create(cpu, {});
    ASSERT_TRUE(dev.has_value());
    const memory::Plan& p = (*dev)->placement();
    EXPECT_EQ(p.n_layers_resident, cpu.config().n_layers);
    uint64_t largest = 0;
    uint64_t layers = 0;
    for (uint64_t b : p.layer_bytes) {
        largest = std::max(largest, b);
        layers += b;
    }
    const int64_t total = static_cast<int64_t>(p.device_bytes);
    const int64_t two = static_cast<int64_t>(2 * largest);
    const int64_t rest = total - static_cast<int64_t>(layers);  // embedding + output

    struct Case {
        const char* name;
        Placement placement;
        int64_t budget;
        int64_t want_streamed;  // -1: don't check
        int64_t want_mapped;
    };
    const int64_t n = cpu.config().n_layers;
    const std::vector<Case> cases = {
        {"device, exact budget", Placement::kDevice, total, 0, 0},
        {"mapped, budget 0 (all mapped)", Placement::kMapped, 0, 0, n},
        {"mapped, default budget (all resident)", Placement::kMapped, -1, 0, 0},
        {"mapped, output + one layer resident", Placement::kMapped, rest + static_cast<int64_t>(largest), 0, -1},
        {"stream, minimum budget (every layer streams)", Placement::kStream, two, n, 0},
        {"stream, one layer resident", Placement::kStream, two + rest + static_cast<int64_t>(largest), -1, 0},
        {"stream, all but two layers resident", Placement::kStream,
         two + rest + static_cast<int64_t>(layers - 2 * largest), -1, 0},
        {"stream, default budget (all resident)", Placement::kStream, -1, 0, 0},
    };
    for (const Case& c : cases) {
        CudaModelOptions o{.placement = c.placement, .vram_budget_bytes = c.budget};
        {
            auto m = CudaModel::create(cpu, o);
            ASSERT_TRUE(m.has_value()) << c.name << ": " << m.error().message();
            const memory::Plan& q = (*m)->placement();
            if (c.want_streamed >= 0) {
                EXPECT_EQ(q.n_layers_streamed, c.want_streamed) << c.name << ": " << q.describe();
            }
            if (c.want_mapped >= 0) {
                EXPECT_EQ(q.n_layers_mapped, c.want_mapped) << c.name << ": " << q.describe();
            }
            if (c.budget >= 0) {
                EXPECT_LE(q.device_bytes, static_cast<uint64_t>(c.budget)) << c.name;
            }
        }
        auto got = run(cpu, o, n_prompt, n_decode);
        ASSERT_TRUE(got.has_value()) << c.name << ": " << got.error().message();
        expect_identical(*ref, *got, c.name);
    }
    // Without the graph, stream equals device with the graph too (the graph path is covered above).
    auto no_graph =
        run(cpu, {.use_graph = false, .placement = Placement::kStream, .vram_budget_bytes = two}, n_prompt, n_decode);
    ASSERT_TRUE(no_graph.has_value()) << no_graph.error().message();
    expect_identical(*ref, *no_graph, "stream without graph");
}

std::string fixture(const std::string& name) {
    return source_dir() + "/tests/fixtures/models/" + name + ".gguf";
}

TEST(CudaPlacement, IdenticalLogitsOnFixtures) {
    for (const char* name : {"llama-f32", "qwen3-bf16", "gemma3-f16", "qwen2-f16"}) {
        check_all_placements(fixture(name));
    }
}

TEST(CudaPlacement, IdenticalLogitsOnQuantizedAndTiedModels) {
    struct M {
        const char* file;
        tensor::DType dtype;
        int64_t n_layers;
        bool is_tied;
    };
    for (const M& m :
         {M{"q4_0-5l.gguf", tensor::DType::kQ4_0, 5, false}, M{"q8_0-4l.gguf", tensor::DType::kQ8_0, 4, false},
          M{"q4_0-tied-3l.gguf", tensor::DType::kQ4_0, 3, true}}) {
        TestModelOptions o;
        o.arch = "llama";
        o.dtype = m.dtype;
        o.n_layers = m.n_layers;
        o.is_tied = m.is_tied;
        o.n_embd = 128;
        o.n_ff = 320;
        o.n_heads = 4;
        o.n_kv_heads = 2;
        const std::string path = testing::TempDir() + "/gannet-placement-" + m.file;
        ASSERT_TRUE(write_test_model(o, path).ok());
        check_all_placements(path);
    }
}

TEST(CudaPlacement, BadBudgetsFailClearly) {
    auto loaded = Model::load(fixture("llama-f16"));
    ASSERT_TRUE(loaded.has_value());
    const Model& cpu = **loaded;
    auto dev = CudaModel::create(cpu, {});
    ASSERT_TRUE(dev.has_value());
    const memory::Plan& p = (*dev)->placement();
    const int64_t total = static_cast<int64_t>(p.device_bytes);
    uint64_t largest = 0;
    for (uint64_t b : p.layer_bytes) {
        largest = std::max(largest, b);
    }
    auto too_small = CudaModel::create(cpu, {.placement = Placement::kDevice, .vram_budget_bytes = total - 1});
    ASSERT_FALSE(too_small.has_value());
    EXPECT_EQ(too_small.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(too_small.error().message().find("--vram-budget"), std::string::npos) << too_small.error().message();
    auto no_buffers = CudaModel::create(
        cpu, {.placement = Placement::kStream, .vram_budget_bytes = static_cast<int64_t>(2 * largest) - 1});
    ASSERT_FALSE(no_buffers.has_value());
    EXPECT_EQ(no_buffers.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(no_buffers.error().message().find("two buffers of the largest layer"), std::string::npos)
        << no_buffers.error().message();
    auto negative = CudaModel::create(cpu, {.placement = Placement::kMapped, .vram_budget_bytes = -7});
    ASSERT_FALSE(negative.has_value());
    EXPECT_EQ(negative.error().code(), ErrorCode::kInvalidArgument);
    // More than the device has: capped at free memory, so a plain `device` placement still fits.
    auto huge = CudaModel::create(cpu, {.placement = Placement::kStream, .vram_budget_bytes = int64_t{1} << 50});
    ASSERT_TRUE(huge.has_value()) << huge.error().message();
    EXPECT_EQ((*huge)->placement().n_layers_resident, cpu.config().n_layers);
}

}  // namespace
}  // namespace gannet::model::cuda
