// The official JSON-Schema-Test-Suite (draft2020-12), read in place from shared/third_party (never
// copied): one gtest per test case, remotes served from the suite's remotes/ folder under
// http://localhost:1234/ (no network). Required cases must all pass; optional/ and
// optional/format/ (format assertion on, as the suite README says) are run the same way, and
// SuiteSummary prints the three scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "json/json.h"
#include "jsonschema/validator.h"

namespace gannet::jsonschema {
namespace {

namespace fs = std::filesystem;

enum class Part { kRequired, kOptional, kFormat };

struct SuiteCase {
    Part part;
    std::string file;  // relative to tests/draft2020-12
    size_t index;      // test case within the file
    std::string name;  // gtest-safe
};

std::string suite_root() {
    return shared_data_dir() + "/third_party/JSON-Schema-Test-Suite";
}

std::vector<SuiteCase> load_cases() {
    std::vector<SuiteCase> cases;
    const fs::path dir = suite_root() + "/tests/draft2020-12";
    if (!fs::exists(dir)) {
        return cases;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& path : files) {
        const std::string rel = fs::relative(path, dir).string();
        const Part part = rel.rfind("optional/format/", 0) == 0 ? Part::kFormat
                          : rel.rfind("optional/", 0) == 0      ? Part::kOptional
                                                                : Part::kRequired;
        Result<nlohmann::json> doc = json::parse_file(path.string());
        if (!doc.has_value() || !doc->is_array()) {
            continue;
        }
        for (size_t i = 0; i < doc->size(); ++i) {
            std::string name = rel.substr(0, rel.size() - 5) + "_" + std::to_string(i);
            for (char& c : name) {
                if (!std::isalnum(static_cast<unsigned char>(c))) {
                    c = '_';
                }
            }
            cases.push_back(SuiteCase{part, rel, i, name});
        }
    }
    return cases;
}

struct CaseOutcome {
    size_t n_tests = 0;
    size_t n_passed = 0;
    std::vector<std::string> failures;
};

CaseOutcome run_case(const SuiteCase& c) {
    CaseOutcome out;
    Result<nlohmann::json> doc = json::parse_file(suite_root() + "/tests/draft2020-12/" + c.file);
    if (!doc.has_value()) {
        out.failures.push_back("cannot read: " + doc.error().to_string());
        return out;
    }
    const nlohmann::json& tc = (*doc)[c.index];
    SchemaRegistry registry;
    registry.add_directory("http://localhost:1234/", suite_root() + "/remotes").ignore();
    CompileOptions options;
    options.registry = &registry;
    // A fresh retrieval URI per case so embedded $ids cannot leak between cases.
    options.base_uri = "https://gannet.test/suite/" + c.name + ".json";
    options.format = c.part == Part::kFormat ? FormatMode::kAssert : FormatMode::kAnnotate;
    Result<Validator> v = Validator::compile(tc["schema"], options);
    for (const nlohmann::json& t : tc["tests"]) {
        ++out.n_tests;
        const bool expected = t["valid"].get<bool>();
        const std::string what = tc["description"].get<std::string>() + " / " + t["description"].get<std::string>();
        if (!v.has_value()) {
            out.failures.push_back(what + ": schema did not compile: " + v.error().to_string());
            continue;
        }
        const bool fast = v->validate(t["data"]);
        const ValidationResult basic = v->validate(t["data"], OutputFormat::kBasic);
        if (fast == expected && basic.valid == expected && (expected || !basic.errors.empty())) {
            ++out.n_passed;
        } else {
            out.failures.push_back(what + ": expected " + (expected ? "valid" : "invalid") + ", flag says "
                                   + (fast ? "valid" : "invalid") + ", basic says "
                                   + (basic.valid ? "valid" : "invalid"));
        }
    }
    return out;
}

class SuiteTest : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(SuiteTest, Passes) {
    const CaseOutcome out = run_case(GetParam());
    std::string list;
    for (const std::string& f : out.failures) {
        list += "\n  " + f;
    }
    EXPECT_TRUE(out.failures.empty()) << GetParam().file << " case " << GetParam().index << ":" << list;
}

std::vector<SuiteCase> cases_of(Part part) {
    std::vector<SuiteCase> all = load_cases();
    std::vector<SuiteCase> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const SuiteCase& c) { return c.part == part; });
    return out;
}

std::string case_name(const ::testing::TestParamInfo<SuiteCase>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Required, SuiteTest, ::testing::ValuesIn(cases_of(Part::kRequired)), case_name);
INSTANTIATE_TEST_SUITE_P(Optional, SuiteTest, ::testing::ValuesIn(cases_of(Part::kOptional)), case_name);
INSTANTIATE_TEST_SUITE_P(Format, SuiteTest, ::testing::ValuesIn(cases_of(Part::kFormat)), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SuiteTest);

// Prints "jsonschema suite: required P/N, optional P/N, optional/format P/N" and holds the
// required part at 100%.
TEST(SuiteSummary, RequiredAllPassAndScoresArePrinted) {
    size_t passed[3] = {0, 0, 0};
    size_t total[3] = {0, 0, 0};
    std::string failures;
    for (const SuiteCase& c : load_cases()) {
        const CaseOutcome out = run_case(c);
        passed[static_cast<int>(c.part)] += out.n_passed;
        total[static_cast<int>(c.part)] += out.n_tests;
        for (const std::string& f : out.failures) {
            failures += "\n  " + c.file + ": " + f;
        }
    }
    std::printf("jsonschema suite: required %zu/%zu, optional %zu/%zu, optional/format %zu/%zu%s\n", passed[0],
                total[0], passed[1], total[1], passed[2], total[2], failures.c_str());
    ASSERT_GT(total[0], 0u) << "suite not found under " << suite_root();
    EXPECT_EQ(passed[0], total[0]);
}

}  // namespace
}  // namespace gannet::jsonschema
