// The Gemma 4 12B encoder-free projectors on the CPU (papers.md §1), loaded from GGUF by the llama.cpp
// `gemma4uv` / `gemma4ua` tensor names, from a separate mmproj file or the model file itself.
// Image: LN1 (6912) -> patch Linear 6912->E (+bias) -> LN2 (E) -> + pos[x,0] + pos[y,1] -> pos LN (E)
// -> weightless RMSNorm (1e-6) -> projection E->D (no bias). Audio: weightless RMSNorm over the 640
// raw samples (1e-6) -> Linear 640->D (no bias). f32 reference math, the baseline the CUDA path and
// the transformers reference are checked against. Weights are held as f32 (dequantised at load).
// Thread-safety: immutable after load; share freely.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "gguf/gguf_file.h"
#include "multimodal/audio.h"
#include "multimodal/image_preprocess.h"

namespace gannet::multimodal {

inline constexpr float kLayerNormEps = 1e-5f;  // the three embedder LayerNorms
inline constexpr float kRmsNormEps = 1e-6f;    // the weightless RMSNorms before the projections

// Tensor names (ggml order: shape[0] is the input width, contiguous). The patch, projection and
// audio names are llama.cpp's (papers.md §1); the norm and position-table names follow llama.cpp's
// clip naming and must be checked against a real gemma4uv mmproj (docs/multimodal.md).
inline constexpr char kVisionInNormW[] = "v.input_norm.weight";         // [6912] LN1
inline constexpr char kVisionInNormB[] = "v.input_norm.bias";           // [6912]
inline constexpr char kVisionPatchW[] = "v.patch_embd.weight";          // [6912, E]
inline constexpr char kVisionPatchB[] = "v.patch_embd.bias";            // [E]
inline constexpr char kVisionEmbdNormW[] = "v.patch_embd_norm.weight";  // [E] LN2
inline constexpr char kVisionEmbdNormB[] = "v.patch_embd_norm.bias";    // [E]
inline constexpr char kVisionPosEmbd[] = "v.position_embd.weight";      // [E, 2, 1120]: (x row, y row)
inline constexpr char kVisionPosNormW[] = "v.position_norm.weight";     // [E] pos_norm
inline constexpr char kVisionPosNormB[] = "v.position_norm.bias";       // [E]
inline constexpr char kVisionProjW[] = "mm.input_projection.weight";    // [E, D]
inline constexpr char kAudioProjW[] = "mm.a.input_projection.weight";   // [640, D]

struct VisionProjector {
    int64_t embed_dim = 0;                        // E: mm_embed_dim (3840)
    int64_t out_dim = 0;                          // D: the language model's width
    int64_t posemb_size = 0;                      // mm_posemb_size (1120): positions per axis
    std::vector<float> in_norm_w, in_norm_b;      // [6912]
    std::vector<float> patch_w;                   // [E, 6912] row-major (out, in)
    std::vector<float> patch_b;                   // [E]
    std::vector<float> embd_norm_w, embd_norm_b;  // [E]
    std::vector<float> pos_table;                 // [posemb_size, 2, E]
    std::vector<float> pos_norm_w, pos_norm_b;    // [E]
    std::vector<float> proj_w;                    // [D, E]
};

struct AudioProjector {
    int64_t out_dim = 0;        // D
    std::vector<float> proj_w;  // [D, 640]
};

// Loads the vision projector: every tensor above must be present with a consistent shape, in a
// dtype tensor::dequantize_row handles (converted to f32). When the file names a projector type
// (clip.projector_type or clip.vision.projector_type) it must be "gemma4uv".
// Errors: kNotFound naming a missing tensor; kDataLoss naming a tensor with a wrong shape (actual and
// expected) or dtype, or the wrong projector type.
Result<VisionProjector> load_vision_projector(const gguf::File& file);
// As load_vision_projector for mm.a.input_projection.weight; type key clip.audio.projector_type =
// "gemma4ua" when present.
Result<AudioProjector> load_audio_projector(const gguf::File& file);

// Soft tokens [n_patches, D] for the patches of one image; the products run on `pool`.
// kInvalidArgument when a patch position is outside the position table; matmul's errors otherwise.
Result<std::vector<float>> project_image(const VisionProjector& projector, const Patches& patches, ThreadPool& pool);

// Soft tokens [n_frames, D], one per 640-sample frame (the zero-padded last frame included: the
// padding mask only says which samples are real; the frame still becomes a token).
Result<std::vector<float>> project_audio(const AudioProjector& projector, const AudioFrames& frames, ThreadPool& pool);

}  // namespace gannet::multimodal
