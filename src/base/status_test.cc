#include "base/status.h"

#include <gtest/gtest.h>

#include <string>

#include "base/result.h"

namespace gannet {
namespace {

Result<int> parse_positive(int x) {
    if (x <= 0) {
        return make_error(ErrorCode::kInvalidArgument, "want > 0, got %d", x);
    }
    return x;
}

Result<int> doubled(int x) {
    GANNET_ASSIGN_OR_RETURN(int v, parse_positive(x));
    return 2 * v;
}

TEST(StatusTest, DefaultIsOkWithEmptyMessage) {
    Status s;
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(s.code(), ErrorCode::kOk);
    EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, ErrorCarriesCodeAndFormattedMessage) {
    Status s = make_error(ErrorCode::kDataLoss, "gguf: bad magic %08x", 0x1234u);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
    EXPECT_EQ(s.message(), "gguf: bad magic 00001234");
    EXPECT_EQ(s.to_string(), "data_loss: gguf: bad magic 00001234");
}

TEST(ResultTest, AssignOrReturnPropagatesTheError) {
    EXPECT_EQ(doubled(4).value(), 8);
    Result<int> r = doubled(-1);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message(), "want > 0, got -1");
}

TEST(ResultDeathTest, ValueOfAnErrorIsABug) {
    Result<int> r = make_error(ErrorCode::kInternal, "x");
    EXPECT_DEATH((void)r.value(), "check failed");
}

}  // namespace
}  // namespace gannet
