#include "bench/trajectory.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "base/test_paths.h"
#include "bench/line_reader.h"

namespace gannet::bench {
namespace {

namespace fs = std::filesystem;

std::string shared_trajectories() {
    return shared_data_dir() + "/data/agent-trajectories";
}

// A fresh folder under the test's temp dir, removed at the end.
class TempDir {
public:
    explicit TempDir(const std::string& name) : path_(fs::temp_directory_path() / ("gannet_bench_" + name)) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string path() const { return path_.string(); }
    void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
    void write_gz(const std::string& name, const std::string& text) const {
        gzFile f = gzopen((path_ / name).c_str(), "wb");
        gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
        gzclose(f);
    }

private:
    fs::path path_;
};

const char* kSteps =
    R"({"id":"a","n_steps":2,"steps":[{"output_tokens":5,"output_tokens_est":3,"prompt_tokens":9,"next_request_gap_ms":1000},{"output_tokens":null,"output_tokens_est":4,"next_request_gap_ms":null}]})"
    "\n"
    R"({"id":"b","steps":[{"output_tokens":7}]})"
    "\n";
const char* kText =
    R"({"id":"b","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]})"
    "\n"
    R"({"id":"a","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"},{"role":"assistant","content":"x"},{"role":"user","content":"v"},{"role":"assistant","content":"y"},{"role":"user","content":"never sent"}]})"
    "\n";

TEST(TrajectoryTest, LoadsTheSharedSet) {
    Result<std::vector<Trajectory>> r = load_trajectories(shared_trajectories(), {.max_trajectories = 3});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    ASSERT_EQ(r->size(), 3u);
    const Trajectory& t = (*r)[0];
    EXPECT_EQ(t.id, "astropy__astropy-12907");
    EXPECT_NE(t.outcome, Outcome::kUnknown);  // the shared set records "resolved" for every run
    ASSERT_EQ(t.steps.size(), 20u);
    EXPECT_EQ(t.steps[0].n_tokens_output, 106);
    EXPECT_EQ(t.steps[0].next_request_gap_ms, 4000);
    EXPECT_EQ(t.steps[0].n_messages_request, 2u);  // system + first user message
    EXPECT_EQ(t.steps.back().next_request_gap_ms, -1);
    for (const TrajectoryStep& s : t.steps) {
        EXPECT_EQ(t.messages[s.n_messages_request].role, "assistant");  // the recorded answer follows
    }
}

TEST(TrajectoryTest, JoinsStepsAndTextById) {
    TempDir dir("join");
    dir.write("x.steps.jsonl", kSteps);
    dir.write_gz("x.text.jsonl.gz", kText);
    Result<std::vector<Trajectory>> r = load_trajectories(dir.path());
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    ASSERT_EQ(r->size(), 2u);
    const Trajectory& a = (*r)[0];
    EXPECT_EQ(a.id, "a");
    EXPECT_EQ(a.messages.size(), 6u);
    EXPECT_EQ(a.steps[0].n_messages_request, 2u);
    EXPECT_EQ(a.steps[1].n_messages_request, 4u);
    EXPECT_EQ(a.steps[1].n_tokens_output, 4);  // null falls back to the estimate
    EXPECT_EQ(a.steps[1].next_request_gap_ms, -1);
    EXPECT_EQ((*r)[1].steps[0].n_tokens_output, 7);
    EXPECT_EQ(a.outcome, Outcome::kUnknown);  // no "resolved" field
}

TEST(TrajectoryTest, ReadsTheRecordedOutcome) {
    TempDir dir("outcome");
    dir.write("x.steps.jsonl", R"({"id":"a","resolved":true,"steps":[{}]})"
                               "\n"
                               R"({"id":"b","resolved":false,"steps":[{}]})"
                               "\n");
    dir.write("x.text.jsonl",
              R"({"id":"a","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]})"
              "\n"
              R"({"id":"b","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]})"
              "\n");
    Result<std::vector<Trajectory>> r = load_trajectories(dir.path());
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ((*r)[0].outcome, Outcome::kResolved);
    EXPECT_EQ((*r)[1].outcome, Outcome::kUnresolved);

    dir.write("x.steps.jsonl", R"({"id":"a","resolved":"yes","steps":[{}]})");
    Status s = load_trajectories(dir.path()).error();
    EXPECT_NE(s.message().find("line 1: \"resolved\" is not true/false"), std::string::npos) << s.message();
}

TEST(TrajectoryTest, PlainTextFileWorksToo) {
    TempDir dir("plain");
    dir.write("x.steps.jsonl", kSteps);
    dir.write("x.text.jsonl", kText);
    ASSERT_TRUE(load_trajectories(dir.path()).has_value());
}

