// Device side of weight placement: the memory query, the layer streamer (every block arrives intact
// in its slot over several passes, odd and even block counts, one or two slots, with the compute
// stream reading each slot while the next copy is in flight), the zero-copy read kernel, bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "memory/cuda/device_memory.h"
#include "memory/cuda/h2d_probe.h"
#include "memory/cuda/layer_streamer.h"

namespace gannet::memory::cuda {
namespace {

using gannet::cuda::DeviceBuffer;
using gannet::cuda::PinnedBuffer;
using gannet::cuda::PinnedMapping;

TEST(DeviceMemory, ReportsFreeMemoryAndUnifiedness) {
    auto info = query_device_memory();
    ASSERT_TRUE(info.has_value()) << info.error().message();
    EXPECT_GT(info->free_bytes, 0u);
    EXPECT_GT(info->total_bytes, 0u);
    if (!info->is_unified()) {
        EXPECT_LE(info->free_bytes, info->total_bytes);
    }
    std::printf("device memory: free %.2f GB of %.2f GB, integrated %d, pageable access %d, host page tables %d\n",
                info->free_bytes / 1e9, info->total_bytes / 1e9, info->is_integrated, info->has_pageable_access,
                info->uses_host_page_tables);
}

// Streams n_blocks blocks (sizes vary, not multiples of 16) through n_slots slots for n_passes passes;
// each acquired slot is copied (on the compute stream) into that block's place in an output buffer.
void stream_and_check(int n_blocks, int n_slots, int n_passes) {
    SCOPED_TRACE(testing::Message() << n_blocks << " blocks, " << n_slots << " slots");
    std::vector<size_t> sizes;
    size_t largest = 0;
    size_t total = 0;
    for (int j = 0; j < n_blocks; ++j) {
        sizes.push_back(size_t{3} * 1024 * 1024 + static_cast<size_t>(j) * 4099 + 7);
        largest = std::max(largest, sizes.back());
        total += sizes.back();
    }
    std::vector<PinnedBuffer> host;
    std::vector<LayerStreamer::Block> blocks;
    for (int j = 0; j < n_blocks; ++j) {
        auto b = PinnedBuffer::allocate(sizes[static_cast<size_t>(j)], PinnedMapping::kUnmapped);
        ASSERT_TRUE(b.has_value()) << b.error().message();
        auto* p = static_cast<unsigned char*>(b->data());
        for (size_t i = 0; i < b->size_bytes(); ++i) {
            p[i] = static_cast<unsigned char>((i * 131 + static_cast<size_t>(j) * 17 + i / 977) & 0xff);
        }
        blocks.push_back({.host = b->data(), .size_bytes = b->size_bytes()});
        host.push_back(std::move(*b));
    }
    auto s = LayerStreamer::create(blocks, n_slots, largest);
    ASSERT_TRUE(s.has_value()) << s.error().message();
    auto compute = gannet::cuda::Stream::create();
    ASSERT_TRUE(compute.has_value());
    auto out = DeviceBuffer::allocate(total);
    ASSERT_TRUE(out.has_value());
    std::vector<unsigned char> got(total);
    for (int pass = 0; pass < n_passes; ++pass) {
        ASSERT_EQ(cudaMemset(out->data(), 0, total), cudaSuccess);
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        size_t at = 0;
        for (int j = 0; j < n_blocks; ++j) {
            ASSERT_TRUE(s->acquire(j, compute->get()).ok());
            const size_t n = sizes[static_cast<size_t>(j)];
            ASSERT_EQ(cudaMemcpyAsync(out->as<unsigned char>() + at, s->slot_of(j), n, cudaMemcpyDeviceToDevice,
                                      compute->get()),
                      cudaSuccess);
            ASSERT_TRUE(s->release(j, compute->get()).ok());
            at += n;
        }
        ASSERT_TRUE(compute->synchronize().ok());
        ASSERT_EQ(cudaMemcpy(got.data(), out->data(), total, cudaMemcpyDeviceToHost), cudaSuccess);
        at = 0;
        for (int j = 0; j < n_blocks; ++j) {
            ASSERT_EQ(std::memcmp(got.data() + at, host[static_cast<size_t>(j)].data(), sizes[static_cast<size_t>(j)]),
                      0)
                << "pass " << pass << " block " << j;
            at += sizes[static_cast<size_t>(j)];
        }
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    if (n_blocks <= n_slots) {
        EXPECT_EQ(s->copied_bytes(), total);  // copied once, then kept
    } else {
        EXPECT_GE(s->copied_bytes(), total * static_cast<size_t>(n_passes));
        EXPECT_LE(s->copied_bytes(), total * static_cast<size_t>(n_passes + 1));
    }
}

TEST(LayerStreamer, DeliversEveryBlockIntact) {
    stream_and_check(5, 2, 3);
    stream_and_check(6, 2, 3);
    stream_and_check(3, 1, 3);
    stream_and_check(2, 2, 3);
    stream_and_check(1, 1, 2);
}

TEST(LayerStreamer, RecoversFromAnAbortedPass) {
    auto a = PinnedBuffer::allocate(4096, PinnedMapping::kUnmapped);
    auto b = PinnedBuffer::allocate(4096, PinnedMapping::kUnmapped);
    auto c = PinnedBuffer::allocate(4096, PinnedMapping::kUnmapped);
    ASSERT_TRUE(a.has_value() && b.has_value() && c.has_value());
    std::memset(a->data(), 'a', 4096);
    std::memset(b->data(), 'b', 4096);
    std::memset(c->data(), 'c', 4096);
    auto s = LayerStreamer::create({{a->data(), 4096}, {b->data(), 4096}, {c->data(), 4096}}, 2, 4096);
    ASSERT_TRUE(s.has_value());
    auto compute = gannet::cuda::Stream::create();
    ASSERT_TRUE(compute.has_value());
    // Pass stops after block 0 (no release); the next pass starts at block 0 again, then skips to 2.
    ASSERT_TRUE(s->acquire(0, compute->get()).ok());
    ASSERT_TRUE(s->acquire(0, compute->get()).ok());
    ASSERT_TRUE(s->release(0, compute->get()).ok());  // queues block 2 into slot 0
    ASSERT_TRUE(s->acquire(0, compute->get()).ok());  // slot 0 holds 2 now: block 0 is copied again
    std::vector<char> got(4096);
    ASSERT_TRUE(compute->synchronize().ok());
    ASSERT_EQ(cudaMemcpy(got.data(), s->slot_of(0), 4096, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got[0], 'a');
    EXPECT_EQ(got[4095], 'a');
    ASSERT_TRUE(s->acquire(2, compute->get()).ok());
    ASSERT_TRUE(compute->synchronize().ok());
    ASSERT_EQ(cudaMemcpy(got.data(), s->slot_of(2), 4096, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got[100], 'c');
}

TEST(LayerStreamer, RejectsBadArguments) {
    auto a = PinnedBuffer::allocate(4096, PinnedMapping::kUnmapped);
    ASSERT_TRUE(a.has_value());
    const LayerStreamer::Block ok{a->data(), 4096};
    EXPECT_EQ(LayerStreamer::create({}, 1, 4096).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(LayerStreamer::create({ok}, 2, 4096).error().code(), ErrorCode::kInvalidArgument);  // slots > blocks
    EXPECT_EQ(LayerStreamer::create({ok, ok, ok}, 3, 4096).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(LayerStreamer::create({ok}, 1, 4095).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(LayerStreamer::create({{nullptr, 16}}, 1, 4096).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(LayerStreamer::create({{a->data(), 0}}, 1, 4096).error().code(), ErrorCode::kInvalidArgument);
    auto s = LayerStreamer::create({ok}, 1, 4096);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->acquire(1, nullptr).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(s->release(-1, nullptr).code(), ErrorCode::kInvalidArgument);
}

TEST(H2dProbe, ZeroCopyReadSeesEveryWord) {
    const size_t bytes = 5 * 1024 * 1024 + 48;
    auto host = PinnedBuffer::allocate(bytes, PinnedMapping::kMapped);
    ASSERT_TRUE(host.has_value());
    auto* w = static_cast<uint32_t*>(host->data());
    unsigned long long want = 0;
    for (size_t i = 0; i < bytes / 4; ++i) {
        w[i] = static_cast<uint32_t>(i * 2654435761u);
        want += w[i];
    }
    auto dev = host->device_ptr();
    ASSERT_TRUE(dev.has_value());
    auto r = read_all(*dev, bytes);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->checksum, want);
    EXPECT_EQ(read_all(*dev, 15).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(read_all(nullptr, 16).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(measure_h2d(1000, 1).error().code(), ErrorCode::kInvalidArgument);
    auto bw = measure_h2d(size_t{64} << 20, 2);
    ASSERT_TRUE(bw.has_value()) << bw.error().message();
    EXPECT_GT(bw->copy_gb_s, 1.0);
    EXPECT_GT(bw->zero_copy_gb_s, 1.0);
    std::printf("h2d (64 MiB): copy %.1f GB/s, zero-copy read %.1f GB/s\n", bw->copy_gb_s, bw->zero_copy_gb_s);
}

}  // namespace
}  // namespace gannet::memory::cuda
