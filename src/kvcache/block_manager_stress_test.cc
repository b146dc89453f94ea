// Randomized, seeded stress of BlockManager against a simulated KV memory: every slot stores a hash
// of the token prefix that produced it, so reading a sequence's computed positions back through its
// block table checks prefix hits, copy-on-write, eviction and reuse end to end, besides the
// refcount invariants that verify() checks after every step.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "kvcache/block_manager.h"

namespace gannet::kvcache {
namespace {

struct SimSeq {
    BlockTable table;
    std::vector<TokenId> tokens;
    int32_t n_computed = 0;
};

uint64_t prefix_hash(std::span<const TokenId> tokens) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a: independent of the hash under test
    for (TokenId t : tokens) {
        h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ULL;
    }
    return h;
}

class Sim {
public:
    Sim(int32_t n_blocks, int32_t block_size, uint32_t seed)
        : m_(BlockManager::create({.n_blocks = n_blocks, .block_size = block_size}).value()),
          kv_(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size), 0),
          rng_(seed) {
        // A few shared "system prompts" so that starts hit the cache.
        for (int i = 0; i < 4; ++i) {
            std::vector<TokenId> p(static_cast<size_t>(block_size * (1 + i)));
            for (auto& t : p) {
                t = static_cast<TokenId>(rng_() % 50);
            }
            prompts_.push_back(std::move(p));
        }
    }

    int32_t rand(int32_t n) { return static_cast<int32_t>(rng_() % static_cast<uint32_t>(n)); }

    uint64_t& slot(const SimSeq& s, int32_t pos) {
        const size_t bs = static_cast<size_t>(m_.block_size());
        return kv_[static_cast<size_t>(s.table.block_for_pos(pos)) * bs
                   + static_cast<size_t>(s.table.slot_for_pos(pos))];
    }

    void check_computed(SimSeq& s) {
        for (int32_t p = 0; p < s.n_computed; ++p) {
            ASSERT_EQ(slot(s, p), prefix_hash(std::span(s.tokens).first(static_cast<size_t>(p) + 1))) << "pos " << p;
        }
    }

    void op_start() {
        auto s = std::make_unique<SimSeq>(SimSeq{BlockTable(m_.block_size()), {}, 0});
        const std::vector<TokenId>& p = prompts_[static_cast<size_t>(rand(4))];
        s->tokens.assign(p.begin(), p.begin() + rand(static_cast<int32_t>(p.size()) + 1));
        const int32_t n_tail = rand(3) == 0 ? 0 : 1 + rand(10);
        for (int32_t i = 0; i < n_tail; ++i) {
            s->tokens.push_back(rand(50));
        }
        if (s->tokens.empty()) {
            s->tokens.push_back(rand(50));
        }
        const int32_t n_available = m_.n_available();
        Result<int32_t> r = m_.start(s->table, s->tokens, rand(3), copies_);
        if (!r.has_value()) {
            ASSERT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
            ASSERT_EQ(m_.n_available(), n_available);
            return;
        }
        ASSERT_LT(*r, static_cast<int32_t>(s->tokens.size()));
        s->n_computed = *r;
        n_hit_tokens_ += *r;
        seqs_.push_back(std::move(s));
    }

    SimSeq* pick_computed() {
        if (seqs_.empty()) {
            return nullptr;
        }
        SimSeq* s = seqs_[static_cast<size_t>(rand(static_cast<int32_t>(seqs_.size())))].get();
        return s->n_computed == static_cast<int32_t>(s->tokens.size()) ? s : nullptr;
    }

    void op_decode() {
        SimSeq* s = pick_computed();
        if (s == nullptr) {
            return;
        }
        if (!m_.append_slots(s->table, 1, copies_).ok()) {
            free_seq(static_cast<size_t>(rand(static_cast<int32_t>(seqs_.size()))));  // "preempt" someone
            return;
        }
        s->tokens.push_back(rand(50));
    }

