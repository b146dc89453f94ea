"""Reference logits from Hugging Face transformers for tiny random-weight models, and the same
models as GGUF files, for Gannet's model tests (tests/fixtures/models/).

For each architecture (llama with GQA, qwen2 with qkv biases, qwen3 with QK-norm, gemma3 text with
sliding-window + global layers, QK-norm, scaled embeddings, GeGLU, post-norms):
  - build a tiny HF config, initialise the weights from a fixed seed (norm weights random too);
  - for each of f32, f16, bf16: round the HF weights the way the GGUF stores them (matrices to the
    type, vectors kept f32), run the HF model in float32 on the CPU with eager attention on a fixed
    24-token sequence, and save all positions' logits; write the GGUF with export_hf.py;
  - self-check: reload every GGUF with gguf_reader.py (names, shapes, types, values, and bf16/f16
    rounding against torch's), and run gguf_forward.py (numpy, float64, llama.cpp conventions)
    on it: it must reproduce the HF logits. Also prints float32-vs-float64 HF differences (the
    noise floor a float32 implementation can expect) and CUDA-vs-CPU differences when a GPU is there.

    cd training && python3 make_reference_fixtures.py --out ../tests/fixtures/models

Outputs in --out: <arch>-{f32,f16,bf16}.gguf, <arch>-{f32,f16,bf16}.logits.f32 (float32 LE,
[n_tokens][n_vocab]), <arch>.tokens.json ({"tokens": [...], "n_vocab": N}), provenance.json.
Exits 1 if any self-check fails (the files are still written, for inspection).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

import numpy as np

import export_hf
import gguf_forward
from gguf_reader import GGUFFile
from gguf_writer import GGMLType, round_to

N_TOKENS = 24
SEED = 1234
OUTTYPES = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16}

_COMMON = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
               intermediate_size=128, vocab_size=384, rms_norm_eps=1e-6,
               max_position_embeddings=256, num_hidden_layers=2)

# model_type -> HF config kwargs (transformers 5 spelling: rope_parameters). The rope bases chosen
# are also each config class's defaults, so transformers 4.x builds the same models.
ARCH_CONFIGS = {
    "llama": dict(_COMMON, model_type="llama", tie_word_embeddings=False,
                  hidden_act="silu", rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    # Qwen2Config has no head_dim field; the model uses hidden_size / num_attention_heads (= 16).
    "qwen2": dict({k: v for k, v in _COMMON.items() if k != "head_dim"}, model_type="qwen2",
                  tie_word_embeddings=True, hidden_act="silu",
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    "qwen3": dict(_COMMON, model_type="qwen3", tie_word_embeddings=True, hidden_act="silu",
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    # 7 layers with the default pattern 6: layers 0-4 and 6 slide (window 4), layer 5 is global.
    "gemma3": dict(_COMMON, model_type="gemma3_text", tie_word_embeddings=True, num_hidden_layers=7,
                   intermediate_size=96, sliding_window=4, query_pre_attn_scalar=16,
                   hidden_activation="gelu_pytorch_tanh",
                   rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}),
}


def init_std(arch: str, name: str) -> tuple[float, float]:
    """(mean, std) of the random initial value of parameter `name`."""
    if name.endswith("norm.weight"):
        return (0.0 if arch == "gemma3" else 1.0), 0.1   # gemma stores w for x * (1 + w)
    if name.endswith(".bias"):
        return 0.0, 0.1
    if name.endswith("embed_tokens.weight"):
        return 0.0, 0.5
    if name.endswith(("q_proj.weight", "k_proj.weight")):
        return 0.0, 0.15
    return 0.0, 0.1


def token_ids(arch_index: int, n_vocab: int) -> list[int]:
    rng = np.random.default_rng(SEED + arch_index)
    return [int(t) for t in rng.integers(0, n_vocab, N_TOKENS)]


def build_model(arch: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    kwargs = dict(ARCH_CONFIGS[arch])
    model_type = kwargs.pop("model_type")
    config = AutoConfig.for_model(model_type, **kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    model = model.float().eval()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head appears once (as embed_tokens)
            mean, std = init_std(arch, name)
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)
    return config, model


def hf_logits(model, sd_np: dict, tokens, device="cpu", dtype=None):
    import torch
    dtype = dtype or torch.float32
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd_np.items()})
    m = model.to(device=device, dtype=dtype)
    with torch.no_grad():
        out = m(input_ids=torch.tensor([tokens], device=device), use_cache=False).logits[0]
    model.to(device="cpu", dtype=torch.float32)
    return out.float().cpu().numpy() if dtype == torch.float32 else out.double().cpu().numpy()


class Checks:
    def __init__(self):
        self.failures = []

    def expect(self, ok: bool, what: str):
        if not ok:
            self.failures.append(what)
            print(f"  CHECK FAILED: {what}", flush=True)


def self_check_gguf(checks: Checks, path: str, hp, stored: dict, sd: dict, outtype, torch_round):
    f = GGUFFile.open(path)
    checks.expect(f.value("general.architecture") == hp.arch, f"{path}: architecture")
    checks.expect(set(f.tensors) == set(stored), f"{path}: tensor names")
    for name, (y, t) in stored.items():
        info = f.tensors.get(name)
        if info is None:
            continue
        checks.expect(info.shape == y.shape, f"{path}:{name}: shape {info.shape} != {y.shape}")
        checks.expect(info.dims == tuple(reversed(y.shape)), f"{path}:{name}: ggml dims")
        checks.expect(info.ggml_type == t, f"{path}:{name}: type {info.ggml_type} != {t}")
        checks.expect(np.array_equal(f.tensor_f32(name), round_to(y, t)), f"{path}:{name}: values")
    # Our f16/bf16 rounding must be torch's: compare a matrix that is not permuted.
    emb = sd["model.embed_tokens.weight"]
    checks.expect(np.array_equal(f.tensor_f32("token_embd.weight"), torch_round(emb, outtype)),
                  f"{path}: token_embd rounding differs from torch's")
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--archs", default=",".join(ARCH_CONFIGS))
    args = ap.parse_args()

    import torch
    import transformers
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.makedirs(args.out, exist_ok=True)
    has_cuda = torch.cuda.is_available()
    prov = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "gpu": torch.cuda.get_device_name(0) if has_cuda else None,
        "reference_device": "cpu (float32, eager attention)", "seed": SEED, "n_tokens": N_TOKENS,
        "archs": {},
    }
    print(json.dumps({k: v for k, v in prov.items() if k != "archs"}), flush=True)

    def torch_round(x, outtype):
        t = torch.from_numpy(np.ascontiguousarray(x))
        if outtype == GGMLType.F16:
            t = t.half()
        elif outtype == GGMLType.BF16:
            t = t.bfloat16()
        return t.float().numpy()

    checks = Checks()
    for arch_index, arch in enumerate(args.archs.split(",")):
        try:
            prov["archs"][arch] = run_arch(arch_index, arch, args.out, checks, torch_round, has_cuda)
        except Exception:  # keep going: one device run should report on every architecture
            import traceback
            traceback.print_exc()
            checks.expect(False, f"{arch}: exception (see log)")

    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    prov["total_bytes"] = total
    prov["failures"] = checks.failures
    with open(os.path.join(args.out, "provenance.json"), "w") as fp:
        json.dump(prov, fp, indent=1)
        fp.write("\n")
    print(f"total {total} bytes in {args.out}; {len(checks.failures)} failed checks", flush=True)
    sys.exit(1 if checks.failures else 0)


def _known(hp, name):
    try:
        export_hf.gguf_name(hp, name)
        return True
    except KeyError:
        return False


def run_arch(arch_index, arch, out_dir, checks, torch_round, has_cuda):
    import torch
    config, model = build_model(arch)
    hp = export_hf.hparams_from_hf(config)
    print(f"== {arch}: {type(model).__name__}, layers {hp.n_layer}, swa {hp.layer_is_swa}, "
          f"rope {hp.rope_theta}/{hp.rope_theta_swa}", flush=True)
    sd = {k: v.detach().float().cpu().numpy().copy() for k, v in model.state_dict().items()}
    for k in list(sd):  # a tensor the exporter does not know is a failure, not a crash
        try:
            export_hf.gguf_name(hp, k)
        except KeyError as e:
            checks.expect(False, f"{arch}: {e}")
    if hp.tie_embeddings and "lm_head.weight" in sd:
        checks.expect(np.array_equal(sd["lm_head.weight"], sd["model.embed_tokens.weight"]),
                      f"{arch}: lm_head not tied")
    tokens = token_ids(arch_index, hp.n_vocab)
    with open(os.path.join(out_dir, f"{arch}.tokens.json"), "w") as fp:
        json.dump({"tokens": tokens, "n_vocab": hp.n_vocab}, fp)
        fp.write("\n")
    arch_prov = {"hf_class": type(model).__name__, "hf_config": ARCH_CONFIGS[arch],
                 "files": {}}
    for ot_name, outtype in OUTTYPES.items():
        sd_r = export_hf.round_state_dict(sd, outtype)
        logits = hf_logits(model, sd_r, tokens)
        stem = f"{arch}-{ot_name}"
        logits.astype("<f4").tofile(os.path.join(out_dir, f"{stem}.logits.f32"))
        path = os.path.join(out_dir, f"{stem}.gguf")
        known = {k: v for k, v in sd.items() if _known(hp, k)}
        stored = export_hf.export_state_dict(hp, known, path, outtype, name=f"gannet-tiny-{arch}")
        f = self_check_gguf(checks, path, hp, stored, sd, outtype, torch_round)
        scale = float(np.abs(logits).max())
        np_logits = gguf_forward.forward(f, tokens)
        d_np = float(np.abs(np_logits - logits).max())
        logits64 = hf_logits(model, sd_r, tokens, dtype=torch.float64)
        d_64 = float(np.abs(logits64 - logits).max())
        d_cuda = None
        if has_cuda:
            d_cuda = float(np.abs(hf_logits(model, sd_r, tokens, device="cuda") - logits).max())
        checks.expect(float(np.std(logits)) > 0.1, f"{stem}: logits nearly constant")
        checks.expect(d_np <= 1e-4 * max(scale, 1.0),
                      f"{stem}: numpy GGUF forward differs from HF by {d_np:.3g}")
        info = {"bytes": os.path.getsize(path), "max_abs_logit": scale,
                "logit_std": float(np.std(logits)),
                "max_diff_numpy_gguf_forward_f64_vs_hf_f32": d_np,
                "max_diff_hf_f64_vs_hf_f32": d_64, "max_diff_hf_cuda_f32_vs_cpu_f32": d_cuda,
                "argmax_last": int(np.argmax(logits[-1]))}
        arch_prov["files"][stem] = info
        print(f"  {stem}: {json.dumps(info)}", flush=True)
    if arch == "gemma3":  # the sliding window must change the answer, or the test is weak
        check_sliding_window_matters(config, model, sd, tokens, checks, arch_prov)
    return arch_prov


def check_sliding_window_matters(config, model, sd, tokens, checks, arch_prov):
    import copy
    from transformers import AutoModelForCausalLM
    cfg2 = copy.deepcopy(config)
    cfg2.sliding_window = 10**6
    m2 = AutoModelForCausalLM.from_config(cfg2, attn_implementation="eager").float().eval()
    d_swa = float(np.abs(hf_logits(m2, sd, tokens) - hf_logits(model, sd, tokens)).max())
    print(f"  gemma3: logits change by {d_swa:.3g} without the sliding window", flush=True)
    checks.expect(d_swa > 1e-3, "gemma3: the sliding window does not matter")
    arch_prov["max_diff_without_sliding_window"] = d_swa


if __name__ == "__main__":
    main()
