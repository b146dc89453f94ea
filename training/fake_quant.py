"""Fake quantization in torch for quantization-aware training against `gannet quantize`: each
function takes a float tensor whose last dimension is the row (the GGUF's ne[0], HF's in_features)
and returns the values the quantized file would hold after dequantization, same shape, float32.

    q4_0 q8_0            blocks of 32, the reference rounding (byte-exact with gannet and ggml)
    q2_k q3_k q4_k q5_k q6_k   256-element super-blocks; a vectorised copy of gannet's own scale
                         search (src/tensor/quant_k_quantize.cc: 31 candidate scales per sub-block,
                         least-squares scale/min, fp16 super-scales, re-rounding), without
                         importance weights (i.e. `gannet quantize` without --calibration)

Plan: the type `gannet quantize` gives each tensor (src/quantize/quantizer.cc choose_types():
vectors and *_norm kept, first matching plan rule, else the default type with llama.cpp's
output-matrix rule and the fallbacks for rows a type cannot hold).

How close to the C++ quantizer this is: test_fake_quant.py quantizes tensors with the gannet binary,
dequantizes them (`gannet quantize Q.gguf D.gguf --type f32`) and compares (see README).
"""

from __future__ import annotations

import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# --- types ----------------------------------------------------------------------------------------

# (elements per block, bytes per block) as in ggml.
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q4_0": (32, 18), "q4_1": (32, 20),
         "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34), "q2_k": (256, 84),
         "q3_k": (256, 110), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210)}
# Rule 4 of quantizer.h: what a type that cannot hold a row falls back to.
FALLBACK = {"q2_k": "q4_0", "q3_k": "q4_0", "q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0"}


def bits_per_weight(t: str) -> float:
    n, b = BLOCK[t]
    return 8.0 * b / n


def type_name(t: str) -> str:
    """gannet's --type spelling: case-insensitive, Q4_K_M-style suffixes mean the plain K type."""
    t = t.lower()
    t = re.sub(r"^(q[2-6]_k)_(s|m|l|xs)$", r"\1", t)
    if t not in BLOCK:
        raise ValueError(f"unknown type {t!r} (expected one of {' '.join(BLOCK)})")
    return t


# --- helpers --------------------------------------------------------------------------------------

def _fp16(x: torch.Tensor) -> torch.Tensor:
    return x.half().float()


