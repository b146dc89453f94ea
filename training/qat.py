"""Quantization-aware fine-tuning of a GGUF llama for a `gannet quantize` plan (issue 8, the 2-bit
row): every matrix goes through the fake quantizer of the type the plan gives it (fake_quant.py,
straight-through estimator), then the dequantized weights are exported in F16 so that
`gannet quantize OUT.gguf Q.gguf --plan PLAN` stores (nearly) the values that were trained.

    PYTHONUNBUFFERED=1 python3 training/qat.py --corpus .device/corpus/train.txt.gz \
        --plan plans/mobile-2bit.json --seconds 90 --out /tmp/qat2/gannet-default-qat2.gguf

Starts from the shipped F16 model (models/gannet-default.gguf): GGUF -> HF state dict (the llama
Q/K row permutation undone) -> LlamaForCausalLM built as train.py builds it; the load is checked
against gguf_forward.py. Training reuses train.py (run_training, perplexity, export_gguf). Prints
and writes (--report) PyTorch held-out perplexities: F16, PTQ of q4_0 / q2_k / the plan (values as
`gannet quantize` would give them, by the fake quantizers) and QAT with the plan.
Without transformers (the CPU machine) a small torch llama with HF's parameter names stands in,
so a dry run works anywhere torch does (e.g. --steps 2 --batch 2 --eval-tokens 2048).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import os
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_hf  # noqa: E402
import fake_quant  # noqa: E402
import gguf_forward  # noqa: E402
import train  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

ROOT = os.path.dirname(HERE)
log = train.log


# --- GGUF -> HF ------------------------------------------------------------------------------------

def unpermute_rope_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of export_hf.permute_rope_rows (interleaved pairs -> HF rotate_half layout)."""
    rows = w.shape[0]
    return (w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def hf_config_dict(f: GGUFFile) -> dict:
    """A config.json-style dict of a llama GGUF (what hparams_from_hf reads)."""
    arch = f.value("general.architecture")
    if arch != "llama":
        raise NotImplementedError(f"qat.py handles llama GGUFs, not {arch!r}")
    k = lambda name: f.value(f"llama.{name}")  # noqa: E731
    return dict(model_type="llama", vocab_size=len(f.value("tokenizer.ggml.tokens")),
                hidden_size=k("embedding_length"), intermediate_size=k("feed_forward_length"),
                num_hidden_layers=k("block_count"), num_attention_heads=k("attention.head_count"),
                num_key_value_heads=k("attention.head_count_kv"), head_dim=k("attention.key_length"),
                max_position_embeddings=k("context_length"), rms_norm_eps=k("attention.layer_norm_rms_epsilon"),
                rope_parameters={"rope_type": "default", "rope_theta": k("rope.freq_base")},
                hidden_act="silu", tie_word_embeddings="output.weight" not in f.tensors,
                bos_token_id=f.value("tokenizer.ggml.bos_token_id"),
                eos_token_id=f.value("tokenizer.ggml.eos_token_id"))


def hf_state_dict(f: GGUFFile, hp: export_hf.HParams) -> dict:
    """{HF name: float32 torch tensor} from the GGUF (every stored tensor, tied lm_head left out)."""
    back = {}
    for il in range(hp.n_layer):
        for hf in ("input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                   "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
            name = f"model.layers.{il}.{hf}.weight"
            back[export_hf.gguf_name(hp, name)] = name
    for name in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
        g = export_hf.gguf_name(hp, name)
        if g is not None:
            back[g] = name
    missing = set(back) - set(f.tensors)
    extra = set(f.tensors) - set(back)
    if missing or extra:
        raise ValueError(f"GGUF tensors do not match a {hp.n_layer}-layer llama: missing {sorted(missing)}, "
                         f"unexpected {sorted(extra)}")
    sd = {}
    for g, name in back.items():
        x = f.tensor_f32(g)
        if name.endswith("q_proj.weight"):
            x = unpermute_rope_rows(x, hp.n_head)
        elif name.endswith("k_proj.weight"):
            x = unpermute_rope_rows(x, hp.n_head_kv)
        sd[name] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return sd


# --- a stand-in llama for machines without transformers -------------------------------------------

class _RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


class LocalLlama(torch.nn.Module):
    """HF LlamaForCausalLM's parameter names and maths (rotate_half rope, GQA, SwiGLU, tied head);
    used only where transformers is missing. The load check against gguf_forward covers it."""

    def __init__(self, c: dict):
        super().__init__()
        self.c = c
        d, ff, hd = c["hidden_size"], c["intermediate_size"], c["head_dim"]
        nh, nkv, eps = c["num_attention_heads"], c["num_key_value_heads"], c["rms_norm_eps"]
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)  # noqa: E731
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding(c["vocab_size"], d)
        self.model.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.input_layernorm = _RMSNorm(d, eps)
            layer.post_attention_layernorm = _RMSNorm(d, eps)
            layer.self_attn = torch.nn.Module()
            layer.self_attn.q_proj, layer.self_attn.k_proj = lin(d, nh * hd), lin(d, nkv * hd)
            layer.self_attn.v_proj, layer.self_attn.o_proj = lin(d, nkv * hd), lin(nh * hd, d)
            layer.mlp = torch.nn.Module()
            layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj = lin(d, ff), lin(d, ff), lin(ff, d)
            self.model.layers.append(layer)
        self.model.norm = _RMSNorm(d, eps)
        self.lm_head = lin(d, c["vocab_size"])
        self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids, use_cache=False):
        c = self.c
        nh, nkv, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        b, n = input_ids.shape
        pos = torch.arange(n, device=input_ids.device, dtype=torch.float32)
        inv = 1.0 / (c["rope_parameters"]["rope_theta"] ** (torch.arange(0, hd, 2, device=pos.device).float() / hd))
        ang = torch.cat([pos[:, None] * inv[None, :]] * 2, dim=-1)
        cos, sin = ang.cos(), ang.sin()

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-t2, t1], dim=-1) * sin

        mask = torch.full((n, n), float("-inf"), device=pos.device).triu(1)
        x = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer.input_layernorm(x)
            a = layer.self_attn
            q = rope(a.q_proj(h).view(b, n, nh, hd).transpose(1, 2))
            k = rope(a.k_proj(h).view(b, n, nkv, hd).transpose(1, 2)).repeat_interleave(nh // nkv, dim=1)
            v = a.v_proj(h).view(b, n, nkv, hd).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + a.o_proj(att.transpose(1, 2).reshape(b, n, nh * hd))
            h = layer.post_attention_layernorm(x)
            x = x + layer.mlp.down_proj(F.silu(layer.mlp.gate_proj(h)) * layer.mlp.up_proj(h))
        return types.SimpleNamespace(logits=self.lm_head(self.model.norm(x)))


def build_model(c: dict, tok_ids: tuple, device):
    """LlamaForCausalLM from train.make_config when transformers is there, else LocalLlama.
    Returns (model, cfg for export_gguf)."""
    try:
        from transformers import AutoModelForCausalLM
    except ImportError:
        log("transformers missing: using LocalLlama (the stand-in)")
        return LocalLlama(c).to(device), c
    if (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"],
            c["num_key_value_heads"], c["head_dim"]) != tuple(train.MODEL[k] for k in (
            "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim")):
        raise ValueError(f"the GGUF is not train.py's model shape: {c}")
    cfg = train.make_config(c["vocab_size"], *tok_ids)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(device), cfg


# --- fake-quantized modules ------------------------------------------------------------------------

def _ste(w, q):
    """Straight-through: the forward sees q, the gradient goes to w unchanged."""
    return w + (q.to(w.dtype) - w).detach()


class QLinear(torch.nn.Linear):
    qtype = "f32"
    fq = None       # this step's fake-quantized weight, set by FakeQuantHook

    def forward(self, x):
        q = self.fq if self.fq is not None else fake_quant.fake_quant(self.qtype, self.weight)
        return F.linear(x, _ste(self.weight, q), self.bias)


class QEmbedding(torch.nn.Embedding):
    qtype = "f32"
    fq = None

    def forward(self, x):
        q = self.fq if self.fq is not None else fake_quant.fake_quant(self.qtype, self.weight)
        return F.embedding(x, _ste(self.weight, q))


class FakeQuantHook:
    """Forward pre-hook of the whole model: fake-quantizes every weight once per forward, all
    weights of one type in one batched call (blocks are independent, so concatenating rows changes
    nothing) - far fewer kernel launches than one call per module. The tied embedding / head
    weight is quantized once."""

    def __init__(self, model, mtypes: dict):
        mods = dict(model.named_modules())
        self.groups = {}
        seen = {}
        for name, (_, t) in mtypes.items():
            if t is None:
                continue
            m = mods[name]
            key = m.weight.data_ptr()
            if key in seen:
                seen[key].append(m)
                continue
            seen[key] = [m]
            self.groups.setdefault(t, []).append(seen[key])
        self.handle = model.register_forward_pre_hook(self)

    @torch.no_grad()
    def __call__(self, module, inputs):
        for t, entries in self.groups.items():
            blk = fake_quant.BLOCK[t][0]
            ws = [e[0].weight for e in entries]
            q = fake_quant.fake_quant(t, torch.cat([w.detach().float().reshape(-1, blk) for w in ws]))
            for e, part in zip(entries, torch.split(q.reshape(-1), [w.numel() for w in ws])):
                for m in e:
                    m.fq = part.view(m.weight.shape)

    def remove(self):
        self.handle.remove()
        for entries in self.groups.values():
            for e in entries:
                for m in e:
                    m.fq = None


def module_types(model, hp, plan: fake_quant.Plan, shapes: dict) -> dict:
    """{module name: (gguf tensor name, type)} for every Linear / Embedding of the model."""
    chosen = plan.choose_all(shapes)
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            g = export_hf.gguf_name(hp, name + ".weight") or "token_embd.weight"  # tied lm_head
            out[name] = (g, chosen[g])
    return out


def set_fake_quant(model, mtypes: dict, on: bool):
    for name, m in model.named_modules():
        if name in mtypes and mtypes[name][1] is not None:
            base = torch.nn.Embedding if isinstance(m, torch.nn.Embedding) else torch.nn.Linear
            if on:
                m.__class__ = QEmbedding if base is torch.nn.Embedding else QLinear
                m.qtype = mtypes[name][1]
            else:
                m.__class__ = base


@torch.no_grad()
def quantized_copy(model, mtypes: dict):
    """A copy whose matrices hold the dequantized values of their plan types (F16 elsewhere)."""
    q = copy.deepcopy(model)
    set_fake_quant(q, mtypes, False)
    train.round_f16_(q)
    mods = dict(q.named_modules())
    done = set()
    for name, (_, t) in mtypes.items():
        w = mods[name].weight
        if t is not None and w.data_ptr() not in done:      # the tied head: once
            done.add(w.data_ptr())
            w.copy_(fake_quant.fake_quant(t, w))
    return q


# --- data ------------------------------------------------------------------------------------------

def load_tokenizer(tok_json: str, f: GGUFFile):
    """(encode(text) -> ids, bos, eos): tokenizers when installed, else sample_gguf's numpy BPE over
    the GGUF's own vocabulary. The tokenizer file must be the GGUF's (checked)."""
    vocab = export_hf.vocab_from_tokenizer_json(tok_json)
    if list(vocab.tokens) != list(f.value("tokenizer.ggml.tokens")) or \
            list(vocab.merges) != list(f.value("tokenizer.ggml.merges")):
        raise ValueError(f"{tok_json} is not the tokenizer of the GGUF")
    bos, eos = f.value("tokenizer.ggml.bos_token_id"), f.value("tokenizer.ggml.eos_token_id")
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(tok_json)
        return (lambda text: tok.encode(text).ids), (lambda docs: [e.ids for e in tok.encode_batch(docs)]), bos, eos
    except ImportError:
        import sample_gguf
        log("tokenizers missing: sample_gguf.ByteBPE (slow; use --max-docs)")
        bpe = sample_gguf.ByteBPE(f)
        enc = lambda text: bpe.encode(text)[1 if bpe.add_bos else 0:]  # noqa: E731
        return enc, (lambda docs: [enc(d) for d in docs]), bos, eos


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models/gannet-default.gguf"), help="F16 start")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "tests/fixtures/default-model/tokenizer.json"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, ".device/corpus/train.txt.gz"))
    ap.add_argument("--heldout", default=os.path.join(ROOT, "models/heldout.txt"))
    ap.add_argument("--plan", default=os.path.join(ROOT, "plans/mobile-2bit.json"))
    ap.add_argument("--type", help="quantize every matrix to this type (gannet's --type rules) "
                    "instead of --plan")
    ap.add_argument("--out", required=True, help="the QAT GGUF (F16, dequantized values)")
    ap.add_argument("--name", default="gannet-default-qat2")
    ap.add_argument("--report", help="JSON report (default: OUT with .json)")
    ap.add_argument("--seconds", type=float, default=90, help="QAT time when --steps is 0")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1235)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-docs", type=int, default=0, help="use only the first N documents (dry run)")
    ap.add_argument("--eval-tokens", type=int, default=0, help="score only the first N held-out tokens")
    ap.add_argument("--no-ptq", action="store_true", help="skip the PTQ q4_0 / q2_k rows")
    args = ap.parse_args()
    args.compile, args.qat_compile = False, False     # what train.run_training reads
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    report = {"args": vars(args), "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"}
    log(f"torch {torch.__version__} on {report['device']}")

    f = GGUFFile.open(args.gguf)
    c = hf_config_dict(f)
    hp = export_hf.hparams_from_hf(c)
    encode, encode_batch, bos, eos = load_tokenizer(args.tokenizer, f)
    model, cfg = build_model(c, (bos, eos), device)
    hp_cfg = export_hf.hparams_from_hf(cfg)
    for k, v in vars(hp).items():
        u = getattr(hp_cfg, k)
        if (not math.isclose(u, v, rel_tol=1e-6)) if isinstance(v, float) else u != v:
            raise ValueError(f"the model config does not match the GGUF: {k} {u} vs {v}")
    sd = hf_state_dict(f, hp)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise ValueError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        log("tying lm_head to embed_tokens by hand")
        model.lm_head.weight = model.model.embed_tokens.weight

    with open(args.heldout, encoding="utf-8") as fh:
        held = np.asarray([bos] + encode(fh.read()), dtype=np.int64)
    if args.eval_tokens:
        held = held[:args.eval_tokens]
    # The load, checked: PyTorch float32 vs gguf_forward (numpy) on the first 48 held-out tokens.
    w0 = held[:48].tolist()
    model.eval()
    with torch.no_grad():
        got = model(input_ids=torch.as_tensor([w0], device=device)).logits[0].double().cpu().numpy()
    ref = gguf_forward.forward(f, w0)
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    report["load_check_rel_err"] = rel
    log(f"load check vs gguf_forward: rel err {rel:.2e}, top-1 equal {bool((got.argmax(-1) == ref.argmax(-1)).all())}")
    if rel > 5e-3:   # a wrong permutation or name gives O(1); float32 vs float64 is ~1e-6
        raise ValueError(f"the HF model does not reproduce the GGUF (rel err {rel})")

    opener = gzip.open if args.corpus.endswith(".gz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as fh:
        docs = [d for d in fh.read().split(train.DOC_SEP) if d.strip()]
    if args.max_docs:
        docs = docs[:args.max_docs]
    data = np.concatenate([np.asarray([bos] + ids + [eos], dtype=np.int32) for ids in encode_batch(docs)])
    log(f"{len(docs)} documents, {len(data)} training tokens; held-out {len(held)} tokens")

    shapes = {name: info.shape for name, info in f.tensors.items()}
    plan = fake_quant.Plan(args.type) if args.type else fake_quant.Plan.load(args.plan)
    mtypes = module_types(model, hp, plan, shapes)
    report["types"] = {g: t for g, t in plan.choose_all(shapes).items() if t is not None}
    counts = {}
    for g, t in report["types"].items():
        counts[t] = counts.get(t, 0) + int(np.prod(shapes[g]))
    log(f"types: {counts} (weights per type)")
    label = args.type or os.path.basename(args.plan)
    if device.type != "cpu":
        # The fake quantizers on this device vs on the CPU (which test_fake_quant checks against
        # gannet): one matrix of each type.
        mods, same = dict(model.named_modules()), {}
        for name, (g, t) in mtypes.items():
            if t is not None and t not in same:
                w = mods[name].weight.detach()
                a = fake_quant.fake_quant(t, w).cpu()
                b = fake_quant.fake_quant(t, w.cpu())
                same[t] = float((a == b).float().mean())
        report["device_vs_cpu_equal_frac"] = same
        log(f"fake quantizers, {device.type} vs cpu, fraction of equal values: {same}")

    ppl = {}

    def measure(key, m):
        t0 = time.time()
        ppl[key] = train.perplexity(m, held, device)
        log(f"perplexity {key}: {ppl[key]['ppl']:.4f} ({time.time() - t0:.1f} s)")

    train.round_f16_(model)          # the F16 file's values are the starting point
    measure("F16", model)
    ptq_rows = [(label, plan)]
    if not args.no_ptq:
        ptq_rows += [(t, fake_quant.Plan(t)) for t in ("q4_0", "q2_k") if t != args.type]
    for key, p in ptq_rows:
        measure(f"PTQ {key}", quantized_copy(model, module_types(model, hp, p, shapes)))

    set_fake_quant(model, mtypes, True)
    hook = FakeQuantHook(model, mtypes)
    t0 = time.time()
    curve = []
    steps = train.run_training(model, data, args, device, args.seconds, args.steps, args.lr, args.warmup,
                               args.seed, "qat", heldout=held, curve=curve)
    report["qat_steps"], report["qat_seconds"], report["curve"] = steps, time.time() - t0, curve
    hook.remove()
    set_fake_quant(model, mtypes, False)
    qat = quantized_copy(model, mtypes)
    measure(f"QAT {label}", qat)
    # Re-quantizing the exported (F16-rounded) values: how far the second pass moves them, relative
    # to how far the first pass moved the trained weights.
    with torch.no_grad():
        mods, qmods = dict(model.named_modules()), dict(qat.named_modules())
        moved = {}
        for name, (g, t) in mtypes.items():
            if t is None or name == "lm_head":
                continue
            v = qmods[name].weight.half().float()
            again = fake_quant.fake_quant(t, v)
            moved[g] = {"type": t, "requant_rel": float((again - v).norm() / (v - mods[name].weight).norm().clamp_min(1e-30)),
                        "changed_frac": float((again != v).float().mean())}
    report["requantize"] = moved
    per_type = {}
    for r in moved.values():
        per_type[r["type"]] = max(per_type.get(r["type"], 0.0), r["requant_rel"])
    log("re-quantizing the exported F16 values moves them by (worst matrix, relative to the "
        "quantization error): " + ", ".join(f"{t} {v:.4f}" for t, v in sorted(per_type.items())))
    qat.to("cpu")
    size = train.export_gguf(qat, cfg, args.tokenizer, args.out, args.name)
    report["gguf_bytes"] = size
    report["perplexity"] = ppl
    log(f"wrote {args.out}: {size} bytes")
    with open(args.report or os.path.splitext(args.out)[0] + ".json", "w") as fh:
        json.dump(report, fh, indent=1)
    print("\n| weights (PyTorch, float32) | perplexity | NLL |\n| --- | ---: | ---: |")
    for k, v in ppl.items():
        print(f"| {k} | {v['ppl']:.3f} | {v['nll']:.5f} |")
    log("done")


if __name__ == "__main__":
    main()
