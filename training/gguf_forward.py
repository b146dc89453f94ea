"""A plain numpy forward pass over a GGUF written by export_hf.py, following llama.cpp's reading of
the file (the conventions listed in export_hf.py). It is the written-down spec of what Gannet's
C++ model code must compute, and make_reference_fixtures.py checks it against transformers.

    python3 gguf_forward.py model.gguf --tokens 1,2,3      # prints the last position's top logits
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from gguf_reader import GGUFFile

GEMMA3_SWA_PATTERN = 6
GEMMA3_SWA_ROPE_BASE = 10000.0


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, pos, base, n_rot, neox):
    """x: [T, H, D]. ggml "normal" rope rotates pairs (2i, 2i+1); NeoX rotates (i, i + n_rot/2)."""
    half = n_rot // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    ang = pos[:, None].astype(np.float64) * inv_freq[None, :]      # [T, half]
    cos = np.cos(ang)[:, None, :].astype(x.dtype)
    sin = np.sin(ang)[:, None, :].astype(x.dtype)
    out = x.copy()
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out


def forward(f: GGUFFile, tokens, dtype=np.float64, soft=None) -> np.ndarray:
    """Logits [n_tokens, n_vocab] for one sequence starting at position 0. soft: {position: row}
    replacing those positions' (scaled) embedding rows (multimodal soft tokens, gemma4).

    gemma4 (transformers' gemma4_unified text tower) differs from gemma3: norms store w itself, the
    attention scale is 1, v is RMS-normed per head without a weight, blk.N.layer_output_scale
    multiplies each layer's output, and gemma4.attention.sliding_window_pattern flags the sliding
    layers (rope base gemma4.rope.freq_base_swa there)."""
    arch = f.value("general.architecture")
    k = lambda name, default=None: f.value(f"{arch}.{name}", default)  # noqa: E731
    n_embd, n_layer = k("embedding_length"), k("block_count")
    n_head, n_head_kv = k("attention.head_count"), k("attention.head_count_kv")
    head_dim = k("attention.key_length", n_embd // n_head)
    n_rot = k("rope.dimension_count", head_dim)
    eps = k("attention.layer_norm_rms_epsilon")
    base = k("rope.freq_base", 10000.0)
    neox = arch != "llama"
    W = lambda name: f.tensor_f32(name).astype(dtype)  # noqa: E731
    has = lambda name: name in f.tensors  # noqa: E731

    tokens = np.asarray(tokens, dtype=np.int64)
    n_tokens = len(tokens)
    pos = np.arange(n_tokens)
    x = W("token_embd.weight")[tokens]
    is_gemma = arch in ("gemma3", "gemma4")
    if is_gemma:
        x = x * dtype(np.float32(math.sqrt(n_embd)))
    for p_, row in (soft or {}).items():
        x[p_] = np.asarray(row, dtype=dtype)
    scale = 1.0 if arch == "gemma4" else 1.0 / math.sqrt(head_dim)
    swa_flags = k("attention.sliding_window_pattern") if arch == "gemma4" else None
    group = n_head // n_head_kv
    causal = pos[None, :] <= pos[:, None]                 # [q, kv]

    for il in range(n_layer):
        p = f"blk.{il}."
        is_swa = arch == "gemma3" and (il + 1) % GEMMA3_SWA_PATTERN != 0
        if swa_flags is not None:
            is_swa = bool(swa_flags[il]) and k("attention.sliding_window", 0) > 0
        h = rms_norm(x, W(p + "attn_norm.weight"), eps)
        q = h @ W(p + "attn_q.weight").T
        kk = h @ W(p + "attn_k.weight").T
        v = h @ W(p + "attn_v.weight").T
        if has(p + "attn_q.bias"):
            q, kk, v = q + W(p + "attn_q.bias"), kk + W(p + "attn_k.bias"), v + W(p + "attn_v.bias")
        q = q.reshape(n_tokens, n_head, head_dim)
        kk = kk.reshape(n_tokens, n_head_kv, head_dim)
        v = v.reshape(n_tokens, n_head_kv, head_dim)
        if has(p + "attn_q_norm.weight"):
            q = rms_norm(q, W(p + "attn_q_norm.weight"), eps)
            kk = rms_norm(kk, W(p + "attn_k_norm.weight"), eps)
        if arch == "gemma4":
            v = rms_norm(v, 1.0, eps)
        layer_base = (k("rope.freq_base_swa", GEMMA3_SWA_ROPE_BASE) if arch == "gemma4" else GEMMA3_SWA_ROPE_BASE) \
            if is_swa else base
        q = rope(q, pos, layer_base, n_rot, neox)
        kk = rope(kk, pos, layer_base, n_rot, neox)
        mask = causal.copy()
        if is_swa:
            mask &= (pos[:, None] - pos[None, :]) < k("attention.sliding_window")
        att = np.empty((n_tokens, n_head, head_dim), dtype=dtype)
        for hh in range(n_head):
            kv = hh // group
            s = (q[:, hh, :] @ kk[:, kv, :].T) * scale
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            att[:, hh, :] = s @ v[:, kv, :]
        o = att.reshape(n_tokens, n_head * head_dim) @ W(p + "attn_output.weight").T
        if has(p + "post_attention_norm.weight"):
            o = rms_norm(o, W(p + "post_attention_norm.weight"), eps)
        x = x + o
        h = rms_norm(x, W(p + "ffn_norm.weight"), eps)
        gate = h @ W(p + "ffn_gate.weight").T
        act = gelu_tanh(gate) if is_gemma else silu(gate)
        ffn = (act * (h @ W(p + "ffn_up.weight").T)) @ W(p + "ffn_down.weight").T
        if has(p + "post_ffw_norm.weight"):
            ffn = rms_norm(ffn, W(p + "post_ffw_norm.weight"), eps)
        x = x + ffn
        if has(p + "layer_output_scale.weight"):
            x = x * W(p + "layer_output_scale.weight")[0]

    x = rms_norm(x, W("output_norm.weight"), eps)
    out_w = W("output.weight") if has("output.weight") else W("token_embd.weight")
    logits = x @ out_w.T
    softcap = k("final_logit_softcapping", 0.0)
    if softcap:
        logits = np.tanh(logits / softcap) * softcap
    return logits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    args = ap.parse_args()
    f = GGUFFile.open(args.gguf)
    logits = forward(f, [int(t) for t in args.tokens.split(",")])
    top = np.argsort(-logits[-1])[:5]
    print("top5:", [(int(i), float(logits[-1, i])) for i in top])


if __name__ == "__main__":
    main()