TEST(TrajectoryTest, MissingFolderOrFilesAreNotFound) {
    EXPECT_EQ(load_trajectories("/nonexistent/traj").error().code(), ErrorCode::kNotFound);
    TempDir dir("missing");
    Status s = load_trajectories(dir.path()).error();
    EXPECT_EQ(s.code(), ErrorCode::kNotFound);
    EXPECT_NE(s.message().find("no *.steps.jsonl"), std::string::npos) << s.message();
    dir.write("x.steps.jsonl", kSteps);
    s = load_trajectories(dir.path()).error();
    EXPECT_EQ(s.code(), ErrorCode::kNotFound);
    EXPECT_NE(s.message().find("x.text.jsonl.gz"), std::string::npos) << s.message();
}

TEST(TrajectoryTest, MalformedLineIsNamedByFileAndLine) {
    TempDir dir("malformed");
    dir.write("x.steps.jsonl", std::string(kSteps) + "{\"id\": \"c\", \"steps\": [\n");
    dir.write_gz("x.text.jsonl.gz", kText);
    Status s = load_trajectories(dir.path()).error();
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("x.steps.jsonl: line 3: malformed JSON"), std::string::npos) << s.message();

    dir.write("x.steps.jsonl", R"({"id":"a","steps":[{"output_tokens":"many"}]})");
    s = load_trajectories(dir.path()).error();
    EXPECT_NE(s.message().find("line 1: \"output_tokens\" is not a number"), std::string::npos) << s.message();
}

// Found by trajectory_fuzz: "prompt_tokens": 100e30 was converted to int64 (UBSan: 1e+32 is outside
// the range of representable values of type 'long').
TEST(TrajectoryTest, NumbersAnInt64CannotHoldAreErrorsNamingTheField) {
    TempDir dir("huge");
    dir.write_gz("x.text.jsonl.gz", kText);
    const std::pair<const char*, const char*> cases[] = {
        {R"({"id":"a","steps":[{"prompt_tokens":100e30}]})", "\"prompt_tokens\" is 1e+32, expected an integer"},
        {R"({"id":"a","steps":[{"output_tokens":2.5}]})", "\"output_tokens\" is 2.5, expected an integer"},
        {R"({"id":"a","steps":[{"next_request_gap_ms":18446744073709551615}]})",
         "\"next_request_gap_ms\" is 18446744073709551615, expected at most 9223372036854775807"},
    };
    for (const auto& [line, want] : cases) {
        dir.write("x.steps.jsonl", line);
        Result<std::vector<Trajectory>> r = load_trajectories(dir.path());
        ASSERT_FALSE(r.has_value()) << line;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find(std::string("line 1: ") + want), std::string::npos) << r.error().message();
    }
    // A whole number written as a float still loads.
    dir.write("x.steps.jsonl", R"({"id":"b","steps":[{"output_tokens":7.0}]})");
    dir.write_gz("x.text.jsonl.gz",
                 R"({"id":"b","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"r"}]})"
                 "\n");
    Result<std::vector<Trajectory>> ok = load_trajectories(dir.path());
    ASSERT_TRUE(ok.has_value()) << ok.error().message();
    EXPECT_EQ(ok->at(0).steps.at(0).n_tokens_output, 7);
}

TEST(TrajectoryTest, TextThatDisagreesWithStepsIsDataLoss) {
    TempDir dir("disagree");
    dir.write("x.steps.jsonl", R"({"id":"b","steps":[{"output_tokens":7},{"output_tokens":7}]})");
    dir.write_gz("x.text.jsonl.gz", kText);
    Status s = load_trajectories(dir.path()).error();
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
    EXPECT_NE(s.message().find("x.text.jsonl.gz: line 1: trajectory 'b' has 1 assistant messages, steps file says 2"),
              std::string::npos)
        << s.message();

    dir.write("x.steps.jsonl", R"({"id":"zzz","steps":[{"output_tokens":7}]})");
    s = load_trajectories(dir.path()).error();
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
    EXPECT_NE(s.message().find("no text for trajectory 'zzz'"), std::string::npos) << s.message();
}

TEST(TrajectoryTest, TruncatedGzipIsDataLoss) {
    TempDir dir("truncated");
    std::string big;
    for (int i = 0; i < 2000; ++i) {
        big += kText;
    }
    dir.write_gz("full.gz", big);
    std::ifstream in(dir.path() + "/full.gz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    dir.write("cut.gz", bytes.substr(0, bytes.size() / 2));
    Status s = for_each_line(dir.path() + "/cut.gz", [](std::string_view, int64_t) { return Status(); });
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss) << s.to_string();
    EXPECT_NE(s.message().find("cut.gz"), std::string::npos);
}

}  // namespace
}  // namespace gannet::bench
