"""Reference outputs for Gannet's MiniMax-M3-style sparse attention (MSA, issue 17): a tiny random
text model of Hugging Face transformers' `minimax_m3_vl` (MiniMaxM3VLForCausalLM) with a context
longer than 2,048 tokens, so the lightning indexer's top-k block selection matters.

The model (seeded, float32):
  - 3 layers: layer 0 dense attention, layers 1-2 sparse (sparse_attention_freq [0, 1, 1]);
  - GQA 4 query heads / 2 KV heads, head_dim 32, partial NeoX RoPE over the first 16 channels,
    per-head Gemma QK-norm (x * (1 + w)), Gemma RMSNorms;
  - the index branch: 2 index-query heads and one shared index-key head of 32 dims, Gemma RMSNorm,
    the main RoPE; block 128, top-4 blocks (small, so that a 3,000-token sequence skips most
    blocks), init blocks 0, local blocks 1, score "max";
  - the FFN is the dense SwiGLU-OAI MLP on every layer (moe_layer_freq all 0): our small models
    replace M3's MoE by a dense FFN.

transformers' reading of the selection (what Gannet's `minimax-m3` GGUF says with its
`sparse.selection` = "shared" and `sparse.local_in_topk` = false keys): per query, block score =
max over the block's key tokens and over the index heads of idx_q . idx_k (no token-level causal
mask inside a block, no softmax); blocks after the query's own are masked; the top-k blocks by score
plus the local (own) block are kept, so up to k + 1 blocks; the selection is shared by every query
head. The deployed kernels (vLLM, MiniMax-AI/MSA) select per GQA group with the local block forced
inside the k: Gannet implements both and the GGUF says which.

Two paths write the same files:
  - numpy (always; float64): the model as Gannet reads the GGUF, the executable spec;
  - transformers (when torch and transformers import; CPU float32, eager attention): the
    reference. Its logits and selected block ids are the fixture; the numpy ones are compared with
    them and the differences printed (and fail the run beyond tolerance).

    python3 training/msa_reference.py --out OUT            # on the GPU machine (torch there)
    python3 training/msa_reference.py --out OUT --numpy-only   # here: numpy spec only

Outputs in --out (< 1 MB):
  minimax-m3-tiny-f32.gguf   the model (architecture "minimax-m3", norms stored as 1 + w,
                             ffn_gate/ffn_up split from gate_up_proj)
  tokens.json                {"tokens": [...], "logit_positions": [...], "query_positions": [...]}
  logits.f32                 float32 LE [len(logit_positions)][n_vocab] (reference: HF, or numpy)
  blocks.json                {"layers": {"1": [[ids...] per query position], ...},
                              "margins": same shape, the score gap between the k-th and the
                              (k+1)-th causal block (a near tie may flip in float32)}
  numpy_logits.f32, numpy_blocks.json   the numpy path's (when HF ran)
  provenance.json            versions, seeds, the numpy-vs-HF differences
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_hf import make_byte_vocab  # noqa: E402
from gguf_writer import GGMLType, GGUFWriter, ValueType  # noqa: E402

SEED = 1717
N_TOKENS = 3000
ARCH = "minimax-m3"

N_VOCAB = 384
N_EMBD = 64
N_LAYERS = 3
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = 32
ROT_DIM = 16
N_FF = 96
ROPE_THETA = 10000.0
RMS_EPS = 1e-6
SWIGLU_ALPHA = 1.702
SWIGLU_LIMIT = 7.0
SPARSE_FREQ = [0, 1, 1]
IDX_HEADS = 2
IDX_DIM = 32
BLOCK = 128
TOPK = 4
INIT_BLOCKS = 0
LOCAL_BLOCKS = 1

LOGIT_POSITIONS = [0, 1, 127, 128, 511, 512, 1000, 2047, 2048, 2175, 2176, 2600, 2998, 2999]
QUERY_POSITIONS = sorted(set(list(range(0, N_TOKENS, 29)) + [127, 128, 511, 512, 2047, 2048, 2999]))


def hf_text_config_kwargs() -> dict:
    return dict(
        vocab_size=N_VOCAB, hidden_size=N_EMBD, intermediate_size=N_FF, num_hidden_layers=N_LAYERS,
        num_attention_heads=N_HEAD, num_key_value_heads=N_HEAD_KV, head_dim=HEAD_DIM,
        max_position_embeddings=4096, rms_norm_eps=RMS_EPS, tie_word_embeddings=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA,
                         "partial_rotary_factor": ROT_DIM / HEAD_DIM},
        rotary_dim=ROT_DIM, swiglu_alpha=SWIGLU_ALPHA, swiglu_limit=SWIGLU_LIMIT,
        dense_intermediate_size=N_FF, shared_intermediate_size=N_FF, num_local_experts=2,
        num_experts_per_tok=1, moe_layer_freq=[0] * N_LAYERS,
        sparse_attention_config={
            "sparse_num_index_heads": IDX_HEADS, "sparse_index_dim": IDX_DIM,
            "sparse_block_size": BLOCK, "sparse_topk_blocks": TOPK,
            "sparse_init_block": INIT_BLOCKS, "sparse_local_block": LOCAL_BLOCKS,
            "sparse_score_type": "max", "sparse_attention_freq": list(SPARSE_FREQ)},
    )


# --- weights (numpy, seeded; HF names and shapes) -----------------------------------------------

def param_shapes() -> dict:
    shapes = {"model.embed_tokens.weight": (N_VOCAB, N_EMBD), "model.norm.weight": (N_EMBD,),
              "lm_head.weight": (N_VOCAB, N_EMBD)}
    for i in range(N_LAYERS):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (N_EMBD,),
            p + "post_attention_layernorm.weight": (N_EMBD,),
            p + "self_attn.q_proj.weight": (N_HEAD * HEAD_DIM, N_EMBD),
            p + "self_attn.k_proj.weight": (N_HEAD_KV * HEAD_DIM, N_EMBD),
            p + "self_attn.v_proj.weight": (N_HEAD_KV * HEAD_DIM, N_EMBD),
            p + "self_attn.o_proj.weight": (N_EMBD, N_HEAD * HEAD_DIM),
            p + "self_attn.q_norm.weight": (HEAD_DIM,),
            p + "self_attn.k_norm.weight": (HEAD_DIM,),
            p + "mlp.gate_up_proj.weight": (2 * N_FF, N_EMBD),
            p + "mlp.down_proj.weight": (N_EMBD, N_FF),
        })
        if SPARSE_FREQ[i]:
            shapes.update({
                p + "self_attn.indexer.q_proj.weight": (IDX_HEADS * IDX_DIM, N_EMBD),
                p + "self_attn.indexer.k_proj.weight": (IDX_DIM, N_EMBD),
                p + "self_attn.indexer.q_norm.weight": (IDX_DIM,),
                p + "self_attn.indexer.k_norm.weight": (IDX_DIM,),
            })
    return shapes


def make_weights() -> dict:
    rng = np.random.default_rng(SEED)
    sd = {}
    for name, shape in param_shapes().items():
        if name.endswith("norm.weight"):
            std = 0.1  # Gemma norms: x * (1 + w), w random around 0
        elif name.endswith("embed_tokens.weight"):
            std = 0.5
        elif "indexer" in name or name.endswith(("q_proj.weight", "k_proj.weight")):
            std = 0.25  # peaked scores: the selection and the attention both matter
        else:
            std = 0.1
        sd[name] = (rng.standard_normal(shape) * std).astype(np.float32)
    return sd


def make_tokens() -> list[int]:
    rng = np.random.default_rng(SEED + 1)
    return [int(t) for t in rng.integers(0, N_VOCAB, N_TOKENS)]


# --- the numpy spec (float64) -------------------------------------------------------------------

def gemma_rms(x, w):
    x = x.astype(np.float64)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * (1.0 + w.astype(np.float64))


def rope_neox(x, positions, n_rot):
    """x [S, heads, d]: rotate channels [0, n_rot) as pairs (i, i + n_rot/2), the rest pass."""
    half = n_rot // 2
    inv = 1.0 / (ROPE_THETA ** (np.arange(0, n_rot, 2, dtype=np.float64) / n_rot))
    ang = positions[:, None].astype(np.float64) * inv[None, :]  # [S, half]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = x.copy()
    x1, x2 = x[..., :half], x[..., half:n_rot]
    out[..., :half] = x1 * cos - x2 * sin
    out[..., half:n_rot] = x2 * cos + x1 * sin
    return out


def select_blocks(idx_q, idx_k, positions):
    """idx_q [S, H_idx, D], idx_k [S, D] -> (allowed [S, n_blocks] bool, scores [S, n_blocks]):
    transformers' rule (shared over heads, top-k plus the local block)."""
    s = idx_q.shape[0]
    nb = -(-s // BLOCK)
    pad = nb * BLOCK - s
    best = np.full((s, nb), -np.inf)
    for h in range(idx_q.shape[1]):
        sc = idx_q[:, h, :] @ idx_k.T  # [S, S]
        sc = np.pad(sc, ((0, 0), (0, pad)), constant_values=-np.inf)
        best = np.maximum(best, sc.reshape(s, nb, BLOCK).max(axis=-1))
    qb = positions // BLOCK
    future = np.arange(nb)[None, :] > qb[:, None]
    best[future] = -np.inf
    allowed = np.zeros((s, nb), dtype=bool)
    k = min(TOPK, nb)
    order = np.argsort(-best, axis=-1, kind="stable")[:, :k]
    np.put_along_axis(allowed, order, True, axis=-1)
    allowed[:, :INIT_BLOCKS] = True
    for j in range(LOCAL_BLOCKS):
        allowed[np.arange(s), np.maximum(qb - j, 0)] = True
    allowed &= ~future
    return allowed, best


def numpy_forward(sd, tokens):
    """-> (logits [S, V] float64, {layer: (allowed [S, nb], block scores [S, nb])})."""
    s = len(tokens)
    pos = np.arange(s)
    x = sd["model.embed_tokens.weight"].astype(np.float64)[tokens]
    sel = {}
    causal = pos[None, :] <= pos[:, None]
    for i in range(N_LAYERS):
        p = f"model.layers.{i}."
        w = lambda n: sd[p + n].astype(np.float64)  # noqa: E731
        xn = gemma_rms(x, sd[p + "input_layernorm.weight"])
        q = gemma_rms((xn @ w("self_attn.q_proj.weight").T).reshape(s, N_HEAD, HEAD_DIM),
                      sd[p + "self_attn.q_norm.weight"])
        k = gemma_rms((xn @ w("self_attn.k_proj.weight").T).reshape(s, N_HEAD_KV, HEAD_DIM),
                      sd[p + "self_attn.k_norm.weight"])
        v = (xn @ w("self_attn.v_proj.weight").T).reshape(s, N_HEAD_KV, HEAD_DIM)
        q, k = rope_neox(q, pos, ROT_DIM), rope_neox(k, pos, ROT_DIM)
        mask = causal
        if SPARSE_FREQ[i]:
            iq = gemma_rms((xn @ w("self_attn.indexer.q_proj.weight").T).reshape(s, IDX_HEADS, IDX_DIM),
                           sd[p + "self_attn.indexer.q_norm.weight"])
            ik = gemma_rms((xn @ w("self_attn.indexer.k_proj.weight").T).reshape(s, 1, IDX_DIM),
                           sd[p + "self_attn.indexer.k_norm.weight"])
            n_rot = min(ROT_DIM, IDX_DIM)
            iq, ik = rope_neox(iq, pos, n_rot), rope_neox(ik, pos, n_rot)
            allowed, scores = select_blocks(iq, ik[:, 0, :], pos)
            sel[i] = (allowed, scores)
            mask = causal & np.repeat(allowed, BLOCK, axis=1)[:, :s]
        att = np.zeros((s, N_HEAD, HEAD_DIM))
        group = N_HEAD // N_HEAD_KV
        for h in range(N_HEAD):
            sc = (q[:, h, :] @ k[:, h // group, :].T) / np.sqrt(HEAD_DIM)
            sc = np.where(mask, sc, -np.inf)
            sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
            sc /= sc.sum(axis=-1, keepdims=True)
            att[:, h, :] = sc @ v[:, h // group, :]
        x = x + att.reshape(s, -1) @ w("self_attn.o_proj.weight").T
        xn = gemma_rms(x, sd[p + "post_attention_layernorm.weight"])
        gu = xn @ w("mlp.gate_up_proj.weight").T
        gate, up = np.minimum(gu[:, :N_FF], SWIGLU_LIMIT), np.clip(gu[:, N_FF:], -SWIGLU_LIMIT, SWIGLU_LIMIT)
        act = (up + 1.0) * gate / (1.0 + np.exp(-SWIGLU_ALPHA * gate))
        x = x + act @ w("mlp.down_proj.weight").T
    x = gemma_rms(x, sd["model.norm.weight"])
    return x @ sd["lm_head.weight"].astype(np.float64).T, sel


# --- GGUF ---------------------------------------------------------------------------------------

GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "self_attn.indexer.q_proj.weight": "index_q.weight",
    "self_attn.indexer.k_proj.weight": "index_k.weight",
    "self_attn.indexer.q_norm.weight": "index_q_norm.weight",
    "self_attn.indexer.k_norm.weight": "index_k_norm.weight",
}


def gguf_tensors(sd) -> dict:
    """HF names -> GGUF names and values: norms stored as 1 + w (Gemma), gate_up split in two."""
    out = {"token_embd.weight": sd["model.embed_tokens.weight"],
           "output_norm.weight": sd["model.norm.weight"] + np.float32(1.0),
           "output.weight": sd["lm_head.weight"]}
    for i in range(N_LAYERS):
        p = f"model.layers.{i}."
        for hf, gg in GGUF_LAYER_NAMES.items():
            if p + hf in sd:
                v = sd[p + hf]
                out[f"blk.{i}.{gg}"] = v + np.float32(1.0) if hf.endswith("norm.weight") else v
        gu = sd[p + "mlp.gate_up_proj.weight"]
        out[f"blk.{i}.ffn_gate.weight"] = gu[:N_FF]
        out[f"blk.{i}.ffn_up.weight"] = gu[N_FF:]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def write_gguf(sd, path):
    w = GGUFWriter()
    a = ARCH
    w.add_string("general.architecture", a)
    w.add_string("general.name", "gannet-tiny-minimax-m3")
    w.add_u32("general.file_type", 0)
    w.add_u32("general.quantization_version", 2)
    w.add_u32(f"{a}.vocab_size", N_VOCAB)
    w.add_u32(f"{a}.context_length", 4096)
    w.add_u32(f"{a}.embedding_length", N_EMBD)
    w.add_u32(f"{a}.block_count", N_LAYERS)
    w.add_u32(f"{a}.feed_forward_length", N_FF)
    w.add_u32(f"{a}.attention.head_count", N_HEAD)
    w.add_u32(f"{a}.attention.head_count_kv", N_HEAD_KV)
    w.add_u32(f"{a}.attention.key_length", HEAD_DIM)
    w.add_u32(f"{a}.attention.value_length", HEAD_DIM)
    w.add_f32(f"{a}.attention.layer_norm_rms_epsilon", RMS_EPS)
    w.add_f32(f"{a}.rope.freq_base", ROPE_THETA)
    w.add_u32(f"{a}.rope.dimension_count", ROT_DIM)
    w.add_f32(f"{a}.swiglu_alpha", SWIGLU_ALPHA)
    w.add_f32(f"{a}.swiglu_limit", SWIGLU_LIMIT)
    w.add_array(f"{a}.sparse.layers", SPARSE_FREQ, ValueType.I32)
    w.add_u32(f"{a}.sparse.block_size", BLOCK)
    w.add_u32(f"{a}.sparse.topk_blocks", TOPK)
    w.add_u32(f"{a}.sparse.index_head_count", IDX_HEADS)
    w.add_u32(f"{a}.sparse.index_key_length", IDX_DIM)
    w.add_u32(f"{a}.sparse.init_blocks", INIT_BLOCKS)
    w.add_u32(f"{a}.sparse.local_blocks", LOCAL_BLOCKS)
    w.add_string(f"{a}.sparse.selection", "shared")
    w.add_bool(f"{a}.sparse.local_in_topk", False)
    vocab = make_byte_vocab(N_VOCAB)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", vocab.pre)
    w.add_string_array("tokenizer.ggml.tokens", vocab.tokens)
    w.add_array("tokenizer.ggml.token_type", vocab.token_types, ValueType.I32)
    w.add_string_array("tokenizer.ggml.merges", vocab.merges)
    w.add_u32("tokenizer.ggml.bos_token_id", vocab.bos_id)
    w.add_u32("tokenizer.ggml.eos_token_id", vocab.eos_id)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    tensors = gguf_tensors(sd)
    for name in sorted(tensors, key=lambda n: (n != "token_embd.weight", n.startswith("output"), n)):
        w.add_tensor(name, tensors[name], GGMLType.F32)
    w.write(path)


# --- transformers -------------------------------------------------------------------------------

def hf_forward(sd, tokens):
    """-> (logits [S, V] float32 numpy, {layer: allowed [S, n_blocks] bool}) from transformers."""
    import torch
    from transformers.models.minimax_m3_vl import modeling_minimax_m3_vl as mm
    from transformers.models.minimax_m3_vl.configuration_minimax_m3_vl import MiniMaxM3VLTextConfig

    kwargs = hf_text_config_kwargs()
    config = None
    try:
        import dataclasses
        declared = {f.name for f in dataclasses.fields(MiniMaxM3VLTextConfig)}
    except TypeError:  # not a dataclass in this transformers
        declared = set(kwargs)
    attempts = [dict(kwargs, attn_implementation="eager"), dict(kwargs),
                {k: v for k, v in kwargs.items() if k in declared}]
    for i, attempt in enumerate(attempts):
        try:
            config = MiniMaxM3VLTextConfig(**attempt)
            break
        except Exception as e:  # noqa: BLE001 - a keyword this transformers does not take: next form
            print(f"config attempt {i}: {e}", flush=True)
    if config is None:
        raise RuntimeError("MiniMaxM3VLTextConfig refused every form of the config")
    for k, v in kwargs.items():
        if k in declared and getattr(config, k, None) is None and v is not None:
            try:
                setattr(config, k, v)
            except Exception as e:  # noqa: BLE001 - a strict config may refuse; the run reports it
                print(f"config: cannot set {k}: {e}", flush=True)
    try:
        config._attn_implementation = "eager"
    except Exception:  # noqa: BLE001 - read-only in some versions; the constructor argument did it
        pass
    torch_sd = {k: torch.from_numpy(v.copy()) for k, v in sd.items()}
    if hasattr(mm, "MiniMaxM3VLForCausalLM"):
        model = mm.MiniMaxM3VLForCausalLM(config).float().eval()
        layers_owner = model.model
    else:  # text backbone only: the lm_head is applied here
        model = mm.MiniMaxM3VLTextModel(config).float().eval()
        layers_owner = model
        torch_sd = {k[len("model."):]: v for k, v in torch_sd.items() if k.startswith("model.")}
    missing, unexpected = model.load_state_dict(torch_sd, strict=False)
    if missing or unexpected:
        for k, v in model.state_dict().items():
            print(f"  transformers has {k} {tuple(v.shape)}", flush=True)
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    captured = {}

    def hook(layer):
        def fn(_module, _inputs, output):
            captured[layer] = output.detach()
        return fn

    handles = []
    for i, layer in enumerate(layers_owner.layers):
        # transformers 5.17: every attention has an `indexer` attribute, None on dense layers.
        indexer = getattr(layer.self_attn, "indexer", None)
        if SPARSE_FREQ[i]:
            if indexer is None:
                raise RuntimeError(f"layer {i} of transformers' model has no indexer")
            handles.append(indexer.register_forward_hook(hook(i)))
        elif indexer is not None:
            raise RuntimeError(f"layer {i} should be dense but has an indexer")
    with torch.no_grad():
        out = model(input_ids=torch.tensor([tokens]), use_cache=False)
        if hasattr(out, "logits"):
            logits = out.logits[0]
        else:
            logits = out.last_hidden_state[0] @ torch.from_numpy(sd["lm_head.weight"]).T
    for h in handles:
        h.remove()
    s = len(tokens)
    nb = -(-s // BLOCK)
    sel = {}
    for i, out in captured.items():
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.is_floating_point():  # [B, 1, S_q, S_k] additive bias, 0 = allowed
            b = out.reshape(out.shape[-2], out.shape[-1])
            sel[i] = (b[:, ::BLOCK][:, :nb].float().cpu().numpy() == 0.0)
        else:  # block ids [.., S_q, k], -1 = unused
            ids = out.reshape(-1, s, out.shape[-1]).cpu().numpy()
            allowed = np.zeros((s, nb), dtype=bool)
            for row in ids:
                for q in range(s):
                    allowed[q, row[q][row[q] >= 0]] = True
            sel[i] = allowed
    info = {"hf_class": type(model).__name__, "layer_types": list(config.layer_types)}
    return logits.float().cpu().numpy(), sel, info


# --- outputs ------------------------------------------------------------------------------------

def block_lists(allowed_by_layer, scores_by_layer):
    layers, margins = {}, {}
    for i, allowed in sorted(allowed_by_layer.items()):
        layers[str(i)] = [[int(b) for b in np.nonzero(allowed[q])[0]] for q in QUERY_POSITIONS]
        if scores_by_layer is not None:
            sc = scores_by_layer[i]
            ms = []
            for q in QUERY_POSITIONS:
                row = np.sort(sc[q][np.isfinite(sc[q])])[::-1]
                ms.append(float(row[TOPK - 1] - row[TOPK]) if row.size > TOPK else None)
            margins[str(i)] = ms
    return {"block_size": BLOCK, "topk": TOPK, "query_positions": QUERY_POSITIONS,
            "layers": layers, "margins": margins}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--numpy-only", action="store_true", help="skip transformers (no torch here)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    prov = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "numpy": np.__version__, "python": platform.python_version(), "seed": SEED,
            "n_tokens": N_TOKENS, "hf_text_config": hf_text_config_kwargs()}
    sd = make_weights()
    tokens = make_tokens()
    write_gguf(sd, os.path.join(args.out, "minimax-m3-tiny-f32.gguf"))
    with open(os.path.join(args.out, "tokens.json"), "w") as fp:
        json.dump({"tokens": tokens, "n_vocab": N_VOCAB, "logit_positions": LOGIT_POSITIONS,
                   "query_positions": QUERY_POSITIONS}, fp)
        fp.write("\n")

    np_logits, np_sel = numpy_forward(sd, tokens)
    np_scores = {i: s for i, (_, s) in np_sel.items()}
    np_allowed = {i: a for i, (a, _) in np_sel.items()}
    np_blocks = block_lists(np_allowed, np_scores)
    dense_blocks = int(sum(a.sum() for a in np_allowed.values()))
    print(f"numpy: selected {dense_blocks} (query, block) pairs over the sparse layers", flush=True)
    failures = []
    ref_logits, ref_blocks = np_logits, np_blocks
    try:
        import torch
        import transformers
        has_hf = not args.numpy_only
    except ImportError:
        has_hf = False
    if has_hf:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_num_threads(min(16, os.cpu_count() or 1))
        prov.update({"torch": torch.__version__, "transformers": transformers.__version__,
                     "reference": "transformers, CPU float32, eager attention"})
        print(json.dumps({k: prov[k] for k in ("torch", "transformers")}), flush=True)
        hf_logits, hf_sel, info = hf_forward(sd, tokens)
        prov.update(info)
        ref_logits = hf_logits
        ref_blocks = block_lists(hf_sel, np_scores)
        d = float(np.abs(hf_logits[LOGIT_POSITIONS] - np_logits[LOGIT_POSITIONS]).max())
        d_all = float(np.abs(hf_logits - np_logits).max())
        n_diff = {str(i): int((hf_sel[i] != np_allowed[i]).any(axis=-1).sum()) for i in hf_sel}
        prov.update({"max_diff_numpy_vs_hf_logits": d_all, "queries_with_other_blocks_numpy_vs_hf": n_diff,
                     "max_abs_logit": float(np.abs(hf_logits).max())})
        print(f"numpy f64 vs HF f32: logits max diff {d_all:.3g} (fixture rows {d:.3g}); "
              f"queries whose block set differs per layer {n_diff}", flush=True)
        if d_all > 1e-3 * max(1.0, float(np.abs(hf_logits).max())):
            failures.append(f"numpy spec differs from transformers by {d_all:.3g}")
        np.asarray(np_logits[LOGIT_POSITIONS], dtype="<f4").tofile(os.path.join(args.out, "numpy_logits.f32"))
        with open(os.path.join(args.out, "numpy_blocks.json"), "w") as fp:
            json.dump(np_blocks, fp)
            fp.write("\n")
    else:
        prov["reference"] = "numpy float64 spec only (transformers not run)"
    np.asarray(ref_logits[LOGIT_POSITIONS], dtype="<f4").tofile(os.path.join(args.out, "logits.f32"))
    with open(os.path.join(args.out, "blocks.json"), "w") as fp:
        json.dump(ref_blocks, fp)
        fp.write("\n")
    # Selection must matter: the last query sees far more blocks than it keeps.
    last = ref_blocks["layers"][str(SPARSE_FREQ.index(1))][-1]
    if len(last) > TOPK + LOCAL_BLOCKS or len(last) >= -(-N_TOKENS // BLOCK):
        failures.append(f"the last query keeps {len(last)} blocks: selection does not matter")
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    prov["total_bytes"] = total
    prov["failures"] = failures
    with open(os.path.join(args.out, "provenance.json"), "w") as fp:
        json.dump(prov, fp, indent=1)
        fp.write("\n")
    print(f"total {total} bytes in {args.out}; failures: {failures}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
