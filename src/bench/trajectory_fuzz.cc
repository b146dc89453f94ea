// libFuzzer target: trajectory files (bench/trajectory.cc), which `gannet bench replay` reads from
// shared or downloaded data. The input is the steps file and the text file separated by the first
// NUL byte; a text part that starts with the gzip magic is written as <name>.text.jsonl.gz, so the
// gzip reader sees hostile streams too. Both go to a per-process temp dir and through
// load_trajectories(). Anything may fail with a Status; nothing may crash, hang or leak.
// Seeds: fuzz/corpus/trajectory_fuzz/.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "bench/trajectory.h"

namespace {

void write(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("gannet_trajectory_fuzz_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    const std::string_view steps = input.substr(0, nul);
    const std::string_view text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    write(dir / "t.steps.jsonl", steps);
    write(dir / (text.starts_with("\x1f\x8b") ? "t.text.jsonl.gz" : "t.text.jsonl"), text);
    gannet::Result<std::vector<gannet::bench::Trajectory>> got = gannet::bench::load_trajectories(dir.string());
    (void)got;
    gannet::Result<std::vector<gannet::bench::Trajectory>> first =
        gannet::bench::load_trajectories(dir.string(), {.max_trajectories = 1});
    (void)first;
    return 0;
}
