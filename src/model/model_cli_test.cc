// End-to-end tests of the model subcommands (run, logits, perplexity, bench, make-test-model):
// they run the real `gannet` binary and check exit codes, stdout and the one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "model/model.h"
#include "model/test_models.h"
#include "runner/runner.h"

namespace gannet::model {
namespace {

struct CmdResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string tmp(const std::string& name) {
    // ctest runs each test case as its own process, in parallel: names carry the pid.
    return (std::filesystem::temp_directory_path() / ("gannet_cli_test_" + std::to_string(getpid()) + "_" + name))
        .string();
}

CmdResult gannet(const std::string& args, const std::string& prefix = "") {
    const std::string out = tmp("stdout.txt");
    const std::string err = tmp("stderr.txt");
    const std::string cmd = prefix + std::string(GANNET_BINARY) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    CmdResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(out).value();
    r.err = read_file(err).value();
    return r;
}

class ModelCliTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ASSERT_TRUE(write_test_model({.arch = "llama", .n_ctx = 64}, model_path()).ok()); }
    static void TearDownTestSuite() {
        const std::string prefix = "gannet_cli_test_" + std::to_string(getpid()) + "_";
        for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
            if (entry.path().filename().string().rfind(prefix, 0) == 0) {
                std::filesystem::remove(entry.path());
            }
        }
    }
    static std::string model_path() { return tmp("llama.gguf"); }
};

void expect_user_error(const CmdResult& r, const std::string& message) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

TEST_F(ModelCliTest, LogitsMatchTheInProcessForward) {
    const std::string out = tmp("logits.bin");
    const CmdResult r = gannet("logits -m " + model_path() + " --tokens 1,50,60 --all --out " + out + " -t 1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = read_file(out).value();
    std::unique_ptr<Model> m = Model::load(model_path()).value();
    const int64_t n_vocab = m->config().n_vocab;
    ASSERT_EQ(bytes.size(), 3 * n_vocab * sizeof(float));
    auto runner = runner::Runner::create(*m, {.n_blocks = 1, .block_size = 16, .n_threads = 1}).value();
    const std::vector<int32_t> tokens = {1, 50, 60};
    std::span<const float> want = runner->run_sequence(tokens, 0, LogitsMode::kAll).value();
    EXPECT_EQ(std::memcmp(bytes.data(), want.data(), bytes.size()), 0);

    const CmdResult last = gannet("logits -m " + model_path() + " --tokens 1,50,60 --out " + out);
    ASSERT_EQ(last.exit_code, 0) << last.err;
    EXPECT_EQ(read_file(out).value().size(), n_vocab * sizeof(float));
}

TEST_F(ModelCliTest, RunIsReproducibleWithASeedAndPrintsTiming) {
    const std::string args = "run -m " + model_path() + " -p 'the cat' -n 8 --temp 1 --seed 7 -t 1";
    const CmdResult a = gannet(args);
    const CmdResult b = gannet(args);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.out, b.out);
    EXPECT_FALSE(a.out.empty());
    EXPECT_EQ(a.err.rfind("prompt: ", 0), 0u) << a.err;
    EXPECT_NE(a.err.find(" tok/s; generation: "), std::string::npos) << a.err;
}

TEST_F(ModelCliTest, ChatRendersThePromptThroughTheTemplate) {
    const CmdResult plain = gannet("run -m " + model_path() + " -p hi -n 1 --temp 0 -t 1");
    const CmdResult chat = gannet("run -m " + model_path() + " -p hi -n 1 --temp 0 -t 1 --chat");
    ASSERT_EQ(chat.exit_code, 0) << chat.err;
    // BOS + "hi" is a few tokens; the ChatML rendering adds the role markers around it.
    const int n_plain = std::stoi(plain.err.substr(8));
    const int n_chat = std::stoi(chat.err.substr(8));
    EXPECT_GT(n_chat, n_plain + 20) << plain.err << chat.err;
}

