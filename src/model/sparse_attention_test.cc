// Block-sparse attention (issue 17) through the one CPU forward:
//  - MSA against transformers' minimax_m3_vl: the tiny model of tests/fixtures/msa (made by
//    training/msa_reference.py) over 3,000 tokens, where top-4 of 24 blocks matter: logits at the
//    fixture's positions within float tolerance, and the selected block ids of both sparse layers
//    equal to the reference's (a query whose k-th and (k+1)-th block scores lie within 1e-4 is
//    reported, not failed: float32 may order such a near tie either way);
//  - sparse == dense bit for bit while every block is selected (msa on <= 2,048 tokens, quest on a
//    llama fixture), and sparse != dense once blocks are dropped;
//  - the mode checks (msa without an index branch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "gguf/gguf_fields_for_test.h"
#include "gguf/gguf_file.h"
#include "json/json.h"
#include "model/block_select.h"
#include "model/model.h"
#include "runner/runner.h"

namespace gannet::model {
namespace {

std::string msa_dir() {
    return source_dir() + "/tests/fixtures/msa";
}

std::unique_ptr<runner::Runner> make_runner(Model& m, size_t n_tokens) {
    const int32_t n_blocks = static_cast<int32_t>((n_tokens + 15) / 16);
    return runner::Runner::create(m, {.n_blocks = n_blocks, .block_size = 16, .n_threads = 2}).value();
}

std::vector<float> run_all(Model& m, const std::vector<int32_t>& tokens) {
    auto r = make_runner(m, tokens.size());
    std::span<const float> got = r->run_sequence(tokens, 0, LogitsMode::kAll).value();
    return std::vector<float>(got.begin(), got.end());
}

struct Reference {
    std::vector<int32_t> tokens;
    std::vector<int64_t> logit_positions;
    std::vector<int64_t> query_positions;
    std::vector<float> logits;
    nlohmann::json blocks;
};

Reference load_reference() {
    Reference ref;
    const nlohmann::json tok = json::parse_file(msa_dir() + "/tokens.json").value();
    ref.tokens = tok.at("tokens").get<std::vector<int32_t>>();
    ref.logit_positions = tok.at("logit_positions").get<std::vector<int64_t>>();
    ref.query_positions = tok.at("query_positions").get<std::vector<int64_t>>();
    const std::string bytes = read_file(msa_dir() + "/logits.f32").value();
    ref.logits.resize(bytes.size() / sizeof(float));
    std::memcpy(ref.logits.data(), bytes.data(), bytes.size());
    ref.blocks = json::parse_file(msa_dir() + "/blocks.json").value();
    return ref;
}

TEST(MsaReference, LogitsAndBlockIdsMatchTransformers) {
    const std::string gguf = msa_dir() + "/minimax-m3-tiny-f32.gguf";
    ASSERT_TRUE(std::filesystem::exists(gguf)) << "fixture missing: " << gguf;
    const Reference ref = load_reference();
    std::unique_ptr<Model> m = Model::load(gguf).value();
    const ModelConfig& c = m->config();
    ASSERT_TRUE(c.sparse.has_index);
    EXPECT_EQ(m->sparse_mode(), SparseMode::kMsa);  // a model with an index branch runs it by default
    const int64_t n_vocab = c.n_vocab;
    ASSERT_EQ(ref.logits.size(), ref.logit_positions.size() * n_vocab);

    // layer -> position -> the sorted ids of kv group 0 (and every group must agree: shared selection)
    std::map<int64_t, std::map<int64_t, std::vector<int32_t>>> got_ids;
    m->set_selection_hook([&](const SelectionView& v) {
        for (int64_t t = 0; t < v.n_tokens; ++t) {
            std::vector<int32_t> first;
            for (int64_t g = 0; g < v.n_kv_heads; ++g) {
                const int32_t* row = v.ids + (t * v.n_kv_heads + g) * v.stride;
                std::vector<int32_t> ids;
                for (int64_t i = 0; i < v.stride && row[i] != -1; ++i) {
                    ids.push_back(row[i]);
                }
                if (!ids.empty()) {
                    EXPECT_EQ(ids.back(), v.positions[t] / c.sparse.block_size) << "own block not last";
                }
                std::sort(ids.begin(), ids.end());
                if (g == 0) {
                    first = ids;
                } else {
                    EXPECT_EQ(ids, first) << "groups disagree under shared selection";
                }
            }
            got_ids[v.layer][v.positions[t]] = first;
        }
    });
    const std::vector<float> all = run_all(*m, ref.tokens);
    double worst = 0.0;
    for (size_t i = 0; i < ref.logit_positions.size(); ++i) {
        const int64_t p = ref.logit_positions[i];
        double max_diff = 0.0, max_ref = 0.0;
        for (int64_t v = 0; v < n_vocab; ++v) {
            const double r = ref.logits[i * n_vocab + v];
            max_diff = std::max(max_diff, std::abs(all[p * n_vocab + v] - r));
            max_ref = std::max(max_ref, std::abs(r));
        }
        worst = std::max(worst, max_diff / max_ref);
        EXPECT_LE(max_diff / max_ref, 1e-4) << "position " << p;
    }
    int n_compared = 0;
    int n_near_ties = 0;
    for (const auto& [layer_name, lists] : ref.blocks.at("layers").items()) {
        const int64_t layer = std::stoll(layer_name);
        ASSERT_TRUE(c.sparse.is_sparse_layer(layer));
        ASSERT_EQ(lists.size(), ref.query_positions.size());
        const nlohmann::json& margins = ref.blocks.at("margins").at(layer_name);
        for (size_t q = 0; q < lists.size(); ++q) {
            const int64_t pos = ref.query_positions[q];
            const std::vector<int32_t> want = lists[q].get<std::vector<int32_t>>();
            const std::vector<int32_t>& have = got_ids[layer][pos];
            if (have != want && !margins[q].is_null() && margins[q].get<double>() < 1e-4) {
                ++n_near_ties;
                continue;
            }
            EXPECT_EQ(have, want) << "layer " << layer << " position " << pos;
            ++n_compared;
        }
    }
    EXPECT_GT(n_compared, 200);
    EXPECT_EQ(n_near_ties, 0);
    std::printf("msa: worst rel err %.2e at %zu positions; %d block lists equal\n", worst, ref.logit_positions.size(),
                n_compared);
    // Selection matters here: the last query keeps top-4 + own of 24 visible blocks.
    EXPECT_LE(got_ids[c.n_layers - 1][static_cast<int64_t>(ref.tokens.size()) - 1].size(), 5u);
}

TEST(MsaReference, SparseEqualsDenseBitForBitWhileEveryBlockIsSelected) {
    // 2,048 tokens with top-16 of 128 would select everything; the fixture keeps top-4, so 4 blocks
    // (512 tokens) are the length up to which msa must equal dense exactly.
    std::unique_ptr<Model> m = Model::load(msa_dir() + "/minimax-m3-tiny-f32.gguf").value();
    const Reference ref = load_reference();
    const std::vector<int32_t> tokens(ref.tokens.begin(), ref.tokens.begin() + 512);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kMsa).ok());
    const std::vector<float> sparse = run_all(*m, tokens);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kOff).ok());
    const std::vector<float> dense = run_all(*m, tokens);
    ASSERT_EQ(sparse.size(), dense.size());
    EXPECT_EQ(std::memcmp(sparse.data(), dense.data(), sparse.size() * sizeof(float)), 0);

    // Longer, blocks are dropped: the answers must differ (or the selection is not applied).
    const std::vector<float> long_dense = run_all(*m, ref.tokens);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kDefault).ok());
    const std::vector<float> long_sparse = run_all(*m, ref.tokens);
    double diff = 0.0;
    for (size_t i = 0; i < long_dense.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::abs(long_dense[i] - long_sparse[i])));
    }
    EXPECT_GT(diff, 1e-3);
}

