"""DiffusionGemma-shaped models -> GGUF (architecture "diffusion_gemma"), for Gannet's block
diffusion runtime (src/model/arch/diffusion_gemma.cc, src/model/forward_canvas.cc).

The layout follows transformers' DiffusionGemmaDecoderModel (the decoder owns every weight; the
encoder shares them all except the self-conditioning block), with llama.cpp-style names:

    embed_tokens.weight                        token_embd.weight (tied: also the output matrix)
    norm.weight                                output_norm.weight
    layers.N.input_layernorm                   blk.N.attn_norm
    layers.N.self_attn.{q,k,v,o}_proj          blk.N.attn_{q,k,v,output}   (no v on global layers: V = K)
    layers.N.self_attn.{q,k}_norm              blk.N.attn_{q,k}_norm
    layers.N.post_attention_layernorm          blk.N.post_attention_norm
    layers.N.pre_feedforward_layernorm         blk.N.ffn_norm
    layers.N.mlp.{gate,up,down}_proj           blk.N.ffn_{gate,up,down}
    layers.N.post_feedforward_layernorm_1      blk.N.ffn_post_norm_1
    layers.N.post_feedforward_layernorm        blk.N.post_ffw_norm
    self_conditioning.pre_norm                 self_cond_norm.weight
    self_conditioning.{gate,up,down}_proj      self_cond_{gate,up,down}.weight

Norm weights are stored as they are: DiffusionGemma's RMSNorm (Gemma 4's) multiplies by w, not
1 + w. Dense FFN only: the MoE branch (router, experts, pre/post_feedforward_layernorm_2) is not
stored, so it must contribute nothing -- export refuses a state dict whose experts.down_proj is
not all zero (the branch then adds RMSNorm(0) = 0). layer_scalar must be 1.

Pure numpy; used by diffusion_reference.py and train_diffusion.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

import export_hf
from gguf_writer import GGMLType, GGUFWriter

ARCH = "diffusion_gemma"


@dataclass
class DiffusionHParams:
    n_vocab: int
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rms_eps: float
    context_length: int
    canvas_length: int
    sliding_window: int
    swa_pattern: int = 6              # layer i is global iff (i + 1) % 6 == 0, and the last always
    rope_theta: float = 1_000_000.0   # global layers (proportional rope)
    rope_theta_swa: float = 10_000.0  # sliding layers (default rope over the whole head)
    partial_rotary_factor: float = 0.25  # global layers: the first factor * head_dim / 2 pairs rotate
    final_logit_softcap: float = 30.0


def layer_is_sliding(hp: DiffusionHParams, layer: int) -> bool:
    """transformers' default layer_types: pattern 6, the last layer forced to full attention."""
    if layer == hp.n_layer - 1:
        return False
    return (layer + 1) % hp.swa_pattern != 0


_LAYER_MAP = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "post_feedforward_layernorm_1": "ffn_post_norm_1",
    "post_feedforward_layernorm": "post_ffw_norm",
}
# The MoE branch, dropped (checked to be inert first).
_MOE_PARTS = ("router.", "experts.", "pre_feedforward_layernorm_2.", "post_feedforward_layernorm_2.")
_LAYER_RE = re.compile(r"^layers\.(\d+)\.(.+)\.weight$")


def gguf_name(hf_name: str) -> str | None:
    """GGUF name of a DiffusionGemmaDecoderModel parameter (prefix 'model.decoder.' stripped);
    None for what is not stored. KeyError for an unknown tensor."""
    name = hf_name
    for prefix in ("model.decoder.", "decoder."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.endswith(("inv_freq", "layer_scalar", "embed_scale")) or name == "lm_head.weight":
        return None
    if name == "embed_tokens.weight":
        return "token_embd.weight"
    if name == "norm.weight":
        return "output_norm.weight"
    if name == "self_conditioning.pre_norm.weight":
        return "self_cond_norm.weight"
    m = re.match(r"^self_conditioning\.(gate|up|down)_proj\.weight$", name)
    if m:
        return f"self_cond_{m.group(1)}.weight"
    m = _LAYER_RE.match(name)
    if m:
        rest = m.group(2)
        if rest.startswith(_MOE_PARTS) or rest.startswith(tuple(p.rstrip(".") for p in _MOE_PARTS)):
            return None
        if rest in _LAYER_MAP:
            return f"blk.{int(m.group(1))}.{_LAYER_MAP[rest]}.weight"
    if re.match(r"^layers\.\d+\.(router|experts)\.", name):
        return None
    raise KeyError(f"unknown tensor {hf_name!r} for {ARCH}")


def check_dense(state_dict: dict) -> None:
    """The MoE branch must add nothing (all experts' down_proj zero) and every layer_scalar be 1."""
    for k, v in state_dict.items():
        if k.endswith("experts.down_proj") and np.any(np.asarray(v) != 0):
            raise ValueError(f"{k}: nonzero experts; {ARCH} GGUF stores dense FFN models only")
        if k.endswith("layer_scalar") and np.any(np.asarray(v) != 1):
            raise ValueError(f"{k}: layer_scalar != 1 is not stored")


def add_metadata(w: GGUFWriter, hp: DiffusionHParams, outtype: GGMLType, name: str,
                 vocab: "export_hf.Vocab | None") -> None:
    shared = export_hf.HParams(arch=ARCH, n_vocab=hp.n_vocab, n_embd=hp.n_embd, n_layer=hp.n_layer,
                               n_ff=hp.n_ff, n_head=hp.n_head, n_head_kv=hp.n_head_kv,
                               head_dim=hp.head_dim, rope_theta=hp.rope_theta, rms_eps=hp.rms_eps,
                               context_length=hp.context_length, tie_embeddings=True)
    export_hf.add_metadata(w, shared, outtype, name, vocab)
    a = ARCH
    w.add_f32(f"{a}.rope.freq_base_swa", hp.rope_theta_swa)
    w.add_f32(f"{a}.rope.global_partial_rotary_factor", hp.partial_rotary_factor)
    w.add_u32(f"{a}.attention.sliding_window", hp.sliding_window)
    w.add_u32(f"{a}.attention.sliding_window_pattern", hp.swa_pattern)
    w.add_f32(f"{a}.final_logit_softcapping", hp.final_logit_softcap)
    w.add_u32(f"{a}.canvas_length", hp.canvas_length)


def export(hp: DiffusionHParams, state_dict: dict, path: str, outtype: GGMLType = GGMLType.F32,
           name: str = "gannet-test-diffusion", vocab=None) -> dict:
    """Writes the GGUF from float32 numpy arrays keyed by decoder parameter names; returns
    {gguf name: float32 values stored}."""
    check_dense(state_dict)
    w = GGUFWriter()
    add_metadata(w, hp, outtype, name, vocab)
    stored = {}
    for k, v in state_dict.items():
        g = gguf_name(k)
        if g is None:
            continue
        stored[g] = np.ascontiguousarray(np.asarray(v, dtype=np.float32))
    for layer in range(hp.n_layer):
        has_v = f"blk.{layer}.attn_v.weight" in stored
        if has_v != layer_is_sliding(hp, layer):
            raise ValueError(f"layer {layer}: attn_v present={has_v}, but sliding={layer_is_sliding(hp, layer)}")
    for g in sorted(stored, key=export_hf._tensor_order):
        y = stored[g]
        w.add_tensor(g, y, GGMLType.F32 if y.ndim <= 1 else outtype)
    w.write(path)
    return stored