// A 16 kHz mono 16-bit WAV of n samples (a tone).
void write_wav(const std::string& path, int n) {
    std::string b = "RIFF....WAVEfmt ";
    auto u32 = [&](uint32_t v) {
        b.append(reinterpret_cast<const char*>(&v), 4);
    };
    auto u16 = [&](uint16_t v) {
        b.append(reinterpret_cast<const char*>(&v), 2);
    };
    u32(16), u16(1), u16(1), u32(16000), u32(32000), u16(2), u16(16);
    b += "data";
    u32(static_cast<uint32_t>(2 * n));
    for (int i = 0; i < n; ++i) {
        u16(static_cast<uint16_t>(static_cast<int16_t>(8000.0 * std::sin(0.05 * i))));
    }
    const uint32_t riff = static_cast<uint32_t>(b.size() - 8);
    std::memcpy(b.data() + 4, &riff, 4);
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
}

// `run --audio`: one soft token per 640 samples, plus the two markers, in the prompt count.
TEST_F(ModelCliTest, RunTakesAudioForAModelWithProjectors) {
    const std::string mm = tmp("g4mm.gguf");
    ASSERT_EQ(gannet("make-test-model --arch gemma4 --media --layers 2 --out " + mm).exit_code, 0);
    const std::string wav = tmp("a.wav");
    write_wav(wav, 8000);  // 13 frames
    const CmdResult text = gannet("run -m " + mm + " -p hi -n 2 --temp 0 -t 1");
    const CmdResult audio = gannet("run -m " + mm + " -p hi -n 2 --temp 0 -t 1 --audio " + wav);
    ASSERT_EQ(audio.exit_code, 0) << audio.err;
    int n_text = 0, n_audio = 0;
    ASSERT_EQ(std::sscanf(text.err.c_str(), "prompt: %d tokens", &n_text), 1) << text.err;
    ASSERT_EQ(std::sscanf(audio.err.c_str(), "prompt: %d tokens", &n_audio), 1) << audio.err;
    EXPECT_EQ(n_audio, n_text + 13 + 2);
    expect_user_error(gannet("run -m " + model_path() + " -p hi -n 2 --audio " + wav), "this model takes text only");
    expect_user_error(gannet("run -m " + mm + " -p hi -n 2 --image " + wav), "--image " + wav + ": ");
    expect_user_error(gannet("run -m " + mm + " -p hi -n 2 --image-tokens 71 --audio " + wav), "--image-tokens: ");
}

TEST_F(ModelCliTest, PerplexityEndsWithItsLine) {
    const std::string text = tmp("text.txt");
    std::ofstream(text) << std::string(40, 'a') + " the end of the story, and then the end again.";
    const CmdResult r = gannet("perplexity -m " + model_path() + " -f " + text + " -c 16");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("perplexity: ", 0), 0u) << r.out;
    EXPECT_GT(std::stod(r.out.substr(12)), 1.0);
}

TEST_F(ModelCliTest, BenchEndsWithJson) {
    const CmdResult r = gannet("bench -m " + model_path() + " -p 16 -n 4 -t 1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* key : {"\"model\":", "\"dtype\":\"f32\"", "\"threads\":1", "\"prefill_tok_s\":",
                            "\"decode_tok_s\":", "\"decode_gb_s\":", "\"n_prompt\":16", "\"n_gen\":4}"}) {
        EXPECT_NE(r.out.find(key), std::string::npos) << key << " in " << r.out;
    }
}

TEST_F(ModelCliTest, BadFilesGiveOneLineErrors) {
    const std::string empty = tmp("empty.gguf");
    std::ofstream(empty).close();
    expect_user_error(gannet("logits -m " + empty + " --tokens 1 --out " + tmp("x.bin")),
                      "gannet logits: gguf: " + empty + ": file is 0 bytes");
    expect_user_error(gannet("logits -m /nonexistent/m.gguf --tokens 1 --out " + tmp("x.bin")),
                      "/nonexistent/m.gguf: cannot open");
    const std::string text = tmp("not.gguf");
    std::ofstream(text) << "hello, not a model";
    expect_user_error(gannet("run -m " + text + " -p hi"), "not a GGUF file");
    const std::string truncated = tmp("truncated.gguf");
    const std::string whole = read_file(model_path()).value();
    std::ofstream(truncated, std::ios::binary) << whole.substr(0, whole.size() / 2);
    const CmdResult r = gannet("bench -m " + truncated + " -p 4 -n 1");
    expect_user_error(r, "gannet bench: gguf: " + truncated);
}

