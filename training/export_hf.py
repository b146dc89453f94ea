"""Hugging Face checkpoint (state dict + config) -> GGUF, with llama.cpp's tensor names, metadata
keys and converter conventions, so our files read like files made by llama.cpp's
convert_hf_to_gguf.py. Architectures: llama, qwen2, qwen3, gemma3 (text only).

Conventions followed (each one is checked against transformers by make_reference_fixtures.py):
  - llama: the rows of attn_q / attn_k (weights and biases) are permuted from HF's rotate_half
    layout (pairs (i, i + d/2) per head) to interleaved pairs (2i, 2i + 1): ggml's "normal" rope.
    qwen2, qwen3, gemma3 keep HF's layout and use ggml's NeoX rope.
  - gemma3: every RMSNorm weight is stored as 1 + w (HF's Gemma3RMSNorm computes x * (1 + w)).
    llama.cpp's loader assumes the HF defaults that our config must match (checked here):
    sliding-window pattern 6 (layer i is global when (i + 1) % 6 == 0), rope base 10000 on the
    sliding layers (rope.freq_base is the global layers' base), attention scale 1/sqrt(head_dim)
    (so query_pre_attn_scalar must equal head_dim), embeddings scaled by sqrt(n_embd) at run time.
  - Tensors of one dimension (norms, biases) are always F32; matrices take the requested type.
  - With tie_word_embeddings, output.weight is left out (the loader falls back to token_embd).

Pure numpy: export_state_dict() takes float32 numpy arrays keyed by HF names. The command line
loads a saved HF model directory (needs torch + safetensors):
    python3 export_hf.py --model-dir DIR --out model-f16.gguf --outtype f16
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field

import numpy as np

from gguf_writer import GGMLType, GGUFWriter, ValueType, round_to

OUTTYPES = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16}
# general.file_type (llama_ftype): ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_BF16 = 32.
FILE_TYPE = {GGMLType.F32: 0, GGMLType.F16: 1, GGMLType.BF16: 32}
QUANTIZATION_VERSION = 2

# llama.cpp token types.
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5

GEMMA3_SWA_PATTERN = 6
GEMMA3_SWA_ROPE_BASE = 10000.0


@dataclass
class HParams:
    arch: str
    n_vocab: int
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rope_theta: float
    rms_eps: float
    context_length: int
    tie_embeddings: bool
    sliding_window: int = 0          # gemma3
    rope_theta_swa: float = 0.0      # gemma3 (sliding layers)
    final_logit_softcap: float = 0.0  # gemma3; 0 = none
    layer_is_swa: list = field(default_factory=list)


def _get(cfg, key, default=None):
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def _rope_theta(cfg, layer_type: str | None, legacy_key: str, default: float) -> float:
    """rope_theta from a transformers 5 config (rope_parameters, per layer type for gemma3)
    or a 4.x one (rope_theta / rope_local_base_freq)."""
    rp = _get(cfg, "rope_parameters")
    if isinstance(rp, dict):
        if layer_type is not None and isinstance(rp.get(layer_type), dict):
            rp = rp[layer_type]
        rope_type = rp.get("rope_type", rp.get("type", "default"))
        if rope_type != "default":
            raise NotImplementedError(f"rope scaling {rope_type!r} is not exported")
        if "rope_theta" in rp:
            return float(rp["rope_theta"])
    scaling = _get(cfg, "rope_scaling")
    if isinstance(scaling, dict) and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        raise NotImplementedError(f"rope scaling {scaling} is not exported")
    value = _get(cfg, legacy_key)
    return float(default if value is None else value)


def hparams_from_hf(cfg) -> HParams:
    """cfg: a transformers config object or a config.json dict."""
    model_type = _get(cfg, "model_type")
    if model_type == "gemma3" and _get(cfg, "text_config") is not None:
        cfg = _get(cfg, "text_config")
        model_type = "gemma3_text"
    arch = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3_text": "gemma3"}.get(model_type)
    if arch is None:
        raise NotImplementedError(f"model_type {model_type!r} is not supported")
    n_embd = int(_get(cfg, "hidden_size"))
    n_head = int(_get(cfg, "num_attention_heads"))
    head_dim = _get(cfg, "head_dim") or n_embd // n_head
    hp = HParams(
        arch=arch,
        n_vocab=int(_get(cfg, "vocab_size")),
        n_embd=n_embd,
        n_layer=int(_get(cfg, "num_hidden_layers")),
        n_ff=int(_get(cfg, "intermediate_size")),
        n_head=n_head,
        n_head_kv=int(_get(cfg, "num_key_value_heads") or n_head),
        head_dim=int(head_dim),
        rope_theta=0.0,
        rms_eps=float(_get(cfg, "rms_norm_eps")),
        context_length=int(_get(cfg, "max_position_embeddings")),
        tie_embeddings=bool(_get(cfg, "tie_word_embeddings", arch == "gemma3")),
    )
    if arch == "gemma3":
        hp.rope_theta = _rope_theta(cfg, "full_attention", "rope_theta", 1_000_000.0)
        hp.rope_theta_swa = _rope_theta(cfg, "sliding_attention", "rope_local_base_freq",
                                        GEMMA3_SWA_ROPE_BASE)
        hp.sliding_window = int(_get(cfg, "sliding_window"))
        hp.final_logit_softcap = float(_get(cfg, "final_logit_softcapping") or 0.0)
        pattern = [bool((i + 1) % GEMMA3_SWA_PATTERN) for i in range(hp.n_layer)]
        layer_types = _get(cfg, "layer_types")
        if layer_types is not None:
            hp.layer_is_swa = [t == "sliding_attention" for t in layer_types]
        else:
            pattern_cfg = _get(cfg, "sliding_window_pattern", GEMMA3_SWA_PATTERN)
            hp.layer_is_swa = [bool((i + 1) % pattern_cfg) for i in range(hp.n_layer)]
        # What llama.cpp's gemma3 loader cannot express must match its built-in defaults.
        if hp.layer_is_swa != pattern:
            raise NotImplementedError("gemma3: only the sliding-window pattern 6 is expressible")
        if hp.rope_theta_swa != GEMMA3_SWA_ROPE_BASE:
            raise NotImplementedError("gemma3: sliding layers must use rope base 10000")
        if float(_get(cfg, "query_pre_attn_scalar")) != float(hp.head_dim):
            raise NotImplementedError("gemma3: query_pre_attn_scalar must equal head_dim")
        if _get(cfg, "attn_logit_softcapping") is not None:
            raise NotImplementedError("gemma3: attn_logit_softcapping is not supported")
        if _get(cfg, "hidden_activation", "gelu_pytorch_tanh") != "gelu_pytorch_tanh":
            raise NotImplementedError("gemma3: only gelu_pytorch_tanh is supported")
    else:
        hp.rope_theta = _rope_theta(cfg, None, "rope_theta", 10000.0)
        if _get(cfg, "use_sliding_window", False):
            raise NotImplementedError(f"{arch}: use_sliding_window is not exported")
        act = _get(cfg, "hidden_act", "silu")
        if act != "silu":
            raise NotImplementedError(f"{arch}: hidden_act {act!r} is not supported")
        if arch == "llama" and _get(cfg, "mlp_bias", False):
            raise NotImplementedError("llama: mlp_bias is not supported")
    return hp


# --- tensors ------------------------------------------------------------------------------------

_LAYER_MAP_COMMON = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER_MAP_LLAMA = {"post_attention_layernorm": "ffn_norm"}
_LAYER_MAP_GEMMA3 = {
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")


def gguf_name(hp: HParams, hf_name: str) -> str | None:
    """llama.cpp's name for an HF tensor; None for tensors that are not stored (tied lm_head,
    rotary buffers). Raises KeyError for a tensor we do not know."""
    if hf_name.endswith("rotary_emb.inv_freq"):
        return None
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return None if hp.tie_embeddings else "output.weight"
    m = _LAYER_RE.match(hf_name)
    if m:
        layer_map = dict(_LAYER_MAP_COMMON)
        layer_map.update(_LAYER_MAP_GEMMA3 if hp.arch == "gemma3" else _LAYER_MAP_LLAMA)
        if m.group(2) in layer_map:
            return f"blk.{int(m.group(1))}.{layer_map[m.group(2)]}.{m.group(3)}"
    raise KeyError(f"unknown tensor {hf_name!r} for {hp.arch}")


def permute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotate_half layout -> interleaved pairs, per head (llama.cpp's `permute`). Row r = h*d + j
    of the result holds HF row h*d + (j//2 + (j%2)*d/2)."""
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise ValueError(f"rows {rows} not divisible by 2 * n_head {n_head}")
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def convert_tensor(hp: HParams, hf_name: str, x: np.ndarray) -> np.ndarray:
    """HF tensor (float32, torch order) -> the float32 values llama.cpp's converter stores."""
    x = np.asarray(x, dtype=np.float32)
    if hp.arch == "llama":
        if hf_name.endswith(("self_attn.q_proj.weight", "self_attn.q_proj.bias")):
            x = permute_rope_rows(x, hp.n_head)
        elif hf_name.endswith(("self_attn.k_proj.weight", "self_attn.k_proj.bias")):
            x = permute_rope_rows(x, hp.n_head_kv)
    if hp.arch == "gemma3" and hf_name.endswith("norm.weight"):
        x = x + np.float32(1.0)
    return np.ascontiguousarray(x, dtype=np.float32)