    void op_fork() {
        SimSeq* s = pick_computed();
        if (s == nullptr) {
            return;
        }
        auto c = std::make_unique<SimSeq>(SimSeq{m_.fork(s->table), s->tokens, s->n_computed});
        seqs_.push_back(std::move(c));
    }

    void free_seq(size_t i) {
        m_.free(seqs_[i]->table);
        seqs_.erase(seqs_.begin() + static_cast<ptrdiff_t>(i));
    }

    // The runner's part of a step: copies, then the forward writes each scheduled chunk.
    void run_step() {
        const size_t bs = static_cast<size_t>(m_.block_size());
        for (const BlockCopy& c : copies_) {
            std::copy_n(kv_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(c.src) * bs), bs,
                        kv_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(c.dst) * bs));
        }
        n_copies_ += static_cast<int64_t>(copies_.size());
        copies_.clear();
        m_.finish_step();
        for (auto& s : seqs_) {
            check_computed(*s);
            const int32_t end = std::min(s->table.n_tokens(), s->n_computed + 1 + rand(12));
            for (int32_t p = s->n_computed; p < end; ++p) {
                ASSERT_EQ(m_.refcount(s->table.block_for_pos(p)), 1) << "write into a shared block";
                slot(*s, p) = prefix_hash(std::span(s->tokens).first(static_cast<size_t>(p) + 1));
            }
            s->n_computed = std::max(s->n_computed, end);
            m_.commit(s->table, s->tokens, s->n_computed);
        }
    }

    Status verify() const {
        std::vector<const BlockTable*> tables;
        for (const auto& s : seqs_) {
            tables.push_back(&s->table);
        }
        return m_.verify(tables);
    }

    BlockManager m_;
    std::vector<uint64_t> kv_;  // [n_blocks, block_size]: the prefix hash each slot was computed from
    std::mt19937 rng_;
    std::vector<std::vector<TokenId>> prompts_;
    std::vector<std::unique_ptr<SimSeq>> seqs_;
    std::vector<BlockCopy> copies_;
    int64_t n_hit_tokens_ = 0;
    int64_t n_copies_ = 0;
};

TEST(BlockManagerStressTest, RandomOpsKeepInvariantsAndKvContents) {
    for (uint32_t seed : {1u, 2u, 3u}) {
        Sim sim(/*n_blocks=*/48, /*block_size=*/4, seed);
        for (int step = 0; step < 3000; ++step) {
            const int n_ops = sim.rand(4);
            for (int i = 0; i < n_ops; ++i) {
                const int32_t op = sim.rand(10);
                if (op < 3 && sim.seqs_.size() < 14) {
                    sim.op_start();
                } else if (op < 7) {
                    sim.op_decode();
                } else if (op < 8) {
                    sim.op_fork();
                } else if (!sim.seqs_.empty()) {
                    sim.free_seq(static_cast<size_t>(sim.rand(static_cast<int32_t>(sim.seqs_.size()))));
                }
                ASSERT_FALSE(::testing::Test::HasFatalFailure());
            }
            sim.run_step();
            ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed << " step " << step;
            Status st = sim.verify();
            ASSERT_TRUE(st.ok()) << "seed " << seed << " step " << step << ": " << st.to_string();
        }
        while (!sim.seqs_.empty()) {
            sim.free_seq(0);
        }
        ASSERT_TRUE(sim.verify().ok());
        EXPECT_EQ(sim.m_.n_active(), 0);  // nothing leaked: every used block is a cached, evictable one
        // The run must have exercised what it claims to test.
        EXPECT_GT(sim.n_hit_tokens_, 1000) << "seed " << seed;
        EXPECT_GT(sim.n_copies_, 10) << "seed " << seed;
        EXPECT_GT(sim.m_.n_evictions(), 10) << "seed " << seed;
    }
}

}  // namespace
}  // namespace gannet::kvcache
