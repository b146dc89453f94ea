// Randomized, seeded scheduler runs over thousands of steps with arrivals, cancellations, deadlines
// and a tight cache. A simulated KV memory stores in every slot a hash of the token prefix that
// produced it, so each step checks that what the scheduler says is computed really is, through the
// block table it hands out; block invariants are verified after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "sched/scheduler.h"
#include "sched/scheduler_test_util.h"

namespace gannet::sched {
namespace {

uint64_t prefix_hash(std::span<const TokenId> tokens) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (TokenId t : tokens) {
        h = (h ^ static_cast<uint32_t>(t)) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

struct Expected {
    std::vector<TokenId> tokens;  // the whole sequence when run alone
    int64_t deadline_ms;
};

// One request arrives every arrival_one_in steps on average, for the first 3,500 steps.
void run_stress(uint32_t seed, int32_t n_blocks, int32_t block_size, int32_t max_batch_tokens, int32_t arrival_one_in) {
    SchedulerConfig config;
    config.max_batch_tokens = max_batch_tokens;
    config.max_running_seqs = 24;
    config.n_blocks_watermark = 1;
    config.blocks = {.n_blocks = n_blocks, .block_size = block_size};
    Scheduler s = Scheduler::create(config).value();
    std::mt19937 rng(seed);
    auto rand = [&](int32_t n) {
        return static_cast<int32_t>(rng() % static_cast<uint32_t>(n));
    };

    std::vector<uint64_t> kv(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size), 0);
    std::vector<std::vector<TokenId>> system_prompts;
    for (int i = 0; i < 3; ++i) {
        std::vector<TokenId> p(static_cast<size_t>(block_size * (2 + i)));
        for (auto& t : p) {
            t = rand(1000);
        }
        system_prompts.push_back(std::move(p));
    }
    std::map<SeqId, Expected> expected;
    std::map<SeqId, std::vector<TokenId>> finished;
    std::set<SeqId> aborted;
    int64_t now_ms = 0;
    int64_t n_cancel_requests = 0;

    for (int step = 0; step < 4000; ++step) {
        now_ms += 10;
        // Arrivals: agent-like prompts sharing a system prompt, some with deadlines.
        if (step < 3500 && rand(arrival_one_in) == 0) {
            std::vector<TokenId> prompt = system_prompts[static_cast<size_t>(rand(3))];
            const int32_t n_full_blocks = static_cast<int32_t>(prompt.size()) / block_size;
            if (rand(4) == 0) {
                // Whole cached blocks only, as when an agent resends a prompt: exercises copy-on-write.
                prompt.resize(static_cast<size_t>(block_size * (1 + rand(n_full_blocks))));
            } else {
                prompt.resize(static_cast<size_t>(rand(static_cast<int32_t>(prompt.size())) + 1));
                for (int32_t i = rand(12); i >= 0; --i) {
                    prompt.push_back(rand(1000));
                }
            }
            const int32_t n_new = 1 + rand(24);
            const int64_t deadline = rand(8) == 0 ? now_ms + rand(2000) : kNoDeadline;
            Result<SeqId> id = s.add_request({.prompt = prompt, .max_new_tokens = n_new, .deadline_ms = deadline});
            ASSERT_TRUE(id.has_value()) << id.error().to_string();
            expected[*id] = {testing::expected_tokens(prompt, n_new), deadline};
        }
        if (rand(25) == 0 && !expected.empty()) {
            // A recent id: most old ones are finished already.
            const SeqId victim = std::max<SeqId>(1, static_cast<SeqId>(expected.size()) - rand(30));
            n_cancel_requests += s.cancel(victim).ok() ? 1 : 0;
        }

        const SchedulerOutput& out = s.step(now_ms);
        ASSERT_LE(out.n_tokens, max_batch_tokens);
        for (const AbortedSeq& a : out.aborted) {
            ASSERT_TRUE(a.status.code() == ErrorCode::kCancelled || a.status.code() == ErrorCode::kDeadlineExceeded);
            if (a.status.code() == ErrorCode::kDeadlineExceeded) {
                ASSERT_LE(expected[a.seq_id].deadline_ms, now_ms);
            }
            aborted.insert(a.seq_id);
        }
        // The runner: block copies first, then the forward writes each chunk's KV.
        for (const kvcache::BlockCopy& c : out.block_copies) {
            std::copy_n(kv.begin() + static_cast<ptrdiff_t>(c.src) * block_size, block_size,
                        kv.begin() + static_cast<ptrdiff_t>(c.dst) * block_size);
        }
        std::set<SeqId> in_step;
        for (const ScheduledSeq& e : out.seqs) {
            ASSERT_TRUE(in_step.insert(e.seq_id).second) << "sequence scheduled twice in a step";
            const Sequence* q = s.find(e.seq_id);
            ASSERT_NE(q, nullptr);
            ASSERT_EQ(q->state, SeqState::kRunning);
            const std::vector<TokenId>& want = expected[e.seq_id].tokens;
            ASSERT_TRUE(std::ranges::equal(q->tokens, std::span(want).first(q->tokens.size())));
            auto slot = [&](int32_t p) -> uint64_t& {
                const auto b = static_cast<size_t>(e.block_table[static_cast<size_t>(p / block_size)]);
                return kv[b * static_cast<size_t>(block_size) + static_cast<size_t>(p % block_size)];
            };
            for (int32_t p = 0; p < e.pos; ++p) {
                ASSERT_EQ(slot(p), prefix_hash(std::span(q->tokens).first(static_cast<size_t>(p) + 1)))
                    << "seq " << e.seq_id << " pos " << p << " step " << step;
            }
            for (int32_t i = 0; i < static_cast<int32_t>(e.tokens.size()); ++i) {
                const kvcache::BlockId b = e.block_table[static_cast<size_t>((e.pos + i) / block_size)];
                ASSERT_EQ(s.blocks().refcount(b), 1) << "the forward would write into a shared block";
                slot(e.pos + i) = prefix_hash(std::span(q->tokens).first(static_cast<size_t>(e.pos + i) + 1));
            }
            ASSERT_EQ(e.is_logits_needed, e.pos + static_cast<int32_t>(e.tokens.size()) == q->n_tokens());
        }
        std::vector<SampledToken> sampled = testing::sample(s, out, &finished);
        s.on_step_done(sampled);
        Status st = s.verify();
        ASSERT_TRUE(st.ok()) << "step " << step << ": " << st.to_string();
    }
    for (int i = 0; i < 5000 && s.has_work(); ++i) {
        const SchedulerOutput& out = s.step(now_ms);
        for (const AbortedSeq& a : out.aborted) {
            aborted.insert(a.seq_id);
        }
        s.on_step_done(testing::sample(s, out, &finished));
    }
    ASSERT_FALSE(s.has_work());

    // Every request either finished with exactly the tokens it makes alone, or was aborted.
    for (const auto& [id, e] : expected) {
        if (aborted.contains(id)) {
            EXPECT_FALSE(finished.contains(id));
            continue;
        }
        ASSERT_TRUE(finished.contains(id)) << "request " << id << " vanished";
        EXPECT_EQ(finished[id], e.tokens) << "request " << id;
    }
    const SchedulerMetrics m = s.metrics();
    EXPECT_EQ(m.n_blocks_active, 0);  // nothing leaked
    EXPECT_EQ(m.n_finished + m.n_cancelled + m.n_deadline_exceeded, static_cast<int64_t>(expected.size()));
    EXPECT_TRUE(s.verify().ok());
    // The run exercised what it claims to.
    EXPECT_GT(m.n_preemptions, 5) << "seed " << seed;
    EXPECT_GT(m.n_tokens_prefix_hit, 500) << "seed " << seed;
    EXPECT_GT(m.n_deadline_exceeded, 0) << "seed " << seed;
    EXPECT_GT(m.n_block_copies, 0) << "seed " << seed;
    EXPECT_GT(m.n_cancelled, 0) << "seed " << seed;
    EXPECT_GT(n_cancel_requests, 0);
}

TEST(SchedulerStressTest, RandomWorkloadKeepsInvariantsAndTokens) {
    for (uint32_t seed : {11u, 12u, 13u}) {
        run_stress(seed, /*n_blocks=*/40, /*block_size=*/4, /*max_batch_tokens=*/24, /*arrival_one_in=*/3);
        ASSERT_FALSE(::testing::Test::HasFatalFailure()) << "seed " << seed;
    }
}

TEST(SchedulerStressTest, OneTokenBlocksAndTinyBudget) {
    run_stress(7, /*n_blocks=*/45, /*block_size=*/1, /*max_batch_tokens=*/3, /*arrival_one_in=*/15);
}

}  // namespace
}  // namespace gannet::sched