def stored_type(x: np.ndarray, outtype: GGMLType) -> GGMLType:
    return GGMLType.F32 if x.ndim <= 1 else outtype


def round_state_dict(state_dict: dict, outtype: GGMLType) -> dict:
    """HF weights as the GGUF of this outtype holds them: matrices rounded to outtype, vectors
    (norms, biases) kept in float32. Rounding commutes with the permutation and gemma's +1 is done
    in float32 on both sides, so running HF on these weights in float32 is the exact reference."""
    return {k: round_to(v, stored_type(np.asarray(v), outtype)) for k, v in state_dict.items()}


# --- tokenizer ----------------------------------------------------------------------------------

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by byte-level BPE vocabularies."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
                 + list(range(ord("\xae"), ord("\xff") + 1)))
    mapping = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + n)
            n += 1
    return mapping


# A few merges over the byte alphabet ("Ġ" is the space byte); each result is a vocab token.
_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r"), ("a", "n"),
           ("o", "n"), ("Ġ", "a"), ("r", "e"), ("Ġ", "s")]


@dataclass
class Vocab:
    tokens: list
    token_types: list
    merges: list
    bos_id: int
    eos_id: int
    pre: str = "default"            # tokenizer.ggml.pre
    add_bos: bool = False           # tokenizer.ggml.add_bos_token
    eot_id: int | None = None       # tokenizer.ggml.eot_token_id (end of a chat turn)
    chat_template: str | None = None


