// gannet logits: runs a model over given token ids and writes the raw logits, for comparison with
// reference implementations. Needs no tokenizer metadata. The ids are one prefill through the
// device's runner (server::SequenceRunner: the CPU or the CUDA runner, the one forward of each).
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "model/model.h"
#include "model_cli.h"
#include "server/model_runtime.h"

namespace gannet::app {
namespace {

static_assert(std::endian::native == std::endian::little, "logits are written as little-endian float32");

Result<std::vector<int32_t>> parse_token_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        errno = 0;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || errno == ERANGE || v < 0 || v > INT32_MAX) {
            return make_error(ErrorCode::kInvalidArgument, "--tokens: '%s' is not a token id (in '%s')", item.c_str(),
                              text.c_str());
        }
        ids.push_back(static_cast<int32_t>(v));
        start = comma + 1;
    }
    return ids;
}

Status write_floats(const std::string& path, std::span<const float> values) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) {
        return make_error(ErrorCode::kInvalidArgument, "%s: cannot create: %s", path.c_str(), std::strerror(errno));
    }
    if (std::fwrite(values.data(), sizeof(float), values.size(), f.get()) != values.size()
        || std::fflush(f.get()) != 0) {
        return make_error(ErrorCode::kInvalidArgument, "%s: write failed: %s", path.c_str(), std::strerror(errno));
    }
    return Status();
}

// --recall: report the attention-mass recall of the block selection (stdout, one JSON line).
struct RecallOptions {
    bool is_on = false;
    int64_t quest_block = 0;  // 0: the model's
    int64_t quest_topk = 0;
};

void print_recall(const model::RecallStats& r, const model::Model& m, const RecallOptions& o) {
    double sum = 0.0;
    int64_t n = 0;
    std::string layers;
    for (size_t l = 0; l < r.sum.size(); ++l) {
        sum += r.sum[l];
        n += r.count[l];
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%s%.4f", l ? "," : "", r.count[l] ? r.sum[l] / r.count[l] : 1.0);
        layers += buf;
    }
    std::printf(
        "{\"recall\":\"attention mass in the selected blocks\",\"mode\":\"%s\",\"quest_block\":%lld,"
        "\"quest_topk\":%lld,\"pairs\":%lld,\"mean\":%.4f,\"min\":%.4f,\"per_layer\":[%s]}\n",
        model::sparse_mode_name(m.sparse_mode()), static_cast<long long>(o.quest_block),
        static_cast<long long>(o.quest_topk), static_cast<long long>(n), n ? sum / static_cast<double>(n) : 1.0, r.min,
        layers.c_str());
}

Status logits(const std::string& model_path, const std::string& tokens_text, bool is_all, const std::string& out,
              int n_threads, bool on_cuda, tensor::DType kv_type, const std::string& sparse_attention,
              const RecallOptions& recall) {
    GANNET_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, parse_token_list(tokens_text));
    GANNET_ASSIGN_OR_RETURN(const model::SparseMode sparse, model::parse_sparse_mode(sparse_attention));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> m, model::Model::load(model_path));
    if (Status st = m->set_sparse_mode(sparse); !st.ok()) {
        return make_error(st.code(), "--sparse-attention %s: %s", sparse_attention.c_str(), st.message().c_str());
    }
    model::RecallStats stats;
    if (recall.is_on) {
        if (recall.quest_block > 0 || recall.quest_topk > 0) {
            GANNET_RETURN_IF_ERROR(m->set_quest_params(recall.quest_block > 0 ? recall.quest_block : 128,
                                                       recall.quest_topk > 0 ? recall.quest_topk : 16));
        }
        m->set_recall_probe(&stats);
    }
    if (on_cuda) {
        GANNET_RETURN_IF_ERROR(model::check_cuda_support(m->config()));
    }
    if (on_cuda && m->sparse_mode() != model::SparseMode::kOff) {
        return make_error(ErrorCode::kUnimplemented,
                          "--sparse-attention %s runs on the CPU only for now; use --sparse-attention off with "
                          "--device cuda",
                          model::sparse_mode_name(m->sparse_mode()));
    }
    const int64_t n_ctx_train = m->config().n_ctx_train;
    if (static_cast<int64_t>(tokens.size()) > n_ctx_train) {
        return make_error(ErrorCode::kInvalidArgument, "%zu tokens exceed the model's context length of %lld",
                          tokens.size(), static_cast<long long>(n_ctx_train));
    }
    const model::LogitsMode mode = is_all ? model::LogitsMode::kAll : model::LogitsMode::kLast;
    if (on_cuda && m->config().is_diffusion()) {
        return make_error(ErrorCode::kUnimplemented, "--device cuda: diffusion models run on the CPU only");
    }
    // The prompt as one prefill through the device's runner (the one forward), every row's logits if asked.
    GANNET_ASSIGN_OR_RETURN(
        std::unique_ptr<server::SequenceRunner> runner,
        server::SequenceRunner::create(*m, on_cuda ? "cuda" : "cpu",
                                       std::max<int64_t>(1, static_cast<int64_t>(tokens.size())), n_threads, kv_type));
    GANNET_ASSIGN_OR_RETURN(std::span<const float> values, runner->run(tokens, 0, mode));
    GANNET_RETURN_IF_ERROR(write_floats(out, values));
    if (recall.is_on) {
        print_recall(stats, *m, recall);
    }
    return Status();
}

