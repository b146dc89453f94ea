"""Trains Gannet's default model end to end on one GPU: byte-level BPE tokenizer, a small llama,
GGUF export and checks, and Q4_0 quantization-aware fine-tuning (QAT).

    PYTHONUNBUFFERED=1 python3 training/train.py --corpus .device/corpus/train.txt.gz \
        --heldout models/heldout.txt --work /tmp/run        # 1200 + 150 steps (the shipped model)

Stages (each writes into --work; see training/README.md):
  1. tokenizer: ByteLevel BPE (GPT-2 pre-tokenizer regex), 4096 tokens, specials <|bos|> <|eos|>
     <|im_start|> <|im_end|>. Documents are encoded as <|bos|> text <|eos|> and concatenated.
  2. pretraining: LlamaForCausalLM, fixed seed, bf16 autocast, AdamW, warmup + cosine. The number
     of steps is --steps, or (when 0) what fits --train-seconds at the measured step time; the
     log records the number so a rerun can pass it.
  3. export: models/gannet-default.gguf (F16) through export_hf.py; gguf_forward.py (numpy) on
     held-out windows is compared with PyTorch; reference logits for tests/fixtures/default-model.
  4. QAT: fake Q4_0 quantization of the layers' linear weights (straight-through estimator; the
     tied embedding stays F16), then
     export of the dequantized weights in F16 (models/gannet-default-qat.gguf).
  5. held-out perplexity of F16, PTQ Q4_0 and QAT Q4_0 (PyTorch, float32).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import sys
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_hf  # noqa: E402
import gguf_forward  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

DOC_SEP = "\n\f\n"
SPECIALS = ["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"]
MODEL = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=10,
             num_attention_heads=4, num_key_value_heads=2, head_dim=64)
CTX = 512
T0 = time.time()


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# --- tokenizer ----------------------------------------------------------------------------------

def train_tokenizer(docs: list[str], vocab_size: int, path: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(docs, trainer, length=len(docs))
    tok.save(path)
    return tok


def encode_docs(tok, docs: list[str]) -> np.ndarray:
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    out = []
    for enc in tok.encode_batch(docs):
        out.append(np.asarray([bos] + enc.ids + [eos], dtype=np.int32))
    return np.concatenate(out)


def heldout_tokens(tok, text: str) -> np.ndarray:
    """The held-out file as one sequence: <|bos|> + encode(whole file). This is what
    `gannet perplexity` must reproduce (see README)."""
    return np.asarray([tok.token_to_id("<|bos|>")] + tok.encode(text).ids, dtype=np.int64)


# --- model --------------------------------------------------------------------------------------

def make_config(vocab_size: int, bos: int, eos: int):
    from transformers import AutoConfig
    return AutoConfig.for_model(
        "llama", vocab_size=vocab_size, max_position_embeddings=CTX, rms_norm_eps=1e-5,
        hidden_act="silu", tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=bos, eos_token_id=eos, **MODEL)


def fake_q4_0(w: torch.Tensor) -> torch.Tensor:
    """ggml's Q4_0 round trip on the rows of w (float32): blocks of 32; d = (the element of
    largest magnitude, signed) / -8 in float32, stored as fp16; q = min(15, trunc(x / d + 8.5));
    value = (q - 8) * fp16(d)."""
    shape = w.shape
    b = w.float().reshape(-1, 32)
    idx = b.abs().argmax(dim=1, keepdim=True)
    mx = b.gather(1, idx)
    d = mx / -8.0
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp(torch.floor(b * inv + 8.5), 0, 15)
    return ((q - 8.0) * d.half().float()).reshape(shape).to(w.dtype)


class QATLinear(torch.nn.Linear):
    """nn.Linear whose weight goes through fake Q4_0 in the forward pass; gradients pass straight
    through to the float weight."""

    def forward(self, x):
        w = self.weight
        wq = w + (fake_q4_0(w) - w).detach()
        return F.linear(x, wq, self.bias)


def linear_modules(model):
    return [m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and ".layers." in f".{n}"]


def round_f16_(model):
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.copy_(p.half().float())


@torch.no_grad()
def perplexity(model, ids: np.ndarray, device, autocast: bool = False) -> dict:
    """Non-overlapping windows of CTX tokens, each run from position 0; every token after the
    first of its window is scored."""
    model.eval()
    t = torch.as_tensor(ids, device=device)
    nll, count = 0.0, 0
    for s in range(0, len(t) - 1, CTX):
        w = t[s:s + CTX]
        if len(w) < 2:
            break
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=w[None], use_cache=False).logits[0].float()
        nll += F.cross_entropy(logits[:-1], w[1:], reduction="sum").item()
        count += len(w) - 1
    model.train()
    return {"nll": nll / count, "ppl": math.exp(nll / count), "tokens": count}


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def run_training(model, data, args, device, seconds, steps, peak_lr, warmup, seed, tag,
                 heldout=None, curve=None):
    """AdamW + warmup/cosine on random CTX+1 windows of data. steps = 0: as many as fit in
    `seconds`, measured over steps 10..30. Returns the number of steps run."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=peak_lr, betas=(0.9, 0.95), eps=1e-8,
                            **({"fused": True} if device.type == "cuda" else {}))
    fwd = torch.compile(model) if args.compile and (tag != "qat" or args.qat_compile) else model
    data_t = torch.as_tensor(data, dtype=torch.int64)
    n = len(data_t) - CTX - 1
    total = steps if steps else 10 ** 9
    step, t_mark, t_start = 0, None, time.time()
    model.train()
    while step < total:
        if not steps and step == 10:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_mark = time.time()
        if not steps and step == 30:
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - t_mark) / 20
            total = max(31, int((seconds - (time.time() - t_start)) / per_step) + 30)
            log(f"{tag}: {per_step * 1000:.1f} ms/step, {args.batch * CTX / per_step / 1e6:.2f} "
                f"M tok/s -> {total} steps")
        starts = torch.randint(0, n, (args.batch,), generator=gen)
        idx = starts[:, None] + torch.arange(CTX + 1)[None, :]
        batch = data_t[idx].to(device, non_blocking=True)
        x, y = batch[:, :-1], batch[:, 1:]
        lr = lr_at(step, total, peak_lr, warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                logits = fwd(input_ids=x, use_cache=False).logits
        except Exception:  # noqa: BLE001 - torch.compile trouble: fall back to eager
            if fwd is model or step:
                raise
            log(f"{tag}: torch.compile failed, running eager:\n{traceback.format_exc()[-2000:]}")
            fwd = model
            with torch.autocast(device.type, dtype=torch.bfloat16):
                logits = fwd(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == total - 1:
            row = {"tag": tag, "step": step, "tokens": (step + 1) * args.batch * CTX,
                   "loss": loss.item(), "lr": lr, "time": time.time() - t_start}
            if heldout is not None and (step % 500 == 0 or step == total - 1):
                row["heldout_loss"] = perplexity(model, heldout, device, autocast=True)["nll"]
            if curve is not None:
                curve.append(row)
            if step % 250 == 0 or step == total - 1 or "heldout_loss" in row:
                log(f"{tag} step {step}/{total} loss {row['loss']:.4f} lr {lr:.2e}"
                    + (f" heldout {row['heldout_loss']:.4f}" if "heldout_loss" in row else ""))
        step += 1
    return total


# --- export and checks --------------------------------------------------------------------------

def state_dict_np(model) -> dict:
    return {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}


def export_gguf(model, cfg, tok_json, path, name):
    hp = export_hf.hparams_from_hf(cfg)
    if not hp.tie_embeddings:
        raise ValueError("expected tied embeddings")
    vocab = export_hf.vocab_from_tokenizer_json(tok_json)
    export_hf.export_state_dict(hp, state_dict_np(model), path, export_hf.GGMLType.F16, name, vocab)
    return os.path.getsize(path)


def check_gguf(model_f16_cpu, gguf_path, windows) -> list:
    """gguf_forward (numpy, float64) vs the PyTorch model in float32 on the CPU, with weights
    rounded to F16 as the file stores them. Returns one dict per window."""
    f = GGUFFile.open(gguf_path)
    out = []
    for w in windows:
        ref = model_f16_cpu(input_ids=torch.as_tensor(w)[None]).logits[0].double().numpy()
        got = gguf_forward.forward(f, w)
        diff = np.abs(got - ref)
        out.append({"n_tokens": len(w), "max_abs_diff": float(diff.max()),
                    "max_abs_logit": float(np.abs(ref).max()),
                    "rel_err": float(diff.max() / np.abs(ref).max()),
                    "rel_l2": float(np.linalg.norm(got - ref) / np.linalg.norm(ref)),
                    "top1_equal": bool((got.argmax(-1) == ref.argmax(-1)).all())})
    return out


def greedy(model, tok, prompt, n, device):
    ids = [tok.token_to_id("<|bos|>")] + tok.encode(prompt).ids
    with torch.no_grad():
        out = model.generate(torch.as_tensor([ids], device=device), max_new_tokens=n,
                             do_sample=False)
    return tok.decode(out[0, len(ids):].tolist())


def draw_loss_png(curve, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no PNG (loss.csv has the numbers)")
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for tag, style in (("pretrain", "-"), ("qat", "-")):
        rows = [r for r in curve if r["tag"] == tag]
        if rows:
            ax.plot([r["tokens"] / 1e6 for r in rows], [r["loss"] for r in rows], style,
                    label=f"{tag} train loss", linewidth=1)
            hr = [r for r in rows if "heldout_loss" in r]
            if hr:
                ax.plot([r["tokens"] / 1e6 for r in hr], [r["heldout_loss"] for r in hr], "o-",
                        label=f"{tag} held-out loss", markersize=3)
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title("gannet-default: training loss")
    losses = [r["loss"] for r in curve]
    ax.set_ylim(bottom=max(0.0, min(losses) - 0.3), top=min(8.5, max(losses) + 0.2))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="train.txt or train.txt.gz (prepare_corpus.py)")
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=1200, help="0: fit --train-seconds")
    ap.add_argument("--train-seconds", type=float, default=300)
    ap.add_argument("--qat-steps", type=int, default=150, help="0: fit --qat-seconds")
    ap.add_argument("--qat-seconds", type=float, default=90)
    ap.add_argument("--qat-lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--qat-compile", action="store_true", help="torch.compile the QAT run too")
    args = ap.parse_args()

    import tokenizers
    import transformers
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device("cuda")
    os.makedirs(args.work, exist_ok=True)
    W = lambda name: os.path.join(args.work, name)  # noqa: E731
    report = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "tokenizers": tokenizers.__version__, "numpy": np.__version__,
                           "python": sys.version.split()[0]},
              "device": torch.cuda.get_device_name(0), "args": vars(args), "model": MODEL,
              "ctx": CTX}
    log(f"{report['versions']} on {report['device']}")

    opener = gzip.open if args.corpus.endswith(".gz") else open
    with opener(args.corpus, "rt", encoding="utf-8") as f:
        docs = [d for d in f.read().split(DOC_SEP) if d.strip()]
    with open(args.heldout, encoding="utf-8") as f:
        heldout_text = f.read()
    log(f"{len(docs)} training documents, {sum(len(d) for d in docs) / 1e6:.1f} M chars")

    tok = train_tokenizer(docs, args.vocab, W("tokenizer.json"))
    data = encode_docs(tok, docs)
    held = heldout_tokens(tok, heldout_text)
    report["tokenizer"] = {"vocab": tok.get_vocab_size(), "train_tokens": int(len(data)),
                           "train_bytes": sum(len(d.encode()) for d in docs) + 0,
                           "heldout_tokens": int(len(held)),
                           "heldout_bytes": len(heldout_text.encode())}
    report["tokenizer"]["once_upon_a_time_ids"] = tok.encode("Once upon a time").ids
    log(f"tokenizer: {report['tokenizer']}")
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")

    from transformers import AutoModelForCausalLM
    cfg = make_config(tok.get_vocab_size(), bos, eos)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(device)
    n_params = sum(p.numel() for p in model.parameters())
    report["n_params"] = n_params
    log(f"model: {n_params / 1e6:.2f} M parameters")

    curve = []
    try:
        steps = run_training(model, data, args, device, args.train_seconds, args.steps, args.lr,
                             200, args.seed, "pretrain", heldout=held, curve=curve)
    finally:
        with open(W("loss.csv"), "w") as f:
            keys = ["tag", "step", "tokens", "loss", "lr", "time", "heldout_loss"]
            f.write(",".join(keys) + "\n")
            for r in curve:
                f.write(",".join(str(r.get(k, "")) for k in keys) + "\n")
    report["pretrain_steps"] = steps
    report["pretrain_tokens"] = steps * args.batch * CTX
    model.save_pretrained(W("hf"), safe_serialization=True)
    shutil.copy(W("tokenizer.json"), W("hf/tokenizer.json"))
    log("saved checkpoint")

    # F16 reference model on the GPU (float32 compute on F16-rounded weights).
    ref = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(device)
    ref.load_state_dict(model.state_dict())
    round_f16_(ref)
    ppl = {"f32 weights": perplexity(model, held, device),
           "F16": perplexity(ref, held, device)}
    # PTQ: fake Q4_0 on the linear weights of the layers (embedding / tied output kept F16).
    ptq = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(device)
    ptq.load_state_dict(ref.state_dict())
    with torch.no_grad():
        for m in linear_modules(ptq):
            m.weight.copy_(fake_q4_0(m.weight))
    ppl["PTQ Q4_0 (layer linears)"] = perplexity(ptq, held, device)
    with torch.no_grad():
        e = ptq.model.embed_tokens.weight
        e.copy_(fake_q4_0(e))
    ppl["PTQ Q4_0 (all matrices, incl. tied embedding)"] = perplexity(ptq, held, device)
    del ptq
    report["perplexity"] = ppl
    log(f"perplexity: {json.dumps(ppl)}")
    try:
        report["sample_pytorch"] = greedy(ref, tok, "Once upon a time", 60, device)
        log(f"greedy (PyTorch F16): {report['sample_pytorch']!r}")
    except Exception:  # noqa: BLE001 - a sample is not worth losing the run
        log("greedy failed:\n" + traceback.format_exc())

    # GGUF export + checks.
    size = export_gguf(ref, cfg, W("tokenizer.json"), W("gannet-default.gguf"), "gannet-default")
    report["gguf_bytes"] = size
    log(f"exported gannet-default.gguf: {size} bytes")
    cpu_ref = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()
    cpu_ref.load_state_dict({k: v.cpu() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(args.seed)
    windows = []
    for length in (64, 128, 256):
        s = int(rng.integers(1, len(held) - length))
        windows.append([bos] + held[s:s + length - 1].tolist())
    with torch.no_grad():
        report["gguf_check"] = check_gguf(cpu_ref, W("gannet-default.gguf"), windows)
        fx = W("fixture")
        os.makedirs(fx, exist_ok=True)
        last = []
        for w in windows:
            last.append(cpu_ref(input_ids=torch.as_tensor(w)[None]).logits[0, -1].float().numpy())
        np.stack(last).astype("<f4").tofile(os.path.join(fx, "last_logits.f32"))
        with open(os.path.join(fx, "windows.json"), "w") as f:
            json.dump({"n_vocab": tok.get_vocab_size(), "windows": windows,
                       "texts": [tok.decode(w[1:]) for w in windows],
                       "top1": [int(v.argmax()) for v in last]}, f)
    log(f"gguf check: {report['gguf_check']}")
    # Also the GPU (bf16 autocast) model against the file, for the record.
    with torch.no_grad():
        w0 = torch.as_tensor(windows[1], device=device)[None]
        a = model(input_ids=w0).logits[0].float().cpu().numpy()
        g = gguf_forward.forward(GGUFFile.open(W("gannet-default.gguf")), windows[1])
        report["gguf_vs_f32_training_weights"] = {
            "rel_err": float(np.abs(a - g).max() / np.abs(a).max()),
            "top1_equal": bool((a.argmax(-1) == g.argmax(-1)).all())}
    with open(W("report.json"), "w") as f:
        json.dump(report, f, indent=1)

    # QAT.
    qat = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(device)
    qat.load_state_dict(model.state_dict())
    del model
    for m in linear_modules(qat):
        m.__class__ = QATLinear
    qsteps = run_training(qat, data, args, device, args.qat_seconds, args.qat_steps, args.qat_lr,
                          20, args.seed + 1, "qat", heldout=held, curve=curve)
    report["qat_steps"] = qsteps
    for m in linear_modules(qat):
        m.__class__ = torch.nn.Linear
    with torch.no_grad():
        for m in linear_modules(qat):
            m.weight.copy_(fake_q4_0(m.weight))   # the values Q4_0 will hold
    round_f16_(qat)
    ppl["QAT Q4_0 (layer linears)"] = perplexity(qat, held, device)
    # Re-quantizing the exported values must give them back (up to F16 rounding).
    with torch.no_grad():
        again = max((fake_q4_0(m.weight) - m.weight).abs().max().item() for m in linear_modules(qat))
    report["qat_requantize_max_abs_change"] = again
    with torch.no_grad():
        e = qat.model.embed_tokens.weight
        saved = e.detach().clone()
        e.copy_(fake_q4_0(e))
        ppl["QAT Q4_0 (all matrices, incl. tied embedding)"] = perplexity(qat, held, device)
        e.copy_(saved)
    log(f"perplexity: {json.dumps(ppl)}")
    size = export_gguf(qat, cfg, W("tokenizer.json"), W("gannet-default-qat.gguf"),
                       "gannet-default-qat")
    report["qat_gguf_bytes"] = size
    try:
        report["sample_qat"] = greedy(qat, tok, "Once upon a time", 60, device)
        log(f"greedy (QAT): {report['sample_qat']!r}")
    except Exception:  # noqa: BLE001
        log("greedy failed:\n" + traceback.format_exc())
    with open(W("loss.csv"), "w") as f:
        keys = ["tag", "step", "tokens", "loss", "lr", "time", "heldout_loss"]
        f.write(",".join(keys) + "\n")
        for r in curve:
            f.write(",".join(str(r.get(k, "")) for k in keys) + "\n")
    draw_loss_png(curve, W("loss.png"))
    report["total_seconds"] = time.time() - T0
    with open(W("report.json"), "w") as f:
        json.dump(report, f, indent=1)
    log("done")


if __name__ == "__main__":
    main()
