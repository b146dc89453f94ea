#include "memory/placement.h"

#include <gtest/gtest.h>

namespace gannet::memory {
namespace {

constexpr uint64_t kGB = 1000000000;

PlanInput eight_layers(Placement p, std::optional<uint64_t> budget) {
    PlanInput in;
    in.placement = p;
    in.layer_bytes.assign(8, 100);
    in.embd_bytes = 50;
    in.head_bytes = 40;
    in.budget_bytes = budget;
    in.free_bytes = 10000;
    return in;
}

TEST(Placement, ParsesNamesAndRejectsOthers) {
    EXPECT_EQ(*parse_placement("device"), Placement::kDevice);
    EXPECT_EQ(*parse_placement("mapped"), Placement::kMapped);
    EXPECT_EQ(*parse_placement("stream"), Placement::kStream);
    for (const char* bad : {"", "Device", "managed", "streamed", "device "}) {
        auto r = parse_placement(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find("device, mapped or stream"), std::string::npos);
    }
    EXPECT_STREQ(placement_name(Placement::kStream), "stream");
}

TEST(Placement, ParsesBudgetInDecimalGigabytes) {
    EXPECT_EQ(*parse_vram_budget_gb("0"), 0u);
    EXPECT_EQ(*parse_vram_budget_gb("12"), 12 * kGB);
    EXPECT_EQ(*parse_vram_budget_gb("0.25"), kGB / 4);
    EXPECT_EQ(*parse_vram_budget_gb("1e-3"), kGB / 1000);
    for (const char* bad : {"", "-1", "abc", "1GB", " 1", "nan", "inf", "1e7", "1.5x", "0x"}) {
        auto r = parse_vram_budget_gb(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
        EXPECT_NE(r.error().message().find("--vram-budget"), std::string::npos);
    }
}

TEST(Placement, ReadsMemAvailable) {
    EXPECT_EQ(*mem_available_bytes("MemTotal:       131072 kB\nMemFree:  5 kB\nMemAvailable:   1024 kB\n"), 1048576u);
    EXPECT_EQ(*mem_available_bytes("MemAvailable: 7 kB"), 7168u);
    EXPECT_FALSE(mem_available_bytes("MemTotal: 5 kB\n").has_value());
    EXPECT_FALSE(mem_available_bytes("MemAvailable: lots\n").has_value());
    EXPECT_FALSE(mem_available_bytes("MemAvailable: 12 MB\n").has_value());
    EXPECT_FALSE(mem_available_bytes("").has_value());
}

TEST(Placement, DeviceKeepsEverythingOrFailsClearly) {
    auto p = plan_placement(eight_layers(Placement::kDevice, std::nullopt));
    ASSERT_TRUE(p.has_value()) << p.error().message();
    EXPECT_EQ(p->device_bytes, 890u);
    EXPECT_EQ(p->n_layers_resident, 8);
    EXPECT_EQ(p->mapped_bytes + p->streamed_bytes_per_token, 0u);
    EXPECT_EQ(p->n_slots, 0);
    auto small = plan_placement(eight_layers(Placement::kDevice, 889));
    ASSERT_FALSE(small.has_value());
    EXPECT_EQ(small.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(small.error().message().find("--vram-budget"), std::string::npos) << small.error().message();
    EXPECT_NE(small.error().message().find("--placement stream"), std::string::npos);
    PlanInput in = eight_layers(Placement::kDevice, 5000);
    in.free_bytes = 500;  // the budget is capped by free memory
    auto capped = plan_placement(in);
    ASSERT_FALSE(capped.has_value());
    EXPECT_NE(capped.error().message().find("free device memory"), std::string::npos) << capped.error().message();
}

TEST(Placement, MappedFillsTheBudgetThenMaps) {
    auto none = plan_placement(eight_layers(Placement::kMapped, 0));
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(none->n_layers_mapped, 8);
    EXPECT_EQ(none->head, Where::kMapped);
    EXPECT_EQ(none->embd, Where::kMapped);
    EXPECT_EQ(none->device_bytes, 0u);
    EXPECT_EQ(none->mapped_bytes, 840u);  // output + layers; the embedding is read one row at a time
    // 40 (output) + 3 layers = 340 fits 390; the embedding (50) fits the rest.
    auto some = plan_placement(eight_layers(Placement::kMapped, 390));
    ASSERT_TRUE(some.has_value());
    EXPECT_EQ(some->head, Where::kDevice);
    EXPECT_EQ(some->n_layers_resident, 3);
    EXPECT_EQ(some->n_layers_mapped, 5);
    EXPECT_EQ(some->layers[2], Where::kDevice);
    EXPECT_EQ(some->layers[3], Where::kMapped);
    EXPECT_EQ(some->embd, Where::kDevice);
    EXPECT_EQ(some->device_bytes, 390u);
    EXPECT_EQ(some->mapped_bytes, 500u);
    auto all = plan_placement(eight_layers(Placement::kMapped, std::nullopt));
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->n_layers_resident, 8);
    EXPECT_EQ(all->mapped_bytes, 0u);
}

TEST(Placement, StreamReservesTwoBuffersFirst) {
    auto all = plan_placement(eight_layers(Placement::kStream, std::nullopt));
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->n_layers_resident, 8);
    EXPECT_EQ(all->n_slots, 0);
    // The minimum: two buffers, everything streams; the small output matrix fits beside them.
    auto min = plan_placement(eight_layers(Placement::kStream, 240));
    ASSERT_TRUE(min.has_value()) << min.error().message();
    EXPECT_EQ(min->n_layers_streamed, 8);
    EXPECT_EQ(min->n_slots, 2);
    EXPECT_EQ(min->slot_bytes, 100u);
    EXPECT_EQ(min->head, Where::kDevice);
    EXPECT_EQ(min->embd, Where::kMapped);
    EXPECT_EQ(min->streamed_bytes_per_token, 800u);
    EXPECT_EQ(min->device_bytes, 240u);
    EXPECT_NE(min->describe().find("8 streamed (2 buffers"), std::string::npos) << min->describe();
    // 200 + 40 + 3 layers resident.
    auto k3 = plan_placement(eight_layers(Placement::kStream, 560));
    ASSERT_TRUE(k3.has_value());
    EXPECT_EQ(k3->n_layers_resident, 3);
    EXPECT_EQ(k3->n_layers_streamed, 5);
    EXPECT_EQ(k3->layers[0], Where::kDevice);
    EXPECT_EQ(k3->layers[7], Where::kStreamed);
    EXPECT_EQ(k3->streamed_bytes_per_token, 500u);
    // Two streamed layers stay in their buffers: nothing is copied per token.
    auto k6 = plan_placement(eight_layers(Placement::kStream, 840));
    ASSERT_TRUE(k6.has_value());
    EXPECT_EQ(k6->n_layers_streamed, 2);
    EXPECT_EQ(k6->streamed_bytes_per_token, 0u);
    auto too_small = plan_placement(eight_layers(Placement::kStream, 199));
    ASSERT_FALSE(too_small.has_value());
    EXPECT_EQ(too_small.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(too_small.error().message().find("two buffers of the largest layer"), std::string::npos)
        << too_small.error().message();
}

TEST(Placement, TiedHeadFollowsTheEmbedding) {
    PlanInput in = eight_layers(Placement::kMapped, 60);
    in.is_head_tied = true;
    auto p = plan_placement(in);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->embd, Where::kDevice);
    EXPECT_EQ(p->head, Where::kDevice);
    EXPECT_EQ(p->n_layers_mapped, 8);
    in.budget_bytes = 0;
    p = plan_placement(in);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->head, Where::kMapped);
    EXPECT_EQ(p->mapped_bytes, 850u);
}

TEST(Placement, RejectsDegenerateModels) {
    PlanInput in;
    EXPECT_EQ(plan_placement(in).error().code(), ErrorCode::kInvalidArgument);
    in.layer_bytes = {100, 0};
    EXPECT_EQ(plan_placement(in).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet::memory