# ChatML, as Jinja (tokenizer.chat_template). BOS is not in the template: add_bos_token adds it.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def vocab_from_tokenizer_json(path: str, bos: str = "<|bos|>", eos: str = "<|eos|>",
                              eot: str | None = "<|im_end|>", pre: str = "gpt-2",
                              add_bos: bool = True,
                              chat_template: str | None = CHATML_TEMPLATE) -> Vocab:
    """A byte-level BPE tokenizer saved by Hugging Face `tokenizers` (tokenizer.json) -> the GGUF
    "gpt2" vocabulary: tokens in id order, added (special) tokens as control tokens, merges as
    "left right" strings. Refuses anything but a ByteLevel BPE model with contiguous ids."""
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    model = tj.get("model", {})
    if model.get("type") != "BPE":
        raise ValueError(f"{path}: model type {model.get('type')!r}, want BPE")
    pre_tok = json.dumps(tj.get("pre_tokenizer"))
    if "ByteLevel" not in pre_tok:
        raise ValueError(f"{path}: not a byte-level pre-tokenizer")
    id_of = dict(model["vocab"])
    special = set()
    for t in tj.get("added_tokens", []):
        id_of[t["content"]] = t["id"]
        if t.get("special"):
            special.add(t["content"])
    n = len(id_of)
    tokens = [None] * n
    for tok, i in id_of.items():
        if not 0 <= i < n or tokens[i] is not None:
            raise ValueError(f"{path}: token ids are not 0..{n - 1} without gaps")
        tokens[i] = tok
    b2u = bytes_to_unicode()
    missing = [b for b in range(256) if b2u[b] not in id_of]
    if missing:
        raise ValueError(f"{path}: {len(missing)} byte tokens missing (e.g. byte {missing[0]})")
    merges = []
    for m in model.get("merges", []):
        a, b = (m.split(" ", 1) if isinstance(m, str) else m)
        if a + b not in id_of:
            raise ValueError(f"{path}: merge {a!r} {b!r} makes no vocabulary token")
        merges.append(f"{a} {b}")
    types = [TOKEN_CONTROL if t in special else TOKEN_NORMAL for t in tokens]
    for name in [bos, eos] + ([eot] if eot else []):
        if name not in id_of:
            raise ValueError(f"{path}: no token {name!r}")
    return Vocab(tokens, types, merges, id_of[bos], id_of[eos], pre=pre, add_bos=add_bos,
                 eot_id=id_of[eot] if eot else None, chat_template=chat_template)


