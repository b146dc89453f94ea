"""Reference fixtures for Gannet's encoder-free multimodal model (issue #20) from HF transformers
`gemma4_unified`: a tiny random Gemma4UnifiedForConditionalGeneration, one image and one waveform
through the processor and the model, logits at every position, all written with the model's GGUF.

Run (GPU machine or any machine with torch + transformers >= 5.17; CPU float32 is used, < 60 s):
    python3 training/mm_reference.py --out DIR
Writes into DIR (about 2 MB):
  model.gguf              the whole model, architecture "gemma4" (text tower + gemma4uv/gemma4ua
                          projector tensors in one file), layout below
  image.png, audio.wav    the inputs (a 336x480 gradient: at budget 70 it is exactly 7x10 patches,
                          so the processor does not resize and Gannet's pixels are exact; a 0.5 s
                          16-bit mono 16 kHz clip: 13 frames, the last one zero padded)
  image_pixels.f32        the processor's pixel_values without padding [n_img, 6912]
  image_embeddings.f32    the soft tokens [n_img, D] (get_image_features, padding stripped)
  audio_embeddings.f32    [n_aud, D] (get_audio_features)
  logits_causal.f32       [T, V] logits of the prompt in mm_reference.json, causal mask everywhere
                          (the model's forward without mm_token_type_ids)
  logits_bidir.f32        [T, V] the same with the mask generate() builds from mm_token_type_ids
                          (create_masks_for_generate: bidirectional inside the image on sliding
                          layers); masks_bidir.u8 holds those masks [n_layer_types, T, T] (1 = attends)
  logits_text.f32         [T_text, V] a text-only prompt
  mm_reference.json       config, token ids, shapes, token counts of the processor for many sizes,
                          what succeeded (every section is attempted; a failure is reported there and
                          on stderr, and the script exits 1 at the end)
GGUF layout (ggml order = torch shape reversed; the writer reverses): token_embd, output_norm,
blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm, attn_k_norm,
post_attention_norm, ffn_norm, post_ffw_norm, ffn_gate, ffn_up, ffn_down}.weight (Gemma 4's RMSNorm
multiplies by w itself, stored as is), blk.N.layer_output_scale.weight [1] (the layer_scalar buffer),
projector tensors under src/multimodal/projector.h's names. Text-tower choices of the tiny config:
layer 0 sliding, layer 1 full (gemma4.attention.sliding_window_pattern, a bool per layer), equal
head_dim on both (global_head_dim = head_dim), default rope on both (theta 10000 sliding, 1e6 full),
attention scaling 1.0, weightless v_norm, final logit softcap 30, tied embeddings. Special token ids
are remapped into the 512-token vocabulary and written as gemma4.{boi,eoi,image,boa,eoa,audio}_token_id.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import traceback
import wave
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_writer import GGMLType, GGUFWriter, ValueType  # noqa: E402

BUDGETS = [70, 140, 280, 560, 1120]
SIZES = [(1000, 1000), (1080, 1920), (1920, 1080), (4000, 3000), (1, 10000), (10000, 1), (3, 1000),
         (100, 10000), (1, 100), (1, 1), (47, 49), (768, 768), (20, 4000), (336, 480), (120, 200)]
VOCAB = 512
TOKENS = dict(boi=500, eoi=501, image=502, video=503, boa=504, eoa=505, audio=506, pad=0, bos=2, eos=1)
IMG_H, IMG_W, IMG_BUDGET = 336, 480, 70
AUDIO_SECONDS = 0.5
STATUS: dict[str, str] = {}


def section(name):
    """Runs fn, recording ok or the error; the script goes on with the next section."""
    def wrap(fn):
        def run(*a, **k):
            try:
                out = fn(*a, **k)
                STATUS[name] = "ok"
                return out
            except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal here
                traceback.print_exc()
                STATUS[name] = f"FAILED: {type(e).__name__}: {e}"
                print(f"mm_reference: section {name} failed: {e}", file=sys.stderr)
                return None
        return run
    return wrap


def write_png(path, rgb):
    """8-bit RGB PNG with zlib only (no PIL on the GPU machine)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def fixed_image():
    y, x = np.mgrid[0:IMG_H, 0:IMG_W]
    rgb = np.stack([(x * 255 // (IMG_W - 1)), (y * 255 // (IMG_H - 1)), ((x // 24 + y // 24) % 2) * 180 + 40], -1)
    return rgb.astype(np.uint8)


def fixed_pcm16():
    t = np.arange(int(AUDIO_SECONDS * 16000)) / 16000.0
    wav = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    return (np.clip(wav, -1, 1) * 32767).astype("<i2")


def save(out, name, arr, dtype="<f4"):
    np.ascontiguousarray(arr, dtype=dtype).tofile(os.path.join(out, name))


def build_model(torch, transformers):
    text = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=32, global_head_dim=32, max_position_embeddings=4096,
                layer_types=["sliding_attention", "full_attention"], sliding_window=512,
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                 "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
                final_logit_softcapping=30.0, use_bidirectional_attention="vision", pad_token_id=TOKENS["pad"],
                bos_token_id=TOKENS["bos"], eos_token_id=TOKENS["eos"], rms_norm_eps=1e-6)
    def make(text):
        return transformers.Gemma4UnifiedConfig(
            text_config=text, vision_config=dict(mm_embed_dim=16, output_proj_dims=16, mm_posemb_size=1120),
            audio_config=dict(), boi_token_id=TOKENS["boi"], eoi_token_id=TOKENS["eoi"],
            image_token_id=TOKENS["image"], video_token_id=TOKENS["video"], boa_token_id=TOKENS["boa"],
            eoa_token_index=TOKENS["eoa"], audio_token_id=TOKENS["audio"])
    try:
        cfg = make(text)
    except (TypeError, ValueError) as e:  # no global_head_dim kwarg: one head size everywhere, the global 512
        print(f"mm_reference: config with global_head_dim failed ({e}); head_dim 512 on every layer", file=sys.stderr)
        text = {k: v for k, v in text.items() if k != "global_head_dim"}
        text["head_dim"] = 512
        cfg = make(text)
    cls = transformers.Gemma4UnifiedForConditionalGeneration
    try:
        model = cls._from_config(cfg, attn_implementation="eager")
    except Exception as e:  # noqa: BLE001
        print(f"mm_reference: _from_config(eager) failed ({e}); plain constructor", file=sys.stderr)
        cfg._attn_implementation = "eager"
        model = cls(cfg)
    model = model.eval().float()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:  # norm weights and biases start at ones/zeros: exercise them
                p.add_(0.2 * torch.randn(p.shape, generator=g))
            else:  # std 0.02 -> 0.1, so that the logits are not all ~0
                p.mul_(5.0)
        for name, b in model.named_buffers():
            if name.endswith("layer_scalar"):
                b.copy_(0.75 + 0.5 * torch.rand(b.shape, generator=g))
    tc = model.config.get_text_config()
    head_dims = [layer.self_attn.head_dim for layer in model.model.language_model.layers]
    assert len(set(head_dims)) == 1, f"head_dim per layer {head_dims} (global_head_dim not honoured?)"
    for i, layer in enumerate(model.model.language_model.layers):
        att = layer.self_attn
        assert att.scaling == 1.0, f"layer {i}: scaling {att.scaling}"
        assert not att.is_kv_shared_layer and att.v_proj is not None, f"layer {i}: kv sharing / k_eq_v on"
    print(f"mm_reference: layer_types {tc.layer_types}, attn {model.config._attn_implementation}")
    return model


def gguf_tensors(model):
    """(gguf name, float32 array in torch order) for every parameter and the layer_scalar buffers."""
    layer_map = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
                 "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "post_attention_norm",
                 "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    fixed = {"model.language_model.embed_tokens.weight": "token_embd.weight",
             "model.language_model.norm.weight": "output_norm.weight",
             "model.embed_vision.patch_ln1.weight": "v.input_norm.weight",
             "model.embed_vision.patch_ln1.bias": "v.input_norm.bias",
             "model.embed_vision.patch_dense.weight": "v.patch_embd.weight",
             "model.embed_vision.patch_dense.bias": "v.patch_embd.bias",
             "model.embed_vision.patch_ln2.weight": "v.patch_embd_norm.weight",
             "model.embed_vision.patch_ln2.bias": "v.patch_embd_norm.bias",
             "model.embed_vision.pos_embedding": "v.position_embd.weight",
             "model.embed_vision.pos_norm.weight": "v.position_norm.weight",
             "model.embed_vision.pos_norm.bias": "v.position_norm.bias",
             "model.embed_vision.multimodal_embedder.embedding_projection.weight": "mm.input_projection.weight",
             "model.embed_audio.embedding_projection.weight": "mm.a.input_projection.weight"}
    out, unknown = [], []
    named = dict(model.named_parameters())
    named.update({n: b for n, b in model.named_buffers() if n.endswith("layer_scalar")})
    for name, t in named.items():
        x = t.detach().float().cpu().numpy()
        if name == "lm_head.weight":
            continue  # tied
        if name in fixed:
            out.append((fixed[name], x))
            continue
        parts = name.split(".")
        if parts[:3] == ["model", "language_model", "layers"]:
            idx, rest = int(parts[3]), ".".join(parts[4:])
            if rest == "layer_scalar":
                out.append((f"blk.{idx}.layer_output_scale.weight", x.reshape(-1)))
                continue
            if rest.endswith(".weight") and rest[:-7] in layer_map:
                out.append((f"blk.{idx}.{layer_map[rest[:-7]]}.weight", x))
                continue
        unknown.append(f"{name} {tuple(x.shape)}")
    assert not unknown, f"parameters with no GGUF name: {unknown}"
    lm = model.lm_head.weight.detach()
    emb = model.model.language_model.embed_tokens.weight.detach()
    assert lm.data_ptr() == emb.data_ptr() or bool((lm == emb).all()), "lm_head is not tied to embed_tokens"
    return out


def write_gguf(path, model):
    tc = model.config.get_text_config()
    w = GGUFWriter()
    a = "gemma4"
    w.add_string("general.architecture", a)
    w.add_string("general.name", "gemma4_unified tiny random (mm_reference.py)")
    w.add_u32(f"{a}.context_length", tc.max_position_embeddings)
    w.add_u32(f"{a}.embedding_length", tc.hidden_size)
    w.add_u32(f"{a}.block_count", tc.num_hidden_layers)
    w.add_u32(f"{a}.feed_forward_length", tc.intermediate_size)
    w.add_u32(f"{a}.attention.head_count", tc.num_attention_heads)
    w.add_u32(f"{a}.attention.head_count_kv", tc.num_key_value_heads)
    head_dim = model.model.language_model.layers[0].self_attn.head_dim
    w.add_u32(f"{a}.attention.key_length", head_dim)
    w.add_u32(f"{a}.attention.value_length", head_dim)
    w.add_f32(f"{a}.attention.layer_norm_rms_epsilon", tc.rms_norm_eps)
    w.add_f32(f"{a}.rope.freq_base", tc.rope_parameters["full_attention"]["rope_theta"])
    w.add_f32(f"{a}.rope.freq_base_swa", tc.rope_parameters["sliding_attention"]["rope_theta"])
    w.add_u32(f"{a}.attention.sliding_window", tc.sliding_window)
    w.add_array(f"{a}.attention.sliding_window_pattern", [t == "sliding_attention" for t in tc.layer_types],
                ValueType.BOOL)
    w.add_f32(f"{a}.final_logit_softcapping", tc.final_logit_softcapping)
    for k in ("boi", "eoi", "image", "boa", "eoa", "audio"):
        w.add_u32(f"{a}.{k}_token_id", TOKENS[k])
    w.add_string("clip.vision.projector_type", "gemma4uv")
    w.add_string("clip.audio.projector_type", "gemma4ua")
    for name, x in gguf_tensors(model):
        w.add_tensor(name, x, GGMLType.F32)
    w.write(path)


def numpy_pixels(torch):
    """The processor's output for fixed_image() at IMG_BUDGET without the processor: the image is
    already 7x10 patches of 48 px, so there is no resize; patches row-major, inside a patch pixel
    row, column, channel; positions (x, y); padded with zeros / -1 to the budget."""
    img = fixed_image().astype(np.float32) / 255.0
    ny, nx = IMG_H // 48, IMG_W // 48
    pix = img.reshape(ny, 48, nx, 48, 3).transpose(0, 2, 1, 3, 4).reshape(ny * nx, 48 * 48 * 3)
    pos = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy"), -1).reshape(-1, 2)
    pad = IMG_BUDGET - ny * nx
    pix = np.concatenate([pix, np.zeros((pad, pix.shape[1]), np.float32)])
    pos = np.concatenate([pos, -np.ones((pad, 2), np.int64)])
    return {"pixel_values": torch.from_numpy(pix)[None], "image_position_ids": torch.from_numpy(pos)[None],
            "num_soft_tokens_per_image": [ny * nx]}


def prompt_ids(n_img, n_aud):
    t = TOKENS
    return ([t["bos"], 10, 11, 12, t["boi"]] + [t["image"]] * n_img + [t["eoi"], 13, 14, t["boa"]]
            + [t["audio"]] * n_aud + [t["eoa"], 15, 16, 17])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    import torch
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    info = {"transformers": transformers.__version__, "torch": torch.__version__, "tokens": TOKENS,
            "image_size": [IMG_H, IMG_W], "image_budget": IMG_BUDGET}
    assert hasattr(transformers, "Gemma4UnifiedConfig"), f"transformers {transformers.__version__}: no gemma4_unified"
    model = build_model(torch, transformers)
    try:
        info["config"] = json.loads(model.config.to_json_string())
    except Exception as e:  # noqa: BLE001 - the config dump is informative only
        info["config"] = f"unserialisable: {e}"
    section("gguf")(write_gguf)(os.path.join(out, "model.gguf"), model)

    @section("token_counts")
    def token_counts():
        counts = {}
        for budget in BUDGETS:
            proc = transformers.Gemma4UnifiedImageProcessor(max_soft_tokens=budget)
            for (h, w) in SIZES:
                try:
                    r = proc(images=torch.zeros((3, h, w), dtype=torch.uint8), input_data_format="channels_first",
                             return_tensors="pt")
                    counts[f"{h}x{w}@{budget}"] = int(np.asarray(r["num_soft_tokens_per_image"]).reshape(-1)[0])
                except ValueError as e:  # the processor refuses this size: Gannet must refuse it too
                    counts[f"{h}x{w}@{budget}"] = f"error: {e}"
        info["token_counts"] = counts
    token_counts()

    img = fixed_image()
    write_png(os.path.join(out, "image.png"), img)
    pcm = fixed_pcm16()
    with wave.open(os.path.join(out, "audio.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(pcm.tobytes())
    inputs = {}

    @section("image_features")
    def image_features():
        try:
            proc = transformers.Gemma4UnifiedImageProcessor(max_soft_tokens=IMG_BUDGET)
            r = proc(images=torch.from_numpy(img).permute(2, 0, 1).contiguous(), input_data_format="channels_first",
                     return_tensors="pt")
            info["pixels_source"] = "Gemma4UnifiedImageProcessor"
        except Exception as e:  # noqa: BLE001 - e.g. no torchvision: the image needs no resize, numpy is exact
            print(f"mm_reference: image processor failed ({e}); numpy patches", file=sys.stderr)
            r = numpy_pixels(torch)
            info["pixels_source"] = f"numpy fallback ({type(e).__name__}: {e})"
        n = int(np.asarray(r["num_soft_tokens_per_image"]).reshape(-1)[0])
        pos = r["image_position_ids"]
        assert bool((pos[0, :n] >= 0).all()) and bool((pos[0, n:] == -1).all()), "padding layout"
        save(out, "image_pixels.f32", r["pixel_values"][0, :n].float().numpy())
        save(out, "image_positions.i32", pos[0, :n].numpy(), "<i4")
        with torch.no_grad():
            feats = model.model.get_image_features(r["pixel_values"].float(), pos, return_dict=True).pooler_output
        emb = torch.cat(list(feats), 0).float().numpy()
        assert emb.shape[0] == n, f"{emb.shape} soft tokens for {n} patches"
        save(out, "image_embeddings.f32", emb)
        info["n_image_tokens"] = n
        info["image_embeddings_shape"] = list(emb.shape)
        inputs.update(pixel_values=r["pixel_values"].float(), image_position_ids=pos)
    image_features()

    @section("audio_features")
    def audio_features():
        fe = transformers.Gemma4UnifiedAudioFeatureExtractor()
        a = fe(pcm.astype(np.float32) / 32768.0, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            o = model.model.get_audio_features(a["input_features"].float(), a["input_features_mask"], return_dict=True)
        emb = o.pooler_output[o.attention_mask].float().numpy()
        save(out, "audio_embeddings.f32", emb)
        info["n_audio_tokens"] = int(emb.shape[0])
        info["audio_embeddings_shape"] = list(emb.shape)
        inputs.update(input_features=a["input_features"].float(), input_features_mask=a["input_features_mask"])
    audio_features()

    @section("logits_text")
    def logits_text():
        ids = [TOKENS["bos"], 10, 11, 12, 13, 14, 200, 300, 400, 511]
        with torch.no_grad():
            lg = model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
        save(out, "logits_text.f32", lg)
        info["text_ids"] = ids
    logits_text()

    @section("logits_causal")
    def logits_causal():
        ids = prompt_ids(info["n_image_tokens"], info["n_audio_tokens"])
        with torch.no_grad():
            lg = model(input_ids=torch.tensor([ids]), **inputs).logits[0].float().numpy()
        save(out, "logits_causal.f32", lg)
        info["ids"] = ids
        info["logits_shape"] = list(lg.shape)
    logits_causal()

    @section("logits_bidir")
    def logits_bidir():
        ids = info["ids"]
        t = len(ids)
        tt = torch.tensor([[1 if i == TOKENS["image"] else 0 for i in ids]])
        pos = torch.arange(t).unsqueeze(0)
        emb = torch.zeros(1, t, model.config.get_text_config().hidden_size)
        try:
            masks = type(model).create_masks_for_generate(config=model.config, inputs_embeds=emb,
                                                          attention_mask=None, past_key_values=None,
                                                          position_ids=pos, mm_token_type_ids=tt)
            assert isinstance(masks, dict), f"masks: {type(masks)}"
            for kind in ("sliding_attention", "full_attention"):
                assert masks[kind] is not None, f"{kind}: no materialised mask"
            info["masks_bidir_source"] = "create_masks_for_generate"
        except Exception as e:  # noqa: BLE001 - the same rule written out (create_masks_for_vision_model's doc)
            print(f"mm_reference: create_masks_for_generate failed ({e}); building the masks by hand", file=sys.stderr)
            q = torch.arange(t)[:, None]
            k = torch.arange(t)[None, :]
            img = tt[0].bool()
            same_image = img[:, None] & img[None, :]  # one image in this prompt
            window = model.config.get_text_config().sliding_window
            allowed = {"full_attention": k <= q,
                       "sliding_attention": ((k <= q) | same_image) & ((q - k) < window)}
            neg = torch.finfo(torch.float32).min
            masks = {kind: torch.where(a, 0.0, neg)[None, None].float() for kind, a in allowed.items()}
            info["masks_bidir_source"] = f"by hand ({type(e).__name__}: {e})"
        dump = []
        for kind in ("sliding_attention", "full_attention"):
            m = masks[kind]
            m = m[0, 0] if m.dim() == 4 else m
            allowed = m if m.dtype == torch.bool else (m == 0)
            dump.append(allowed.to(torch.uint8).numpy())
        save(out, "masks_bidir.u8", np.stack(dump), "u1")
        with torch.no_grad():
            lg = model(input_ids=torch.tensor([ids]), attention_mask=masks, **inputs).logits[0].float().numpy()
        save(out, "logits_bidir.f32", lg)
        info["masks_bidir_layout"] = "[sliding, full] x T x T, 1 = query row attends key column"
    logits_bidir()

    info["status"] = STATUS
    json.dump(info, open(os.path.join(out, "mm_reference.json"), "w"), indent=1, default=str)
    print(f"mm_reference: wrote {out}: {STATUS}")
    if any(v != "ok" for v in STATUS.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
