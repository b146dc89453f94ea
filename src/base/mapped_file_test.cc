#include "base/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace gannet {
namespace {

TEST(MappedFileTest, MapsTheBytesOfAFile) {
    const std::string path = testing::TempDir() + "mapped_file_test.bin";
    std::ofstream(path, std::ios::binary) << "hello";
    Result<MappedFile> f = MappedFile::open(path);
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    ASSERT_EQ(f->size_bytes(), 5u);
    EXPECT_EQ(f->bytes()[0], 'h');
    std::remove(path.c_str());
}

TEST(MappedFileTest, MissingFileIsNotFound) {
    Result<MappedFile> f = MappedFile::open("/nonexistent/gannet/file");
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), ErrorCode::kNotFound);
}

TEST(MappedFileTest, DirectoryIsInvalidArgument) {
    Result<MappedFile> f = MappedFile::open("/tmp");
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gannet