TEST(QuestSelection, EqualsDenseBitForBitUpTo2048TokensAndDiffersBeyond) {
    std::unique_ptr<Model> m = Model::load(source_dir() + "/tests/fixtures/models/llama-f32.gguf").value();
    ASSERT_EQ(m->sparse_mode(), SparseMode::kOff);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 2600; ++i) {
        tokens.push_back(static_cast<int32_t>((i * 7919 + 13) % m->config().n_vocab));
    }
    // The llama fixture's context is short; positions past it still run (rope has no limit).
    const std::vector<int32_t> short_tokens(tokens.begin(), tokens.begin() + 2048);
    const std::vector<float> dense = run_all(*m, short_tokens);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kQuest).ok());
    const std::vector<float> sparse = run_all(*m, short_tokens);
    EXPECT_EQ(std::memcmp(sparse.data(), dense.data(), sparse.size() * sizeof(float)), 0);
    const std::vector<float> long_sparse = run_all(*m, tokens);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kOff).ok());
    const std::vector<float> long_dense = run_all(*m, tokens);
    const size_t n_vocab = static_cast<size_t>(m->config().n_vocab);
    // Rows before 2,048 are identical; the last row (24 visible blocks, 16 kept) is not.
    EXPECT_EQ(std::memcmp(long_sparse.data(), long_dense.data(), 2048 * n_vocab * sizeof(float)), 0);
    double diff = 0.0;
    for (size_t i = long_dense.size() - n_vocab; i < long_dense.size(); ++i) {
        diff = std::max(diff, static_cast<double>(std::abs(long_dense[i] - long_sparse[i])));
    }
    EXPECT_GT(diff, 0.0);
}

