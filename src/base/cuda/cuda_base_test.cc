#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"

namespace gannet::cuda {
namespace {

TEST(CudaStatusTest, MapsOutOfMemoryToResourceExhaustedAndTheRestToInternal) {
    EXPECT_TRUE(cuda_status(cudaSuccess, "x").ok());
    EXPECT_EQ(cuda_status(cudaErrorMemoryAllocation, "alloc").code(), ErrorCode::kResourceExhausted);
    const Status s = cuda_status(cudaErrorInvalidValue, "memcpy");
    EXPECT_EQ(s.code(), ErrorCode::kInternal);
    EXPECT_NE(s.message().find("memcpy"), std::string::npos);
}

TEST(DeviceBufferTest, ImpossibleAllocationIsResourceExhausted) {
    Result<DeviceBuffer> r = DeviceBuffer::allocate(size_t{1} << 50);  // 1 PiB
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
    // The failed allocation left no sticky error behind.
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(DeviceBufferTest, RoundTripsThroughPinnedMemoryOnAStream) {
    constexpr size_t kBytes = 4099;
    Result<Stream> stream = Stream::create();
    ASSERT_TRUE(stream.has_value()) << stream.error().to_string();
    Result<DeviceBuffer> dev = DeviceBuffer::allocate(kBytes);
    ASSERT_TRUE(dev.has_value());
    Result<PinnedBuffer> src = PinnedBuffer::allocate(kBytes, PinnedMapping::kUnmapped);
    Result<PinnedBuffer> dst = PinnedBuffer::allocate(kBytes, PinnedMapping::kUnmapped);
    ASSERT_TRUE(src.has_value() && dst.has_value());
    auto* s = static_cast<uint8_t*>(src->data());
    for (size_t i = 0; i < kBytes; ++i) {
        s[i] = static_cast<uint8_t>(i * 7 + 3);
    }
    std::memset(dst->data(), 0, kBytes);
    ASSERT_EQ(cudaMemcpyAsync(dev->data(), s, kBytes, cudaMemcpyHostToDevice, stream->get()), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(dst->data(), dev->data(), kBytes, cudaMemcpyDeviceToHost, stream->get()), cudaSuccess);
    ASSERT_TRUE(stream->synchronize().ok());
    EXPECT_EQ(std::memcmp(src->data(), dst->data(), kBytes), 0);
}

TEST(DeviceBufferTest, MoveTransfersOwnership) {
    Result<DeviceBuffer> a = DeviceBuffer::allocate(256);
    ASSERT_TRUE(a.has_value());
    void* p = a->data();
    DeviceBuffer b = std::move(a).value();
    EXPECT_EQ(b.data(), p);
    EXPECT_EQ(b.size_bytes(), 256u);
    DeviceBuffer c;
    c = std::move(b);
    EXPECT_EQ(c.data(), p);
    EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
}

TEST(PinnedBufferTest, MappedBufferHasADevicePointer) {
    Result<PinnedBuffer> m = PinnedBuffer::allocate(64, PinnedMapping::kMapped);
    ASSERT_TRUE(m.has_value());
    Result<void*> dev = m->device_ptr();
    ASSERT_TRUE(dev.has_value()) << dev.error().to_string();
    EXPECT_NE(*dev, nullptr);
}

TEST(EventTest, MeasuresElapsedTime) {
    Result<Stream> stream = Stream::create();
    Result<Event> a = Event::create(EventTiming::kEnabled);
    Result<Event> b = Event::create(EventTiming::kEnabled);
    ASSERT_TRUE(stream.has_value() && a.has_value() && b.has_value());
    Result<DeviceBuffer> buf = DeviceBuffer::allocate(size_t{64} << 20);
    ASSERT_TRUE(buf.has_value());
    ASSERT_TRUE(a->record(stream->get()).ok());
    ASSERT_EQ(cudaMemsetAsync(buf->data(), 1, buf->size_bytes(), stream->get()), cudaSuccess);
    ASSERT_TRUE(b->record(stream->get()).ok());
    ASSERT_TRUE(b->synchronize().ok());
    Result<float> ms = b->elapsed_ms_since(*a);
    ASSERT_TRUE(ms.has_value());
    EXPECT_GT(*ms, 0.0f);
}

}  // namespace
}  // namespace gannet::cuda
