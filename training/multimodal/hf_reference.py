"""Reference fixtures for Gannet's encoder-free multimodal path from HF transformers `gemma4_unified`.

NOT YET RUN: written on a machine without a GPU or transformers; run it on the GPU machine first and
fix what its assertions report (every assumption about transformers' names is checked with a message
that prints what was found). What it does (papers.md §1 "How to verify"):
  1. builds a tiny random Gemma4UnifiedConfig (text width 64, mm_embed_dim 32) and the model, with
     random LayerNorm weights/biases so the norms are exercised;
  2. token counts: the image processor's num_soft_tokens_per_image for many (h, w), extreme aspect
     ratios included, at every budget -> mm_reference.json (Gannet: n_soft_tokens());
  3. a fixed 200x120 image (numpy pattern, saved as PNG) -> the processor's pixel values and the
     vision embedder's soft tokens (float32) -> image_pixels.f32, image_embeddings.f32;
  4. a fixed 1.3 s 16 kHz waveform (saved as WAV) -> audio_embeddings.f32;
  5. the projector as mmproj.gguf under Gannet's tensor names (src/multimodal/projector.h), via
     ../gguf_writer.py. The LayerNorms are identified by the order forward hooks see them (LN1 on
     6912 values, then LN2, then pos_norm), not by attribute names.
Gannet's side then loads mmproj.gguf, runs decode -> preprocess -> project on image.png / audio.wav
and compares: token counts equal; f32 embeddings within 1e-4 relative (pure-linear path).

    python3 training/multimodal/hf_reference.py --out /tmp/mm_ref
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gguf_writer import GGMLType, GGUFWriter  # noqa: E402

BUDGETS = [70, 140, 280, 560, 1120]
SIZES = [(1000, 1000), (1080, 1920), (1920, 1080), (4000, 3000), (1, 10000), (10000, 1), (3, 1000),
         (100, 10000), (1, 100), (1, 1), (47, 49), (768, 768), (20, 4000)]


def need(cond, what):
    if not cond:
        sys.exit(f"hf_reference: {what}")


def by_class(model, name):
    found = [m for m in model.modules() if type(m).__name__ == name]
    need(found, f"no module of class {name}; classes: {sorted({type(m).__name__ for m in model.modules()})}")
    return found[0]


def fixed_image():
    y, x = np.mgrid[0:120, 0:200]
    rgb = np.stack([(x * 255 // 199), (y * 255 // 119), ((x // 8 + y // 8) % 2) * 200 + 20], -1)
    return rgb.astype(np.uint8)


def fixed_waveform():
    t = np.arange(int(1.3 * 16000)) / 16000.0
    return (0.4 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import torch
    import transformers
    from PIL import Image
    need(hasattr(transformers, "Gemma4UnifiedConfig"),
         f"transformers {transformers.__version__} has no gemma4_unified; install a version that does")
    torch.manual_seed(0)
    cfg = transformers.Gemma4UnifiedConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=32, vocab_size=262144),
        vision_config=dict(mm_embed_dim=32, mm_posemb_size=1120, output_proj_dims=64),
        audio_config=dict(output_proj_dims=64))
    model = transformers.Gemma4UnifiedForConditionalGeneration(cfg).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))

    # 2. Token counts from the processor.
    proc_cls = transformers.Gemma4UnifiedImageProcessor
    counts = {}
    for budget in BUDGETS:
        proc = proc_cls(max_soft_tokens=budget)
        for (h, w) in SIZES:
            out = proc(images=Image.fromarray(np.zeros((h, w, 3), np.uint8)), return_tensors="pt")
            need("num_soft_tokens_per_image" in out, f"processor output keys: {list(out.keys())}")
            counts[f"{h}x{w}@{budget}"] = int(np.asarray(out["num_soft_tokens_per_image"]).reshape(-1)[0])

    # 3. The fixed image through the processor and the vision embedder.
    img = fixed_image()
    Image.fromarray(img).save(os.path.join(args.out, "image.png"))
    inputs = proc_cls(max_soft_tokens=280)(images=Image.fromarray(img), return_tensors="pt")
    pixels = inputs["pixel_values"].float()
    pixels.numpy().astype("<f4").tofile(os.path.join(args.out, "image_pixels.f32"))
    vision = by_class(model, "Gemma4UnifiedVisionEmbedder")
    mm = by_class(model, "Gemma4UnifiedMultimodalEmbedder")
    norms = []
    hooks = [m.register_forward_hook(lambda m, i, o: norms.append(m)) for m in vision.modules()
             if isinstance(m, torch.nn.LayerNorm)]
    with torch.no_grad():
        feats = model.get_image_features(**{k: v for k, v in inputs.items() if k != "num_soft_tokens_per_image"})
    for h in hooks:
        h.remove()
    feats = feats if torch.is_tensor(feats) else feats[0]
    emb = feats.reshape(-1, feats.shape[-1]).float().numpy()
    emb.astype("<f4").tofile(os.path.join(args.out, "image_embeddings.f32"))
    seen = list(dict.fromkeys(norms))
    need(len(seen) == 3 and seen[0].normalized_shape[0] == 6912, f"LayerNorms seen: {seen}")

    # 4. Audio.
    wav = fixed_waveform()
    with wave.open(os.path.join(args.out, "audio.wav"), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000)
        f.writeframes((np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes())
    pcm = np.frombuffer(open(os.path.join(args.out, "audio.wav"), "rb").read()[44:], "<i2") / 32768.0
    fe = transformers.Gemma4UnifiedAudioFeatureExtractor()
    a_in = fe(pcm.astype(np.float32), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        a_feats = model.get_audio_features(**a_in)
    a_feats = a_feats if torch.is_tensor(a_feats) else a_feats[0]
    a_feats.reshape(-1, a_feats.shape[-1]).float().numpy().astype("<f4").tofile(
        os.path.join(args.out, "audio_embeddings.f32"))

    # 5. mmproj.gguf under Gannet's names (ggml order = torch shape reversed; the writer reverses).
    sd = {n: p.detach().float().numpy() for n, p in model.named_parameters()}
    def param(module, attr):
        t = getattr(module, attr).detach().float().numpy()
        return t
    dense = [m for m in vision.modules() if isinstance(m, torch.nn.Linear)]
    need(len(dense) == 1 and dense[0].in_features == 6912, f"vision Linear layers: {dense}")
    proj = [m for m in mm.modules() if isinstance(m, torch.nn.Linear)]
    pos = [p for n, p in vision.named_parameters() if p.dim() == 3]
    need(len(pos) == 1 and pos[0].shape[1] == 2, f"position table candidates: {[p.shape for p in pos]}")
    w = GGUFWriter()
    w.add_string("general.architecture", "clip")
    w.add_string("clip.vision.projector_type", "gemma4uv")
    w.add_string("clip.audio.projector_type", "gemma4ua")
    for ln, name in zip(seen, ["v.input_norm", "v.patch_embd_norm", "v.position_norm"]):
        w.add_tensor(name + ".weight", param(ln, "weight"), GGMLType.F32)
        w.add_tensor(name + ".bias", param(ln, "bias"), GGMLType.F32)
    w.add_tensor("v.patch_embd.weight", param(dense[0], "weight"), GGMLType.F32)
    w.add_tensor("v.patch_embd.bias", param(dense[0], "bias"), GGMLType.F32)
    w.add_tensor("v.position_embd.weight", pos[0].detach().float().numpy(), GGMLType.F32)
    need(len(proj) >= 1, "no projection Linear in the multimodal embedder")
    w.add_tensor("mm.input_projection.weight", param(proj[0], "weight"), GGMLType.F32)
    audio_lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.in_features == 640]
    need(len(audio_lin) == 1, f"audio Linear 640->D candidates: {audio_lin}")
    w.add_tensor("mm.a.input_projection.weight", param(audio_lin[0], "weight"), GGMLType.F32)
    w.write(os.path.join(args.out, "mmproj.gguf"))
    json.dump({"transformers": transformers.__version__, "token_counts": counts,
               "image_embeddings_shape": list(emb.shape), "pixel_values_shape": list(pixels.shape),
               "audio_embeddings_shape": list(a_feats.reshape(-1, a_feats.shape[-1]).shape),
               "n_params": len(sd)}, open(os.path.join(args.out, "mm_reference.json"), "w"), indent=1)
    print(f"hf_reference: wrote {args.out}")


if __name__ == "__main__":
    main()