TEST(QuestSelection, RecallProbeMeasuresTheKeptAttentionMass) {
    std::unique_ptr<Model> m = Model::load(source_dir() + "/tests/fixtures/models/llama-f32.gguf").value();
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kQuest).ok());
    ASSERT_TRUE(m->set_quest_params(16, 2).ok());  // 2 of up to 13 blocks of 16 tokens
    std::vector<int32_t> tokens;
    for (int i = 0; i < 200; ++i) {
        tokens.push_back(static_cast<int32_t>((i * 31 + 7) % m->config().n_vocab));
    }
    RecallStats stats;
    m->set_recall_probe(&stats);
    run_all(*m, tokens);
    int64_t pairs = 0;
    double sum = 0.0;
    for (size_t l = 0; l < stats.count.size(); ++l) {
        pairs += stats.count[l];
        sum += stats.sum[l];
    }
    // Tokens past the first two blocks drop blocks: (200 - 32) tokens x 4 heads x 2 layers.
    EXPECT_EQ(pairs, 168 * 4 * 2);
    EXPECT_GT(sum / static_cast<double>(pairs), 0.0);
    EXPECT_LT(sum / static_cast<double>(pairs), 1.0);  // something was dropped
    EXPECT_GE(stats.min, 0.0);
    EXPECT_FALSE(m->set_quest_params(16, 1).ok());
}

// The fixture with one integer field set to v, loaded: the error message.
std::string load_with(const std::string& field, uint64_t v) {
    const std::string text = read_file(msa_dir() + "/minimax-m3-tiny-f32.gguf").value();
    std::vector<uint8_t> bytes(text.begin(), text.end());
    const std::vector<gguf::testing::Field> fields = gguf::testing::FieldScanner(bytes).scan().value();
    bool is_found = false;
    for (const gguf::testing::Field& f : fields) {
        if (f.name == field) {
            gguf::testing::overwrite(bytes, f, v);
            is_found = true;
        }
    }
    EXPECT_TRUE(is_found) << field;
    gguf::File file = gguf::File::from_bytes(std::move(bytes), "mutant.gguf").value();
    Result<std::unique_ptr<Model>> m = Model::from_file(std::move(file));
    return m.has_value() ? std::string() : m.error().message();
}

