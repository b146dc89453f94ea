"""A float64 numpy forward of a diffusion_gemma GGUF state (names of diffusion_gguf.py): the causal
encoder that fills a KV cache and the bidirectional decoder that denoises a canvas over it, with
exact self-conditioning. It is written from transformers' modeling_diffusion_gemma.py and serves
two checks: on the GPU machine it must reproduce HF's decoder logits (diffusion_reference.py), and
here it makes fixtures for developing the C++ before the device has run.

Conventions (HF): RMSNorm x * (mean(x^2) + eps)^-0.5 * w (no 1 + w); q/k RMSNorm per head, v RMSNorm
per head without weight; global layers have no v_proj and take V = the raw k projection; attention
scale 1.0; rope rotate_half (NeoX) with theta 1e4 over the whole head on sliding layers and
"proportional" rope on global layers (pairs i < int(factor * head_dim // 2) rotate with
theta^(-2i/head_dim), the rest do not); final logits softcapped at 30.
"""

from __future__ import annotations

import numpy as np

from diffusion_gguf import DiffusionHParams, layer_is_sliding


def rms_norm(x, w, eps):
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y * w if w is not None else y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def rope_inv_freq(hp: DiffusionHParams, sliding: bool):
    d = hp.head_dim
    if sliding:
        return 1.0 / hp.rope_theta_swa ** (np.arange(0, d, 2, dtype=np.float64) / d)
    n_rot = int(hp.partial_rotary_factor * d // 2)
    inv = np.zeros(d // 2)
    inv[:n_rot] = 1.0 / hp.rope_theta ** (np.arange(0, 2 * n_rot, 2, dtype=np.float64) / d)
    return inv


def apply_rope(x, positions, inv_freq):
    """x [n, heads, d]; rotate_half pairs (i, i + d/2)."""
    ang = np.outer(positions, inv_freq)  # [n, d/2]
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)[:, None, :]
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos + rot * sin


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


class NumpyDiffusion:
    def __init__(self, hp: DiffusionHParams, w: dict):
        self.hp = hp
        self.w = {k: np.asarray(v, dtype=np.float64) for k, v in w.items()}
        self.k_cache = [np.zeros((0, hp.n_head_kv, hp.head_dim)) for _ in range(hp.n_layer)]
        self.v_cache = [np.zeros((0, hp.n_head_kv, hp.head_dim)) for _ in range(hp.n_layer)]

    def _qkv(self, layer, x, positions):
        hp, w = self.hp, self.w
        p = f"blk.{layer}."
        sliding = layer_is_sliding(hp, layer)
        n = x.shape[0]
        q = (x @ w[p + "attn_q.weight"].T).reshape(n, hp.n_head, hp.head_dim)
        k_raw = (x @ w[p + "attn_k.weight"].T).reshape(n, hp.n_head_kv, hp.head_dim)
        v = (x @ w[p + "attn_v.weight"].T).reshape(n, hp.n_head_kv, hp.head_dim) if sliding else k_raw
        inv = rope_inv_freq(hp, sliding)
        q = apply_rope(rms_norm(q, w[p + "attn_q_norm.weight"], hp.rms_eps), positions, inv)
        k = apply_rope(rms_norm(k_raw, w[p + "attn_k_norm.weight"], hp.rms_eps), positions, inv)
        v = rms_norm(v, None, hp.rms_eps)
        return q, k, v

    def _attend(self, q, k, v, causal_offset):
        """q [n, H, d], k/v [m, KV, d]; causal_offset None: every key visible; else query i sees
        keys j <= causal_offset + i."""
        hp = self.hp
        group = hp.n_head // hp.n_head_kv
        n, m = q.shape[0], k.shape[0]
        out = np.zeros((n, hp.n_head, hp.head_dim))
        for h in range(hp.n_head):
            s = q[:, h, :] @ k[:, h // group, :].T  # scale 1.0
            if causal_offset is not None:
                mask = np.arange(m)[None, :] > (causal_offset + np.arange(n))[:, None]
                s = np.where(mask, -np.inf, s)
            out[:, h, :] = softmax(s) @ v[:, h // group, :]
        return out.reshape(n, -1)

    def _layer(self, layer, x, positions, is_encoder):
        hp, w = self.hp, self.w
        p = f"blk.{layer}."
        h = rms_norm(x, w[p + "attn_norm.weight"], hp.rms_eps)
        q, k, v = self._qkv(layer, h, positions)
        if is_encoder:
            start = self.k_cache[layer].shape[0]
            self.k_cache[layer] = np.concatenate([self.k_cache[layer], k])
            self.v_cache[layer] = np.concatenate([self.v_cache[layer], v])
            a = self._attend(q, self.k_cache[layer], self.v_cache[layer], start)
        else:  # reads the cache, never writes it
            kk = np.concatenate([self.k_cache[layer], k])
            vv = np.concatenate([self.v_cache[layer], v])
            a = self._attend(q, kk, vv, None)
        a = a @ w[p + "attn_output.weight"].T
        x = x + rms_norm(a, w[p + "post_attention_norm.weight"], hp.rms_eps)
        h = rms_norm(x, w[p + "ffn_norm.weight"], hp.rms_eps)
        f = (gelu_tanh(h @ w[p + "ffn_gate.weight"].T) * (h @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
        f = rms_norm(f, w[p + "ffn_post_norm_1.weight"], hp.rms_eps)
        return x + rms_norm(f, w[p + "post_ffw_norm.weight"], hp.rms_eps)

    def embed(self, tokens):
        return self.w["token_embd.weight"][np.asarray(tokens)] * np.sqrt(self.hp.n_embd)

    def encode(self, tokens, pos0):
        x = self.embed(tokens)
        positions = pos0 + np.arange(len(tokens))
        for layer in range(self.hp.n_layer):
            x = self._layer(layer, x, positions, is_encoder=True)

    def decode(self, canvas, pos0, sc_logits=None):
        """canvas [C] tokens at positions pos0..; sc_logits [C, V] (processed logits of the previous
        step) or None -> logits [C, V]."""
        hp, w = self.hp, self.w
        x = self.embed(canvas)
        if sc_logits is None:
            soft = np.zeros_like(x)
        else:
            soft = softmax(np.asarray(sc_logits, dtype=np.float64)) @ w["token_embd.weight"] * np.sqrt(hp.n_embd)
        h = rms_norm(soft, w["self_cond_norm.weight"], hp.rms_eps)
        sc = (gelu_tanh(h @ w["self_cond_gate.weight"].T) * (h @ w["self_cond_up.weight"].T)) @ w["self_cond_down.weight"].T
        x = rms_norm(x + sc, None, hp.rms_eps)
        positions = pos0 + np.arange(len(canvas))
        for layer in range(hp.n_layer):
            x = self._layer(layer, x, positions, is_encoder=False)
        x = rms_norm(x, w["output_norm.weight"], hp.rms_eps)
        logits = x @ w["token_embd.weight"].T
        cap = hp.final_logit_softcap
        return np.tanh(logits / cap) * cap