// Issue #13: a valid small llama file whose block_count is 0xFFFFFFFF or 1e8 aborted run, logits
// and serve with std::bad_alloc; now each exits 1 with one line naming the key, value and limit.
TEST_F(ModelCliTest, HugeBlockCountIsAOneLineErrorNotAnAbort) {
    for (uint32_t n_layers : {0xFFFFFFFFu, 100000000u}) {
        gguf::Writer w = build_test_model({.arch = "llama"}).value();
        w.set_u32("llama.block_count", n_layers);
        const std::string path = tmp("layers.gguf");
        ASSERT_TRUE(w.write(path).ok());
        const std::string want = "model: llama.block_count is " + std::to_string(n_layers) + ", expected 1..4096";
        expect_user_error(gannet("run -m " + path + " -p hi -n 1"), "gannet run: " + want);
        expect_user_error(gannet("logits -m " + path + " --tokens 1,2 --out " + tmp("x.bin")),
                          "gannet logits: " + want);
        expect_user_error(gannet("serve -m " + path + " --port 0", "timeout 60 "), "gannet serve: " + want);
    }
}

// The last line of defence in main.cc: an exception escaping a command (here std::system_error when
// a 300 MB address-space cap refuses the 255 worker threads' stacks) is one line and exit 70, not
// std::terminate's abort.
TEST_F(ModelCliTest, AnEscapedExceptionIsOneInternalErrorLine) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "sanitizer runtimes need more address space than the cap";
#endif
    const CmdResult r =
        gannet("logits -m " + model_path() + " --tokens 1,2 -t 256 --out " + tmp("x.bin"), "ulimit -v 300000; ");
    EXPECT_EQ(r.exit_code, 70) << r.err;
    EXPECT_EQ(r.err.rfind("gannet: internal error: logits: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(ModelCliTest, UnknownArchitectureIsAUserError) {
    gguf::Writer w;
    w.set_string("general.architecture", "mamba");
    const std::string path = tmp("mamba.gguf");
    ASSERT_TRUE(w.write(path).ok());
    expect_user_error(gannet("logits -m " + path + " --tokens 1 --out " + tmp("x.bin")),
                      "gannet logits: model: unsupported architecture 'mamba'");
}

TEST_F(ModelCliTest, PromptLongerThanContextIsAUserError) {
    const std::string path = tmp("short.gguf");
    ASSERT_TRUE(write_test_model({.arch = "qwen3", .n_ctx = 8}, path).ok());
    expect_user_error(gannet("run -m " + path + " -p 'a much longer prompt'"),
                      "tokens exceeds the context length of 8");
    expect_user_error(gannet("logits -m " + path + " --tokens 1,2,3,4,5,6,7,8,9 --out " + tmp("x.bin")),
                      "9 tokens exceed the model's context length of 8");
}

TEST_F(ModelCliTest, BadFlagsAreUserErrors) {
    expect_user_error(gannet("run -m " + model_path() + " -p hi --bogus"), "unknown flag '--bogus'");
    expect_user_error(gannet("logits -m " + model_path() + " --tokens 1,x --out " + tmp("x.bin")),
                      "--tokens: 'x' is not a token id");
    expect_user_error(gannet("logits -m " + model_path() + " --tokens 1,999 --out " + tmp("x.bin")),
                      "token id 999 out of range");
    expect_user_error(gannet("bench"), "-m/--model is required");
    expect_user_error(gannet("run -m " + model_path() + " -p hi --top-p 0"), "top_p 0 must be in (0, 1]");
    expect_user_error(gannet("make-test-model --arch rwkv --out " + tmp("x.gguf")), "unknown architecture 'rwkv'");
    EXPECT_EQ(gannet("run --help").exit_code, 0);
    // --device on every model command: unknown devices and cuda-only flags on the CPU are one-line errors.
    expect_user_error(gannet("run -m " + model_path() + " -p hi --device tpu"), "--device must be cpu or cuda");
    expect_user_error(gannet("bench -m " + model_path() + " -p 4 -n 1 --device tpu"), "'tpu' is not cpu or cuda");
    expect_user_error(gannet("logits -m " + model_path() + " --tokens 1 --out " + tmp("x.bin") + " --device tpu"),
                      "'tpu' is not cpu or cuda");
    const std::string text = tmp("device.txt");
    std::ofstream(text) << std::string(40, 'a');
    expect_user_error(gannet("perplexity -m " + model_path() + " -f " + text + " -c 16 --device tpu"),
                      "'tpu' is not cpu or cuda");
    expect_user_error(gannet("bench -m " + model_path() + " -p 4 -n 1 --placement mapped"),
                      "--placement and --vram-budget need --device cuda");
}

// --kv-type on every model command: unknown names fail in one line naming the accepted types;
// names are case-insensitive; a block type on a head_dim-16 model (this suite's model) is refused.
TEST_F(ModelCliTest, KvTypeFlag) {
    const std::string m = model_path();
    const std::string text = tmp("kv_text.txt");
    std::ofstream(text) << std::string(40, 'a') + " the end of the story, and then the end again.";
    const std::string accepted = "kv cache: unknown cache type 'q5_k' (expected f32, f16, q8_0 or q4_0)";
    expect_user_error(gannet("run -m " + m + " -p hi -n 1 --kv-type q5_k"), "gannet run: " + accepted);
    expect_user_error(gannet("logits -m " + m + " --tokens 1 --out " + tmp("x.bin") + " --kv-type q5_k"),
                      "gannet logits: " + accepted);
    expect_user_error(gannet("perplexity -m " + m + " -f " + text + " -c 16 --kv-type q5_k"),
                      "gannet perplexity: " + accepted);
    expect_user_error(gannet("bench -m " + m + " -p 4 -n 1 --kv-type q5_k"), "gannet bench: " + accepted);
    expect_user_error(gannet("serve -m " + m + " --port 0 --kv-type q5_k"), "gannet serve: " + accepted);
    for (const char* cmd : {"run", "logits", "perplexity", "bench"}) {
        EXPECT_NE(gannet(std::string(cmd) + " --help").out.find("--kv-type"), std::string::npos) << cmd;
    }
    EXPECT_NE(gannet("serve --help").out.find("--kv-type"), std::string::npos);

    // Every command builds its cache through the runner, so one message says it.
    const std::string head_dim = "head_dim 16 is not a multiple of 32, which a q8_0 cache needs";
    expect_user_error(gannet("run -m " + m + " -p hi -n 1 --kv-type Q8_0"), head_dim);
    expect_user_error(gannet("bench -m " + m + " -p 4 -n 1 --kv-type q8_0"), head_dim);
    expect_user_error(gannet("logits -m " + m + " --tokens 1 --out " + tmp("x.bin") + " --kv-type q8_0"), head_dim);
    // serve checks the layout before it listens (timeout: a regression must not hang the suite).
    expect_user_error(gannet("serve -m " + m + " --port 0 --kv-type q4_0", "timeout 60 "),
                      "head_dim 16 is not a multiple of 32, which a q4_0 cache needs");

    // f16 works on any head size and stays within 1e-3 (relative L2) of the f32 logits.
    const std::string f32_out = tmp("kv_f32.bin");
    const std::string f16_out = tmp("kv_f16.bin");
    ASSERT_EQ(gannet("logits -m " + m + " --tokens 1,50,60,7 --all --out " + f32_out + " -t 1").exit_code, 0);
    const CmdResult f16 =
        gannet("logits -m " + m + " --tokens 1,50,60,7 --all --out " + f16_out + " -t 1 --kv-type F16");
    ASSERT_EQ(f16.exit_code, 0) << f16.err;
    const std::string a = read_file(f32_out).value();
    const std::string b = read_file(f16_out).value();
    ASSERT_EQ(a.size(), b.size());
    std::vector<float> fa(a.size() / 4), fb(b.size() / 4);
    std::memcpy(fa.data(), a.data(), a.size());
    std::memcpy(fb.data(), b.data(), b.size());
    double err = 0.0, norm = 0.0;
    for (size_t i = 0; i < fa.size(); ++i) {
        err += (fa[i] - fb[i]) * (fa[i] - fb[i]);
        norm += fa[i] * fa[i];
    }
    EXPECT_LT(std::sqrt(err / norm), 1e-3);
    EXPECT_GT(err, 0.0);  // the flag reached the cache

    // A head_dim-32 model takes q8_0/q4_0; bench reports the type it used.
    const std::string wide = tmp("wide.gguf");
    ASSERT_TRUE(write_test_model(
                    {.arch = "llama", .n_ctx = 64, .n_embd = 128, .n_ff = 256, .n_heads = 4, .n_kv_heads = 2}, wide)
                    .ok());
    const CmdResult q8 = gannet("bench -m " + wide + " -p 16 -n 4 -t 1 --kv-type q8_0");
    ASSERT_EQ(q8.exit_code, 0) << q8.err;
    EXPECT_NE(q8.out.find("\"kv_type\":\"q8_0\""), std::string::npos) << q8.out;
    const CmdResult q4 = gannet("perplexity -m " + wide + " -f " + text + " -c 16 --kv-type q4_0");
    ASSERT_EQ(q4.exit_code, 0) << q4.err;
    EXPECT_EQ(q4.out.rfind("perplexity: ", 0), 0u) << q4.out;
    const CmdResult run = gannet("run -m " + wide + " -p 'the cat' -n 4 --temp 0 -t 1 --kv-type q4_0");
    EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST_F(ModelCliTest, SparseAttentionFlagsAndTheAttentionBench) {
    // msa needs an index branch: one line naming quest; an unknown mode names the accepted ones.
    const CmdResult msa =
        gannet("logits -m " + model_path() + " --tokens 1,2,3 -o " + tmp("l.f32") + " --sparse-attention msa");
    EXPECT_EQ(msa.exit_code, 1);
    EXPECT_NE(msa.err.find("use quest"), std::string::npos) << msa.err;
    const CmdResult bad = gannet("run -m " + model_path() + " -p hi -n 2 --sparse-attention sometimes");
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("(off, quest, msa)"), std::string::npos) << bad.err;
    const CmdResult quest =
        gannet("run -m " + model_path() + " -p 'the cat' -n 4 --temp 0 -t 1 --sparse-attention quest");
    EXPECT_EQ(quest.exit_code, 0) << quest.err;
    // `bench attention`: one JSON line with the keys the issue names, the prefill run in full here.
    const CmdResult b = gannet("bench attention --ctx 640 --sparse quest --json -t 1");
    ASSERT_EQ(b.exit_code, 0) << b.err;
    for (const char* key : {"\"ctx\":640", "\"mode\":\"quest\"", "\"prefill_ms\":", "\"decode_ms\":",
                            "\"dense_prefill_ms\":", "\"dense_decode_ms\":", "\"prefill_sampled\":false"}) {
        EXPECT_NE(b.out.find(key), std::string::npos) << key << " in " << b.out;
    }
    EXPECT_EQ(std::count(b.out.begin(), b.out.end(), '\n'), 1) << b.out;
    const CmdResult off = gannet("bench attention --ctx 64 --sparse dense");
    EXPECT_EQ(off.exit_code, 1);
    EXPECT_NE(off.err.find("--sparse"), std::string::npos) << off.err;
}

}  // namespace
}  // namespace gannet::model
