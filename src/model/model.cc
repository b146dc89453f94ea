#include "model/model.h"

#include "tensor/dtype.h"

namespace gannet::model {

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
    GANNET_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
    return from_file(std::move(file));
}

Result<std::unique_ptr<Model>> Model::from_file(gguf::File file) {
    GANNET_ASSIGN_OR_RETURN(ModelConfig cfg, read_model_config(file));
    GANNET_ASSIGN_OR_RETURN(ModelWeights weights, bind_weights(file, cfg));
    // Moving the File keeps the mapping (held by unique_ptr) in place, so the views stay valid.
    return std::make_unique<Model>(Key(), std::move(file), std::move(cfg), std::move(weights));
}

const char* Model::dtype_name() const {
    return tensor::dtype_name(weights_.layers.front().w_down.dtype);
}

// Buffers only grow; resize() of a vector within its size does not touch the heap.
void Model::reserve(int64_t n_tokens, int64_t n_logit_rows) {
    auto grow = [](std::vector<float>& v, int64_t n) {
        if (static_cast<int64_t>(v.size()) < n) {
            v.resize(static_cast<size_t>(n));
        }
    };
    grow(x_, n_tokens * cfg_.n_embd);
    grow(xb_, n_tokens * cfg_.n_embd);
    grow(q_, n_tokens * cfg_.q_dim());
    grow(att_, n_tokens * cfg_.n_heads * cfg_.head_dim_v);
    grow(out_, n_tokens * cfg_.n_embd);
    grow(gate_, n_tokens * cfg_.n_ff);
    grow(up_, n_tokens * cfg_.n_ff);
    grow(logits_, n_logit_rows * cfg_.n_vocab);
}

}  // namespace gannet::model