int run_logits(const std::vector<std::string>& args) {
    std::string model_path;
    std::string tokens;
    std::string out;
    bool is_all = false;
    int64_t threads = 0;
    std::string kv_type_name = "f32";
    tensor::DType kv_type = tensor::DType::kF32;
    Flags flags("logits");
    flags.add_string("-m,--model", &model_path, "GGUF model file");
    flags.add_string("--tokens", &tokens, "comma-separated token ids, e.g. 1,2,3");
    flags.add_bool("--all", &is_all, "write logits of every position, not only the last");
    flags.add_string("-o,--out", &out, "output file: little-endian float32, n_vocab per position");
    flags.add_int("-t,--threads", &threads, "threads (default: all)");
    flags.add_string("--kv-type", &kv_type_name, kKvTypeHelp);
    std::string device = "cpu";
    flags.add_string("--device", &device, "cpu (default) or cuda");
    std::string sparse_attention = "default";
    flags.add_string("--sparse-attention", &sparse_attention, kSparseAttentionHelp);
    RecallOptions recall;
    flags.add_bool("--recall", &recall.is_on,
                   "print the attention-mass recall of the sparse selection as a JSON line (slow: dense softmax too)");
    flags.add_int("--quest-block", &recall.quest_block, "with --recall: quest's block size in tokens (default 128)");
    flags.add_int("--quest-topk", &recall.quest_topk, "with --recall: quest's k (default 16)");
    if (wants_help(args)) {
        std::printf("gannet logits: write a model's raw logits for given token ids\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = require_flag(flags.was_set("--model"), "-m/--model");
    }
    if (s.ok()) {
        s = require_flag(flags.was_set("--tokens"), "--tokens");
    }
    if (s.ok()) {
        s = require_flag(flags.was_set("--out"), "-o/--out");
    }
    if (s.ok() && device != "cpu" && device != "cuda") {
        s = make_error(ErrorCode::kInvalidArgument, "--device: '%s' is not cpu or cuda", device.c_str());
    }
    if (s.ok()) {
        s = parse_kv_type(kv_type_name, &kv_type);
    }
    Result<int> n_threads = resolve_threads(threads);
    if (s.ok() && !n_threads.has_value()) {
        s = n_threads.error();
    }
    if (s.ok()) {
        s = logits(model_path, tokens, is_all, out, *n_threads, device == "cuda", kv_type, sparse_attention, recall);
    }
    return s.ok() ? 0 : fail("logits", s);
}

}  // namespace

GANNET_COMMAND("logits", "write raw float32 logits of a model for given token ids", run_logits);

}  // namespace gannet::app
