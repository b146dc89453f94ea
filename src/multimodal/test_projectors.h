// Random gemma4uv/gemma4ua projector tensors for tests and `gannet make-test-model --media`: added to
// a model writer (a gemma4 test model) so one file carries the text tower and the projectors.
// Owner: multimodal. Thread-safety: pure.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "gguf/gguf_writer.h"

namespace gannet::multimodal {

// Adds every tensor load_vision_projector and load_audio_projector read, projecting to n_embd, with
// an embed_dim-wide patch embedding (E) and a position table of posemb_size rows per axis, plus the
// clip.*.projector_type keys. Norm weights ~1 +- 0.1, other values scaled so soft tokens are of the
// order of the model's embedding rows. kInvalidArgument for non-positive sizes; the writer's errors.
Status add_test_projectors(gguf::Writer& w, int64_t n_embd, int64_t embed_dim, int64_t posemb_size, uint64_t seed);

}  // namespace gannet::multimodal