def make_byte_vocab(n_vocab: int) -> Vocab:
    """256 byte tokens (id = byte value), the merged tokens, <|bos|> and <|eos|> (control), then
    <unused_N> (type unused) up to n_vocab."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    types = [TOKEN_NORMAL] * 256
    merges = []
    for a, b in _MERGES:
        assert a in tokens and b in tokens
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        types.append(TOKEN_NORMAL)
    bos_id = len(tokens)
    tokens += ["<|bos|>", "<|eos|>"]
    types += [TOKEN_CONTROL, TOKEN_CONTROL]
    if n_vocab < len(tokens):
        raise ValueError(f"n_vocab {n_vocab} < {len(tokens)} tokens of the byte vocab")
    for i in range(n_vocab - len(tokens)):
        tokens.append(f"<unused_{i}>")
        types.append(TOKEN_UNUSED)
    return Vocab(tokens, types, merges, bos_id, bos_id + 1)


# --- the file -----------------------------------------------------------------------------------

def add_metadata(w: GGUFWriter, hp: HParams, outtype: GGMLType, name: str,
                 vocab: Vocab | None = None) -> None:
    a = hp.arch
    w.add_string("general.architecture", a)
    w.add_string("general.name", name)
    w.add_u32("general.file_type", FILE_TYPE[outtype])
    w.add_u32("general.quantization_version", QUANTIZATION_VERSION)
    w.add_u32(f"{a}.vocab_size", hp.n_vocab)
    w.add_u32(f"{a}.context_length", hp.context_length)
    w.add_u32(f"{a}.embedding_length", hp.n_embd)
    w.add_u32(f"{a}.block_count", hp.n_layer)
    w.add_u32(f"{a}.feed_forward_length", hp.n_ff)
    w.add_u32(f"{a}.attention.head_count", hp.n_head)
    w.add_u32(f"{a}.attention.head_count_kv", hp.n_head_kv)
    w.add_u32(f"{a}.attention.key_length", hp.head_dim)
    w.add_u32(f"{a}.attention.value_length", hp.head_dim)
    w.add_f32(f"{a}.attention.layer_norm_rms_epsilon", hp.rms_eps)
    w.add_f32(f"{a}.rope.freq_base", hp.rope_theta)
    w.add_u32(f"{a}.rope.dimension_count", hp.head_dim)
    if a == "gemma3":
        w.add_u32(f"{a}.attention.sliding_window", hp.sliding_window)
        if hp.final_logit_softcap:
            w.add_f32(f"{a}.final_logit_softcapping", hp.final_logit_softcap)
    if vocab is None:
        vocab = make_byte_vocab(hp.n_vocab)
    if len(vocab.tokens) != hp.n_vocab:
        raise ValueError(f"vocabulary has {len(vocab.tokens)} tokens, the model {hp.n_vocab}")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", vocab.pre)
    w.add_string_array("tokenizer.ggml.tokens", vocab.tokens)
    w.add_array("tokenizer.ggml.token_type", vocab.token_types, ValueType.I32)
    w.add_string_array("tokenizer.ggml.merges", vocab.merges)
    w.add_u32("tokenizer.ggml.bos_token_id", vocab.bos_id)
    w.add_u32("tokenizer.ggml.eos_token_id", vocab.eos_id)
    if vocab.eot_id is not None:
        w.add_u32("tokenizer.ggml.eot_token_id", vocab.eot_id)
    w.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    if vocab.chat_template:
        w.add_string("tokenizer.chat_template", vocab.chat_template)


def _tensor_order(name: str):
    m = re.match(r"^blk\.(\d+)\.", name)
    if name == "token_embd.weight":
        return (0, 0, name)
    if m:
        return (1, int(m.group(1)), name)
    return (2, 0, name)


def export_state_dict(hp: HParams, state_dict: dict, path: str, outtype: GGMLType,
                      name: str = "", vocab: Vocab | None = None) -> dict:
    """Writes the GGUF; returns {gguf name: (stored float32 values, ggml type)} for checks.
    vocab: the tokenizer to store (default: the minimal byte vocabulary of the test models)."""
    w = GGUFWriter()
    add_metadata(w, hp, outtype, name or f"gannet-test-{hp.arch}", vocab)
    stored = {}
    for hf_name, x in state_dict.items():
        gname = gguf_name(hp, hf_name)
        if gname is None:
            continue
        y = convert_tensor(hp, hf_name, x)
        stored[gname] = (y, stored_type(y, outtype))
    if "token_embd.weight" not in stored:
        raise KeyError("model.embed_tokens.weight missing")
    if not hp.tie_embeddings and "output.weight" not in stored:
        raise KeyError("lm_head.weight missing for an untied model")
    for gname in sorted(stored, key=_tensor_order):
        y, t = stored[gname]
        w.add_tensor(gname, y, t)
    w.write(path)
    return stored


def _load_model_dir(model_dir: str):
    from safetensors.torch import load_file
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    sd = {}
    for fn in sorted(os.listdir(model_dir)):
        if fn.endswith(".safetensors"):
            for k, v in load_file(os.path.join(model_dir, fn)).items():
                sd[k] = v.float().numpy()
    return cfg, sd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True, help="HF model directory (config.json + safetensors)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--outtype", choices=sorted(OUTTYPES), default="f16")
    ap.add_argument("--tokenizer", help="tokenizer.json of a byte-level BPE (default: the model "
                    "dir's tokenizer.json if present, else the minimal test vocabulary)")
    ap.add_argument("--name", help="general.name (default: the model dir's name)")
    args = ap.parse_args()
    cfg, sd = _load_model_dir(args.model_dir)
    hp = hparams_from_hf(cfg)
    tok_path = args.tokenizer or os.path.join(args.model_dir, "tokenizer.json")
    vocab = vocab_from_tokenizer_json(tok_path) if os.path.exists(tok_path) else None
    export_state_dict(hp, sd, args.out, OUTTYPES[args.outtype],
                      args.name or os.path.basename(os.path.normpath(args.model_dir)), vocab)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
