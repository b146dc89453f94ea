"""Trains Gannet's small block-diffusion LM (#18): a DiffusionGemma-shaped model (diffusion_gemma
GGUF, see diffusion_gguf.py) on the same corpus and tokenizer as the shipped AR model
(models/gannet-default.gguf: tests/fixtures/default-model/tokenizer.json), at about its parameter
count (8.92 M), on one GPU in a few minutes.

    PYTHONUNBUFFERED=1 python3 training/train_diffusion.py --corpus .device/corpus/train.txt.gz \
        --heldout models/heldout.txt --out OUT --train-seconds 300

Model: 10 layers (layers 5 and 9 global: transformers' pattern 6 + last), hidden 256, 4 heads /
2 kv heads of 64, GeGLU FFN 704 (704 rather than the AR model's 768 pays for the self-conditioning
MLP, so both models have ~8.9 M parameters), tied embeddings, canvas 64 tokens (DiffusionGemma's
256 is too long a block for a model this small to denoise readably; the runtime takes any
canvas_length from the GGUF), context 1024. Dense FFN (no MoE).

Training (BD3-LM-style block diffusion with DiffusionGemma's uniform-state noise, one pass per
step): a window of L = 512 tokens; the causal encoder runs over the clean window (its K/V are the
"cache", and its output gets an autoregressive loss, as HF's encoder_last_hidden_state allows);
every 64-token block of a noised copy (each token replaced by a uniform random token with
probability t, t ~ U(0, 1) per block) is denoised by the decoder, which attends to the encoder
K/V of the positions before its block and bidirectionally to its own block; cross-entropy against
the clean tokens. Self-conditioning: half of the steps first run the decoder without it (no
gradient) and feed its logits / T (T ~ U(0.4, 0.8), the sampler's range) to the second pass.

Outputs in --out: log.txt is the caller's tee; report.json; loss.csv; samples.txt; and
gannet-diffusion.gguf (F16 matrices, ~18 MB) packed as gguf.tar.part-* (15 MB parts: cat the
parts | tar -x). Self-checks (logged, in report.json): the numpy forward (diffusion_numpy.py) on
the exported GGUF against this PyTorch model.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diffusion_gguf  # noqa: E402
import export_hf  # noqa: E402
from diffusion_gguf import DiffusionHParams  # noqa: E402
from diffusion_numpy import NumpyDiffusion  # noqa: E402

DOC_SEP = "\n\f\n"
T0 = time.time()
HP = DiffusionHParams(n_vocab=4096, n_embd=256, n_layer=10, n_ff=704, n_head=4, n_head_kv=2, head_dim=64,
                      rms_eps=1e-6, context_length=1024, canvas_length=64, sliding_window=1024)
WINDOW = 512
DEFAULT_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                                 "default-model", "tokenizer.json")


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# --- the model (parameter names = transformers' DiffusionGemmaDecoderModel) ----------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps, with_scale=True):
        super().__init__()
        self.eps = eps
        if with_scale:
            self.weight = nn.Parameter(torch.ones(dim))
        else:
            self.weight = None

    def forward(self, x):
        y = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight.float()
        return y.type_as(x)


class Attn(nn.Module):
    def __init__(self, hp, sliding):
        super().__init__()
        d, hd = hp.n_embd, hp.head_dim
        self.q_proj = nn.Linear(d, hp.n_head * hd, bias=False)
        self.k_proj = nn.Linear(d, hp.n_head_kv * hd, bias=False)
        self.v_proj = nn.Linear(d, hp.n_head_kv * hd, bias=False) if sliding else None
        self.o_proj = nn.Linear(hp.n_head * hd, d, bias=False)
        self.q_norm = RMSNorm(hd, hp.rms_eps)
        self.k_norm = RMSNorm(hd, hp.rms_eps)
        self.v_norm = RMSNorm(hd, hp.rms_eps, with_scale=False)


class MLP(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, hp, sliding):
        super().__init__()
        d = hp.n_embd
        self.sliding = sliding
        self.input_layernorm = RMSNorm(d, hp.rms_eps)
        self.self_attn = Attn(hp, sliding)
        self.post_attention_layernorm = RMSNorm(d, hp.rms_eps)
        self.pre_feedforward_layernorm = RMSNorm(d, hp.rms_eps)
        self.mlp = MLP(d, hp.n_ff)
        self.post_feedforward_layernorm_1 = RMSNorm(d, hp.rms_eps)
        self.post_feedforward_layernorm = RMSNorm(d, hp.rms_eps)


class SelfConditioning(nn.Module):
    def __init__(self, hp):
        super().__init__()
        d = hp.n_embd
        self.pre_norm = RMSNorm(d, hp.rms_eps)
        self.post_norm = RMSNorm(d, hp.rms_eps, with_scale=False)
        self.gate_proj = nn.Linear(d, hp.n_ff, bias=False)
        self.up_proj = nn.Linear(d, hp.n_ff, bias=False)
        self.down_proj = nn.Linear(hp.n_ff, d, bias=False)

    def forward(self, emb, soft):
        h = self.pre_norm(soft)
        sc = self.down_proj(F.gelu(self.gate_proj(h), approximate="tanh") * self.up_proj(h))
        return self.post_norm(emb + sc)


def rope_tables(hp, positions, sliding, device):
    """cos/sin [T, head_dim] (rotate_half layout), as transformers' default / proportional rope."""
    d = hp.head_dim
    if sliding:
        inv = 1.0 / hp.rope_theta_swa ** (torch.arange(0, d, 2, dtype=torch.float32, device=device) / d)
    else:
        n_rot = int(hp.partial_rotary_factor * d // 2)
        inv = torch.zeros(d // 2, device=device)
        inv[:n_rot] = 1.0 / hp.rope_theta ** (torch.arange(0, 2 * n_rot, 2, dtype=torch.float32, device=device) / d)
    ang = positions.float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos + rot * sin


class DiffusionLM(nn.Module):
    def __init__(self, hp: DiffusionHParams):
        super().__init__()
        self.hp = hp
        self.embed_tokens = nn.Embedding(hp.n_vocab, hp.n_embd)
        self.layers = nn.ModuleList([Layer(hp, diffusion_gguf.layer_is_sliding(hp, i)) for i in range(hp.n_layer)])
        self.norm = RMSNorm(hp.n_embd, hp.rms_eps)
        self.self_conditioning = SelfConditioning(hp)
        self.scale = math.sqrt(hp.n_embd)

    def logits(self, h):
        x = self.norm(h) @ self.embed_tokens.weight.T.to(h.dtype)
        return torch.tanh(x.float() / self.hp.final_logit_softcap) * self.hp.final_logit_softcap

    def qkv(self, layer, h, rope):
        hp = self.hp
        a = layer.self_attn
        b, t, _ = h.shape
        x = layer.input_layernorm(h)
        q = a.q_proj(x).view(b, t, hp.n_head, hp.head_dim)
        k_raw = a.k_proj(x).view(b, t, hp.n_head_kv, hp.head_dim)
        v = a.v_proj(x).view(b, t, hp.n_head_kv, hp.head_dim) if a.v_proj is not None else k_raw
        cos, sin = rope
        q = apply_rope(a.q_norm(q), cos[:, None, :], sin[:, None, :]).transpose(1, 2)
        k = apply_rope(a.k_norm(k_raw), cos[:, None, :], sin[:, None, :]).transpose(1, 2)
        v = a.v_norm(v).transpose(1, 2)
        return q, k, v  # [B, heads, T, hd]

    def finish(self, layer, h, att):
        b, _, t, _ = att.shape
        o = layer.self_attn.o_proj(att.transpose(1, 2).reshape(b, t, -1))
        h = h + layer.post_attention_layernorm(o)
        f = layer.mlp(layer.pre_feedforward_layernorm(h))
        return h + layer.post_feedforward_layernorm(layer.post_feedforward_layernorm_1(f))

    def attend(self, q, k, v, mask=None, is_causal=False):
        rep = self.hp.n_head // self.hp.n_head_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=1.0)

    def ropes(self, positions):
        dev = positions.device
        return {s: rope_tables(self.hp, positions, s, dev) for s in (True, False)}

    def encode(self, tokens, positions):
        """Causal encoder: returns (final hidden [B, T, d], per-layer (k, v))."""
        h = self.embed_tokens(tokens) * self.scale
        ropes = self.ropes(positions)
        kv = []
        for layer in self.layers:
            q, k, v = self.qkv(layer, h, ropes[layer.sliding])
            kv.append((k, v))
            h = self.finish(layer, h, self.attend(q, k, v, is_causal=True))
        return h, kv

    def soft_embed(self, sc_logits):
        p = torch.softmax(sc_logits.float(), dim=-1)
        return (p @ self.embed_tokens.weight.float()) * self.scale

    def decode(self, canvas, positions, enc_kv, mask, sc_logits=None):
        """Decoder: canvas [B, T] at positions; keys = enc_kv (masked by `mask` [T, Tenc + T], or all
        visible when mask is None) then the canvas itself. Returns logits [B, T, V] (float32)."""
        emb = self.embed_tokens(canvas) * self.scale
        soft = torch.zeros_like(emb) if sc_logits is None else self.soft_embed(sc_logits).to(emb.dtype)
        h = self.self_conditioning(emb, soft)
        ropes = self.ropes(positions)
        for layer, (ke, ve) in zip(self.layers, enc_kv):
            q, k, v = self.qkv(layer, h, ropes[layer.sliding])
            k = torch.cat([ke.to(k.dtype), k], dim=2)
            v = torch.cat([ve.to(v.dtype), v], dim=2)
            h = self.finish(layer, h, self.attend(q, k, v, mask=mask))
        return self.logits(h)


def block_mask(length, canvas, device):
    """[L, 2L] bool: decoder query i sees encoder keys before its block and the keys of its block."""
    pos = torch.arange(length, device=device)
    blk = pos // canvas
    enc = pos[None, :] < (blk * canvas)[:, None]
    dec = blk[None, :] == blk[:, None]
    return torch.cat([enc, dec], dim=1)


def noise(x, canvas, n_vocab, gen):
    b, length = x.shape
    t = torch.rand((b, length // canvas), generator=gen, device=x.device).repeat_interleave(canvas, dim=1)
    flip = torch.rand((b, length), generator=gen, device=x.device) < t
    rand = torch.randint(0, n_vocab, (b, length), generator=gen, device=x.device)
    return torch.where(flip, rand, x), t


def losses(model, x, mask, gen, use_sc):
    hp = model.hp
    pos = torch.arange(x.shape[1], device=x.device)
    h, kv = model.encode(x, pos)
    ar = F.cross_entropy(model.logits(h)[:, :-1].reshape(-1, hp.n_vocab), x[:, 1:].reshape(-1))
    z, _ = noise(x, hp.canvas_length, hp.n_vocab, gen)
    sc = None
    if use_sc:
        with torch.no_grad():
            first = model.decode(z, pos, [(k.detach(), v.detach()) for k, v in kv], mask)
            temp = 0.4 + 0.4 * torch.rand((), generator=gen, device=x.device)
            sc = first / temp
    logits = model.decode(z, pos, kv, mask, sc)
    diff = F.cross_entropy(logits.reshape(-1, hp.n_vocab), x.reshape(-1))
    return diff, ar


# --- generation (the EntropyBoundSampler loop of transformers' generate, one sequence) -----------

@torch.no_grad()
def generate(model, prompt_ids, max_canvases, eos_id, seed, steps=48, t_min=0.4, t_max=0.8, bound=0.1,
             conf=0.005):
    hp = model.hp
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    ids = list(prompt_ids)
    kv = None
    n_forward, out = 0, []
    new = ids
    for _ in range(max_canvases):
        pos0 = len(ids) - len(new)
        t = torch.tensor([new], device=dev)
        _, kv_new = model.encode_with_cache(t, torch.arange(pos0, pos0 + len(new), device=dev), kv)
        kv = kv_new
        canvas = torch.randint(0, hp.n_vocab, (1, hp.canvas_length), generator=gen, device=dev)
        pos = torch.arange(len(ids), len(ids) + hp.canvas_length, device=dev)
        sc, prev_argmax, argmax = None, None, canvas
        for cur in range(steps, 0, -1):
            n_forward += 1
            logits = model.decode(canvas, pos, kv, None, sc)[0]
            temp = t_min + (t_max - t_min) * cur / steps
            proc = logits / temp
            probs = torch.softmax(proc, dim=-1)
            sampled = torch.multinomial(probs, 1, generator=gen)[:, 0]
            argmax = proc.argmax(-1)
            ent = -(probs * torch.log_softmax(proc, -1)).sum(-1)
            sh, idx = torch.sort(ent)
            sel = (torch.cumsum(sh, 0) - sh) <= bound
            acc = torch.zeros_like(sel)
            acc[idx] = sel
            rand = torch.randint(0, hp.n_vocab, (hp.canvas_length,), generator=gen, device=dev)
            canvas = torch.where(acc, sampled, rand)[None]
            stop = prev_argmax is not None and torch.equal(prev_argmax, argmax) and ent.mean().item() < conf
            prev_argmax = argmax
            sc = proc[None]
            if stop:
                break
        new = argmax.tolist()
        ids += new
        if eos_id in new:
            out += new[:new.index(eos_id)]
            break
        out += new
        if len(ids) + hp.canvas_length > hp.context_length:
            break
    return out, len(out) / max(1, n_forward)


def encode_with_cache(self, tokens, positions, cache):
    h = self.embed_tokens(tokens) * self.scale
    ropes = self.ropes(positions)
    new_cache = []
    for i, layer in enumerate(self.layers):
        q, k, v = self.qkv(layer, h, ropes[layer.sliding])
        if cache is not None:
            k = torch.cat([cache[i][0], k], dim=2)
            v = torch.cat([cache[i][1], v], dim=2)
        new_cache.append((k, v))
        n_prev = k.shape[2] - tokens.shape[1]
        qpos = torch.arange(tokens.shape[1], device=tokens.device)[:, None] + n_prev
        mask = torch.arange(k.shape[2], device=tokens.device)[None, :] <= qpos
        h = self.finish(layer, h, self.attend(q, k, v, mask=mask))
    return h, new_cache


DiffusionLM.encode_with_cache = encode_with_cache


# --- data, training, export ----------------------------------------------------------------------

def load_tokens(tok, corpus):
    opener = gzip.open if corpus.endswith(".gz") else open
    with opener(corpus, "rt", encoding="utf-8") as f:
        docs = [d for d in f.read().split(DOC_SEP) if d.strip()]
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    out = [np.asarray([bos] + e.ids + [eos], dtype=np.int32) for e in tok.encode_batch(docs)]
    return np.concatenate(out), len(docs)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def train(model, data, args, device, curve):
    gen = torch.Generator(device=device).manual_seed(args.seed)
    cpu_gen = torch.Generator().manual_seed(args.seed)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")
    data_t = torch.as_tensor(data, dtype=torch.int64)
    n = len(data_t) - WINDOW - 1
    mask = block_mask(WINDOW, model.hp.canvas_length, device)
    total, step, t_start, t_mark = (args.steps or 10 ** 9), 0, time.time(), None
    while step < total:
        if not args.steps and step == 10:
            torch.cuda.synchronize()
            t_mark = time.time()
        if not args.steps and step == 30:
            torch.cuda.synchronize()
            per = (time.time() - t_mark) / 20
            total = max(31, int((args.train_seconds - (time.time() - t_start)) / per) + 30)
            log(f"{per * 1000:.1f} ms/step -> {total} steps")
        starts = torch.randint(0, n, (args.batch,), generator=cpu_gen)
        x = data_t[starts[:, None] + torch.arange(WINDOW)[None, :]].to(device, non_blocking=True)
        lr = lr_at(step, total, args.lr, 200)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            diff, ar = losses(model, x, mask, gen, use_sc=(step % 2 == 1))
        loss = diff + args.ar_weight * ar
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == total - 1:
            curve.append({"step": step, "diffusion_loss": diff.item(), "ar_loss": ar.item(), "lr": lr,
                          "time": time.time() - t_start})
            if step % 250 == 0 or step == total - 1:
                log(f"step {step}/{total} diffusion {diff.item():.4f} ar {ar.item():.4f} lr {lr:.2e}")
        step += 1
    return total


@torch.no_grad()
def heldout_losses(model, held, device):
    model.eval()
    gen = torch.Generator(device=device).manual_seed(7)
    mask = block_mask(WINDOW, model.hp.canvas_length, device)
    t = torch.as_tensor(held[: (len(held) // WINDOW) * WINDOW], device=device).view(-1, WINDOW)
    d, a = [], []
    for i in range(0, t.shape[0], 16):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            diff, ar = losses(model, t[i:i + 16], mask, gen, use_sc=False)
        d.append(diff.item())
        a.append(ar.item())
    model.train()
    return {"diffusion_nll": float(np.mean(d)), "ar_nll": float(np.mean(a)), "ar_ppl": float(math.exp(np.mean(a)))}


def self_check(model, stored, seed):
    """diffusion_numpy on the exported (F16-rounded) weights vs this model (float32, CPU)."""
    cpu = DiffusionLM(model.hp).float().eval()
    cpu.load_state_dict({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
    with torch.no_grad():
        for p in cpu.parameters():
            if p.ndim >= 2:
                p.copy_(p.half().float())
    rng = np.random.default_rng(seed)
    prefix = [int(x) for x in rng.integers(0, model.hp.n_vocab, 9)]
    canvas = [int(x) for x in rng.integers(0, model.hp.n_vocab, model.hp.canvas_length)]
    with torch.no_grad():
        _, kv = cpu.encode_with_cache(torch.tensor([prefix]), torch.arange(9), None)
        pos = torch.arange(9, 9 + len(canvas))
        ref = cpu.decode(torch.tensor([canvas]), pos, kv, None)[0].double().numpy()
    npm = NumpyDiffusion(model.hp, {k: v for k, v in stored.items()})
    npm.encode(prefix, 0)
    got = npm.decode(canvas, 9)
    return {"rel_err": float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))),
            "argmax_equal": bool((got.argmax(-1) == ref.argmax(-1)).all())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="train.txt or train.txt.gz (prepare_corpus.py)")
    ap.add_argument("--heldout", default="models/heldout.txt")
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="the AR model's tokenizer.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ar-weight", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=0, help="0: fit --train-seconds")
    ap.add_argument("--train-seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    import tokenizers
    os.makedirs(args.out, exist_ok=True)
    O = lambda name: os.path.join(args.out, name)  # noqa: E731
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    device = torch.device("cuda")
    report = {"versions": {"torch": torch.__version__, "tokenizers": tokenizers.__version__,
                           "numpy": np.__version__}, "device": torch.cuda.get_device_name(0),
              "args": vars(args), "hparams": vars(HP), "window": WINDOW}
    log(json.dumps(report))
    tok = tokenizers.Tokenizer.from_file(args.tokenizer)
    if tok.get_vocab_size() != HP.n_vocab:
        raise ValueError(f"tokenizer has {tok.get_vocab_size()} tokens, the model {HP.n_vocab}")
    data, n_docs = load_tokens(tok, args.corpus)
    with open(args.heldout, encoding="utf-8") as f:
        held = np.asarray(tok.encode(f.read()).ids, dtype=np.int64)
    log(f"{n_docs} documents, {len(data)} training tokens, {len(held)} held-out tokens")
    model = DiffusionLM(HP).to(device)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02)
    n_params = sum(p.numel() for p in model.parameters())
    report["n_params"] = n_params
    log(f"model: {n_params / 1e6:.3f} M parameters (the AR model: 8.92 M)")
    curve = []
    try:
        report["steps"] = train(model, data, args, device, curve)
    finally:
        with open(O("loss.csv"), "w") as f:
            f.write("step,diffusion_loss,ar_loss,lr,time\n")
            for r in curve:
                f.write(f"{r['step']},{r['diffusion_loss']},{r['ar_loss']},{r['lr']},{r['time']}\n")
    report["tokens"] = report["steps"] * args.batch * WINDOW
    report["heldout"] = heldout_losses(model, held, device)
    log(f"held-out: {report['heldout']}")

    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    vocab = export_hf.vocab_from_tokenizer_json(args.tokenizer)
    path = O("gannet-diffusion.gguf")
    stored = diffusion_gguf.export(HP, sd, path, export_hf.GGMLType.F16, "gannet-diffusion", vocab)
    stored = {k: export_hf.round_to(v, export_hf.GGMLType.F16 if v.ndim >= 2 else export_hf.GGMLType.F32)
              for k, v in stored.items()}
    report["gguf_bytes"] = os.path.getsize(path)
    log(f"exported {path}: {report['gguf_bytes']} bytes")
    try:
        report["self_check"] = self_check(model, stored, args.seed)
        log(f"numpy forward on the GGUF vs PyTorch: {report['self_check']}")
    except Exception:  # noqa: BLE001 - keep the model even if the check breaks
        log("self-check failed:\n" + traceback.format_exc())
    samples = []
    model.eval()
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    for i, prompt in enumerate(["Once upon a time", "The configuration file", "To install the package,"]):
        try:
            torch.cuda.synchronize()
            t0 = time.time()
            ids, tpf = generate(model, [bos] + tok.encode(prompt).ids, 3, eos, args.seed + i)
            torch.cuda.synchronize()
            secs = time.time() - t0
            text = tok.decode(ids)
            samples.append({"prompt": prompt, "text": text, "tokens": len(ids), "tokens_per_forward": tpf,
                            "seconds_pytorch_gpu": secs})
            log(f"sample {prompt!r}: {tpf:.2f} tokens/forward, {len(ids) / secs:.1f} tok/s (PyTorch, float32, "
                f"batch 1, unoptimized): {text!r}")
        except Exception:  # noqa: BLE001
            log("sample failed:\n" + traceback.format_exc())
    report["samples"] = samples
    with open(O("samples.txt"), "w") as f:
        for s in samples:
            f.write(f"{s['prompt']}{s['text']}\n\f\n")
    with open(O("report.json"), "w") as f:
        json.dump(report, f, indent=1)
    subprocess.run(f"tar -C {args.out} -cf - gannet-diffusion.gguf | split -b 15m - {O('gguf.tar.part-')} && "
                   f"rm {path}", shell=True, check=True)
    log("done")


if __name__ == "__main__":
    main()