TEST(MsaReference, TopSixteenOf128TokenBlocksIsDenseUpTo2048Tokens) {
    // The deployed k: the fixture with topk_blocks 16 selects every block of a 2,048-token
    // sequence, so msa must give the dense logits bit for bit, and differ at 2,100.
    const std::string text = read_file(msa_dir() + "/minimax-m3-tiny-f32.gguf").value();
    std::vector<uint8_t> bytes(text.begin(), text.end());
    const std::vector<gguf::testing::Field> fields = gguf::testing::FieldScanner(bytes).scan().value();
    for (const gguf::testing::Field& f : fields) {
        if (f.name == "minimax-m3.sparse.topk_blocks") {
            gguf::testing::overwrite(bytes, f, 16);
        }
    }
    std::unique_ptr<Model> m = Model::from_file(gguf::File::from_bytes(std::move(bytes), "top16.gguf").value()).value();
    ASSERT_EQ(m->config().sparse.topk, 16);
    const Reference ref = load_reference();
    const std::vector<int32_t> tokens(ref.tokens.begin(), ref.tokens.begin() + 2100);
    const std::vector<float> sparse = run_all(*m, tokens);
    ASSERT_TRUE(m->set_sparse_mode(SparseMode::kOff).ok());
    const std::vector<float> dense = run_all(*m, tokens);
    const size_t n_vocab = static_cast<size_t>(m->config().n_vocab);
    EXPECT_EQ(std::memcmp(sparse.data(), dense.data(), 2048 * n_vocab * sizeof(float)), 0);
    EXPECT_NE(std::memcmp(sparse.data() + 2048 * n_vocab, dense.data() + 2048 * n_vocab, 52 * n_vocab * sizeof(float)),
              0);
}

TEST(MsaMetadata, InconsistentSparseMetadataIsRefusedNamingTheKeyOrTensor) {
    EXPECT_NE(load_with("minimax-m3.sparse.topk_blocks", 0).find("minimax-m3.sparse.topk_blocks is 0"),
              std::string::npos);
    EXPECT_NE(load_with("minimax-m3.sparse.block_size", 0).find("minimax-m3.sparse.block_size is 0"),
              std::string::npos);
    // An index head size the index tensors do not have: the tensor is named with both shapes.
    EXPECT_NE(load_with("minimax-m3.sparse.index_key_length", 64).find("'blk.1.index_q.weight' has shape"),
              std::string::npos);
    EXPECT_NE(load_with("minimax-m3.sparse.index_head_count", 3).find("blk.1.index_q.weight"), std::string::npos);
    // A layer flag that is neither dense nor sparse.
    EXPECT_NE(load_with("minimax-m3.sparse.layers[]", 7).find("minimax-m3.sparse.layers has entry 7"),
              std::string::npos);
    EXPECT_EQ(load_with("minimax-m3.sparse.topk_blocks", 4), "");  // the control: unchanged value loads
}

TEST(SparseMode, MsaWithoutIndexBranchIsAClearErrorSuggestingQuest) {
    std::unique_ptr<Model> m = Model::load(source_dir() + "/tests/fixtures/models/qwen3-f32.gguf").value();
    const Status s = m->set_sparse_mode(SparseMode::kMsa);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("use quest"), std::string::npos) << s.message();
    EXPECT_EQ(m->sparse_mode(), SparseMode::kOff);
    // Per sequence as well: a batch entry asking for msa is refused, not run dense.
    std::vector<int32_t> tokens = {1, 2, 3};
    auto r = make_runner(*m, tokens.size());
    std::vector<kvcache::BlockId> table = {0};
    const BatchSeq seq{
        .tokens = tokens, .pos = 0, .block_table = table, .is_logits_needed = true, .sparse = SparseMode::kMsa};
    auto kv = kvcache::KvStorage::create(runner::paged_layout(*m, {.n_blocks = 1, .block_size = 16}).value()).value();
    ThreadPool pool(1);
    auto out = m->forward_batch(std::span<const BatchSeq>(&seq, 1), kv, pool);
    ASSERT_FALSE(out.has_value());
    EXPECT_NE(out.error().message().find("use quest"), std::string::npos);
}

}  // namespace
}  // namespace gannet::model