def _round_clamp(v: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    # nearbyint (half to even) like the C++; torch.round is half to even too.
    return torch.clamp(torch.round(v), lo, hi)


def _round_half_away(v: torch.Tensor) -> torch.Tensor:
    t = torch.trunc(v)
    return torch.where((v - t).abs() >= 0.5, t + torch.sign(v), t)


def _blocks(w: torch.Tensor, n: int) -> torch.Tensor:
    if w.shape[-1] % n:
        raise ValueError(f"row of {w.shape[-1]} elements is not a multiple of {n}")
    return w.detach().float().reshape(-1, n)


# Candidate elements per pass of the K-quant search (bounds memory: ~10 float64 temporaries of this
# size); on a GPU one pass covers any matrix of the default model.
_CHUNK = {"cpu": 1 << 21, "cuda": 1 << 24}


def _chunks(rows: int, per_row: int, device: torch.device):
    step = max(1, _CHUNK.get(device.type, 1 << 21) // per_row)
    for s in range(0, rows, step):
        yield slice(s, min(rows, s + step))


# --- 32-element formats ---------------------------------------------------------------------------

def fake_q4_0(w: torch.Tensor) -> torch.Tensor:
    import train  # the one used for the shipped Q4_0 QAT; kept there
    return train.fake_q4_0(w.detach().float())


def fake_q8_0(w: torch.Tensor) -> torch.Tensor:
    """d = amax / 127, q = round-half-away(x * (1 / d)), value = q * fp16(d)."""
    b = _blocks(w, 32)
    d = b.abs().amax(dim=1, keepdim=True) / 127.0
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = _round_half_away(b * inv)
    return (q * _fp16(d)).reshape(w.shape)


# --- K-quants -------------------------------------------------------------------------------------

_T = torch.arange(-15, 16, dtype=torch.float32)      # the 31 candidates (kTries = 15, kStep = 0.1)


def _first_best(err: torch.Tensor) -> torch.Tensor:
    """Index of the winning candidate per row as the C++ loop picks it: candidates in order, a
    candidate wins when its (double) error is below the best so far *stored as float*."""
    best_err = torch.full(err.shape[:1], float("inf"), dtype=torch.float32, device=err.device)
    best = torch.zeros(err.shape[:1], dtype=torch.int64, device=err.device)
    for j in range(err.shape[1]):
        win = err[:, j] < best_err.double()
        best = torch.where(win, torch.full_like(best, j), best)
        best_err = torch.where(win, err[:, j].float(), best_err)
    return best[:, None]


def _fit_scale_min(x: torch.Tensor, nmax: int):
    """fit_scale_min() on each row of x (sub-blocks): x ~ a * q + b, q in [0, nmax], b <= 0.
    Returns (a, min = -b), float32, one per row."""
    a_out = torch.empty(x.shape[0], dtype=torch.float32, device=x.device)
    m_out = torch.empty_like(a_out)
    t = _T.to(x.device)
    for sl in _chunks(x.shape[0], x.shape[1] * len(t), x.device):
        xs = x[sl]
        lo = torch.clamp(xs.amin(dim=1), max=0.0)
        hi = xs.amax(dim=1)
        rng = hi - lo
        iscale = (float(nmax) + 0.1 * t)[None, :] / rng[:, None]                      # [S, 31]
        lv = _round_clamp(iscale[:, :, None] * (xs - lo[:, None])[:, None, :], 0, nmax).double()
        xd = xs.double()[:, None, :]
        n = float(xs.shape[1])
        swl = lv.sum(-1)
        swll = (lv * lv).sum(-1)
        swx = xd.sum(-1)
        swlx = (lv * xd).sum(-1)
        det = n * swll - swl * swl
        ok = det > 0
        safe = torch.where(ok, det, torch.ones_like(det))
        a = (n * swlx - swl * swx) / safe
        b = (swll * swx - swl * swlx) / safe
        pos = b > 0
        a = torch.where(pos, swlx / torch.where(swll > 0, swll, torch.ones_like(swll)), a)
        b = torch.where(pos, torch.zeros_like(b), b)
        ok = ok & (a >= 0)
        err = ((a[:, :, None] * lv + b[:, :, None] - xd) ** 2).sum(-1)
        err = torch.where(ok, err, torch.full_like(err, float("inf")))
        best = _first_best(err)
        a_best = a.gather(1, best)[:, 0].float()
        b_best = b.gather(1, best)[:, 0].float()
        none = ~ok.any(dim=1)
        a_best = torch.where(none, rng / float(nmax), a_best)
        b_best = torch.where(none, lo, b_best)
        flat = hi <= lo
        a_out[sl] = torch.where(flat, torch.zeros_like(a_best), a_best)
        m_out[sl] = torch.where(flat, -lo, -b_best)
    return a_out, m_out


def _super_scale(v: torch.Tensor, top: float) -> torch.Tensor:
    return _fp16(v.abs().amax(dim=1, keepdim=True) / top)


def _fake_min_k(w: torch.Tensor, sub_len: int, nmax: int, scale_max: int) -> torch.Tensor:
    """Q2_K (16 x 16, q 0..3, 4-bit scales) / Q4_K, Q5_K (8 x 32, 6-bit scales)."""
    x = _blocks(w, 256)
    n_sub = 256 // sub_len
    a, mins = _fit_scale_min(x.reshape(-1, sub_len), nmax)
    a = a.reshape(-1, n_sub)
    mins = mins.reshape(-1, n_sub)
    d = _super_scale(a, scale_max)
    dmin = _super_scale(mins, scale_max)
    sc = torch.where(d > 0, _round_clamp(a / torch.where(d > 0, d, torch.ones_like(d)), 0, scale_max),
                     torch.zeros_like(a))
    m = torch.where(dmin > 0, _round_clamp(mins / torch.where(dmin > 0, dmin, torch.ones_like(dmin)),
                                           0, scale_max), torch.zeros_like(mins))
    dl = (d * sc)[:, :, None]
    ml = (dmin * m)[:, :, None]
    xs = x.reshape(-1, n_sub, sub_len)
    q = torch.where(dl > 0, _round_clamp((xs + ml) / torch.where(dl > 0, dl, torch.ones_like(dl)), 0, nmax),
                    torch.zeros_like(xs))
    return (dl * q - ml).reshape(w.shape)


def _fit_scale_symmetric(x: torch.Tensor, nneg: int, npos: int) -> torch.Tensor:
    """fit_scale_symmetric() on each row of x: x ~ a * q, q in [-nneg, npos]; signed a."""
    out = torch.empty(x.shape[0], dtype=torch.float32, device=x.device)
    t = _T.to(x.device)
    for sl in _chunks(x.shape[0], x.shape[1] * 2 * len(t), x.device):
        xs = x[sl]
        idx = xs.abs().argmax(dim=1, keepdim=True)
        extreme = xs.gather(1, idx)[:, 0]
        zero = extreme == 0
        ext = torch.where(zero, torch.ones_like(extreme), extreme)
        targets = torch.cat([float(-nneg) + (-0.1) * t, float(npos) + 0.1 * t])        # [62]
        iscale = targets[None, :] / ext[:, None]
        lv = _round_clamp(iscale[:, :, None] * xs[:, None, :], -nneg, npos).double()
        xd = xs.double()[:, None, :]
        swxl = (xd * lv).sum(-1)
        swll = (lv * lv).sum(-1)
        ok = swll > 0
        a = swxl / torch.where(ok, swll, torch.ones_like(swll))
        err = torch.where(ok, -a * swxl, torch.full_like(a, float("inf")))
        best = _first_best(err)
        a_best = a.gather(1, best)[:, 0].float()
        a_best = torch.where(ok.any(dim=1), a_best, extreme / float(-nneg))
        out[sl] = torch.where(zero, torch.zeros_like(a_best), a_best)
    return out


def _fake_sym_k(w: torch.Tensor, nneg: int, npos: int, smin: int, smax: int) -> torch.Tensor:
    """Q3_K (q -4..3, scales -32..31) / Q6_K (q -32..31, scales -128..127): 16 x 16."""
    x = _blocks(w, 256)
    a = _fit_scale_symmetric(x.reshape(-1, 16), nneg, npos).reshape(-1, 16)
    idx = a.abs().argmax(dim=1, keepdim=True)
    extreme = a.gather(1, idx)
    d = _fp16(extreme / float(-smin))
    nz = d != 0
    sc = torch.where(nz, _round_clamp(a / torch.where(nz, d, torch.ones_like(d)), -smin, smax),
                     torch.zeros_like(a))
    dl = (d * sc)[:, :, None]
    xs = x.reshape(-1, 16, 16)
    q = torch.where(dl != 0, _round_clamp(xs / torch.where(dl != 0, dl, torch.ones_like(dl)), -nneg, npos),
                    torch.zeros_like(xs))
    return (dl * q).reshape(w.shape)


def fake_q2_k(w):
    return _fake_min_k(w, 16, 3, 15)


def fake_q4_k(w):
    return _fake_min_k(w, 32, 15, 63)


def fake_q5_k(w):
    return _fake_min_k(w, 32, 31, 63)


def fake_q3_k(w):
    return _fake_sym_k(w, 4, 3, 32, 31)


def fake_q6_k(w):
    return _fake_sym_k(w, 32, 31, 128, 127)


def fake_f16(w):
    return _fp16(w.detach())


def fake_f32(w):
    return w.detach().float()


FAKE = {"q4_0": fake_q4_0, "q8_0": fake_q8_0, "q2_k": fake_q2_k, "q3_k": fake_q3_k,
        "q4_k": fake_q4_k, "q5_k": fake_q5_k, "q6_k": fake_q6_k, "f16": fake_f16, "f32": fake_f32}


def fake_quant(t: str, w: torch.Tensor) -> torch.Tensor:
    t = type_name(t)
    if t not in FAKE:
        raise NotImplementedError(f"no fake quantizer for {t}")
    return FAKE[t](w)


# --- plans ----------------------------------------------------------------------------------------

def glob_regex(pattern: str) -> re.Pattern:
    """gannet's `match`: `*` any run of characters (dots too), `?` one character, the rest literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


class Plan:
    """A quantization plan (plans/*.json) or just a --type: the type of every tensor."""

    def __init__(self, default: str | None, rules=(), description: str = ""):
        self.default = type_name(default) if default else None
        self.rules = list(rules)            # (pattern text, compiled regex, type)
        self.description = description

    @classmethod
    def load(cls, path: str, type_override: str | None = None) -> "Plan":
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        rules = []
        for i, r in enumerate(j.get("rules", [])):
            if ("match" in r) == ("regex" in r):
                raise ValueError(f"{path}: rule {i} needs exactly one of match / regex")
            rx = glob_regex(r["match"]) if "match" in r else re.compile(r["regex"])
            rules.append((r.get("match", r.get("regex")), rx, type_name(r["type"])))
        return cls(type_override or j.get("default"), rules, j.get("description", ""))

    def choose(self, name: str, shape: tuple, has_output: bool) -> str | None:
        """The type for a GGUF tensor (shape in torch order, row = shape[-1]); None = kept as is.
        Mirrors choose_types() of src/quantize/quantizer.cc."""
        row = shape[-1] if shape else 1
        if len(shape) < 2 or name.endswith("_norm.weight"):
            return None
        for pattern, rx, t in self.rules:
            if rx.fullmatch(name):
                if row % BLOCK[t][0]:
                    raise ValueError(f"plan rule {pattern!r} asks {t} for {name!r}, whose rows of "
                                     f"{row} are not a multiple of {BLOCK[t][0]}")
                return t
        if self.default is None:
            raise ValueError(f"{name}: no plan rule matches and no default type")
        t = self.default
        is_output = name == "output.weight" or (not has_output and name == "token_embd.weight")
        if is_output and bits_per_weight(t) < bits_per_weight("q6_k"):
            t = "q6_k"
        if row % BLOCK[t][0]:
            f = FALLBACK.get(t, "f16")
            t = f if row % BLOCK[f][0] == 0 else "f16"
        return t

    def choose_all(self, shapes: dict) -> dict:
        """{gguf name: shape} -> {gguf name: type or None}."""
        has_output = "output.weight" in shapes
        return {n: self.choose(n, s, has_output) for n, s in shapes.items()}
