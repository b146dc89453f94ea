"""Tests of fake_quant.py (needs torch; the comparisons with the C++ quantizer also need a built
`gannet` binary: $GANNET, else build/ or build*/tools/gannet/gannet with a quantize command).

    cd training && python3 -m unittest test_fake_quant -v
    GANNET=../build-x/tools/gannet/gannet python3 test_fake_quant.py --table   # agreement table

The C++ comparison: a small GGUF of rows (real rows of the shipped model, gaussian rows, rows
with an outlier, all-negative, all-equal and zero rows) is written with gguf_writer.py, quantized by
`gannet quantize --type T`, dequantized by `gannet quantize Q.gguf D.gguf --type f32`, read back
with gguf_reader.py and compared with fake_quant of the same F16 values.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import fake_quant as fq  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402
from gguf_writer import GGMLType, GGUFWriter  # noqa: E402

MODEL = os.path.join(ROOT, "models", "gannet-default.gguf")
PLAN = os.path.join(ROOT, "plans", "mobile-2bit.json")
TYPES = ["q4_0", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"]


def find_gannet() -> str | None:
    cands = [os.environ.get("GANNET", ""), os.path.join(ROOT, "build/tools/gannet/gannet")] + \
        sorted(glob.glob(os.path.join(ROOT, "build*/tools/gannet/gannet")))
    for c in cands:
        if c and os.access(c, os.X_OK):
            r = subprocess.run([c, "quantize", "--help"], capture_output=True, text=True)
            if r.returncode == 0:
                return c
    return None


def test_rows() -> np.ndarray:
    """[48, 512] float32 rows, F16-exact (what an F16 file holds)."""
    rng = np.random.default_rng(7)
    rows = []
    if os.path.exists(MODEL):
        f = GGUFFile.open(MODEL)
        for name in ("blk.3.ffn_gate.weight", "blk.5.ffn_down.weight", "blk.0.attn_q.weight", "token_embd.weight"):
            w = f.tensor_f32(name)
            rows += list(w[:8, :512]) if w.shape[1] >= 512 else list(w[:8].reshape(-1, 512))
    while len(rows) < 40:
        rows.append(rng.normal(0, 0.05, 512))
    g = rng.normal(0, 0.02, 512)
    g[17] = 0.9                                    # one outlier
    rows += [g, -np.abs(rng.normal(0, 0.03, 512)), np.abs(rng.normal(0, 0.03, 512)),
             np.full(512, 0.0125), np.full(512, -0.02), np.zeros(512), rng.uniform(-1, 1, 512),
             rng.standard_t(2, 512) * 0.01]
    return np.asarray(rows, dtype=np.float32).astype(np.float16).astype(np.float32)


def gannet_roundtrip(gannet: str, x: np.ndarray, qtype: str, tmp: str) -> np.ndarray:
    src, q, deq = (os.path.join(tmp, n) for n in ("src.gguf", f"{qtype}.gguf", f"{qtype}-f32.gguf"))
    w = GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_string("general.name", "fake-quant-test")
    w.add_tensor("blk.0.ffn_gate.weight", x, GGMLType.F16)
    w.write(src)
    for args in ([src, q, "--type", qtype], [q, deq, "--type", "f32"]):
        r = subprocess.run([gannet, "quantize", *args], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"gannet quantize {' '.join(args)}: {r.stderr}")
    return GGUFFile.open(deq).tensor_f32("blk.0.ffn_gate.weight")


def compare(gannet: str) -> dict:
    x = test_rows()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in TYPES:
            ref = gannet_roundtrip(gannet, x, t, tmp)
            got = fq.fake_quant(t, torch.from_numpy(x)).numpy()
            err_c = np.linalg.norm(ref - x) / np.linalg.norm(x)
            err_p = np.linalg.norm(got - x) / np.linalg.norm(x)
            out[t] = {"equal_frac": float((ref == got).mean()), "max_abs_diff": float(np.abs(ref - got).max()),
                      "diff_vs_err": float(np.linalg.norm(ref - got) / max(np.linalg.norm(ref - x), 1e-30)),
                      "rel_rmse_gannet": float(err_c), "rel_rmse_torch": float(err_p)}
    return out


def compare_model(gannet: str, qargs: list, plan: fq.Plan) -> dict:
    """The shipped model through `gannet quantize QARGS` and through Plan + fake_quant: the types
    chosen (from gannet's progress lines) and the values, tensor by tensor."""
    f = GGUFFile.open(MODEL)
    want = plan.choose_all({n: i.shape for n, i in f.tensors.items()})
    res = {"types_equal": True, "tensors": {}}
    with tempfile.TemporaryDirectory() as tmp:
        q, deq = os.path.join(tmp, "q.gguf"), os.path.join(tmp, "d.gguf")
        r = subprocess.run([gannet, "quantize", MODEL, q, *qargs], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr)
        chosen = {}
        for line in r.stderr.splitlines():
            m = re.match(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+\S+\s+->\s+(\S+)", line)
            if m:
                chosen[m.group(1)] = m.group(2).lower()
        subprocess.run([gannet, "quantize", q, deq, "--type", "f32"], check=True, capture_output=True)
        d = GGUFFile.open(deq)
        if len(chosen) != len(want):
            res["types_equal"] = False
        for name, t in want.items():
            if chosen.get(name, "?") != (t or f.tensors[name].ggml_type.name.lower()):
                res["types_equal"] = False
            if t is None:
                continue
            ref = d.tensor_f32(name)
            got = fq.fake_quant(t, torch.from_numpy(f.tensor_f32(name))).numpy()
            res["tensors"][name] = (t, float((ref == got).mean()))
    res["chosen"] = chosen
    return res


class PlanTest(unittest.TestCase):
    SHAPES = {"token_embd.weight": (4096, 256), "output_norm.weight": (256,),
              "blk.0.attn_norm.weight": (256,), "blk.0.attn_q.weight": (256, 256),
              "blk.0.attn_v.weight": (128, 256), "blk.0.ffn_gate.weight": (768, 256),
              "blk.0.ffn_down.weight": (256, 768), "blk.4.attn_k.weight": (128, 256),
              "blk.4.attn_output.weight": (256, 256), "blk.4.ffn_up.weight": (768, 256),
              "blk.4.ffn_down.weight": (256, 768), "blk.10.ffn_gate.weight": (768, 256)}

    def test_mobile_plan(self):
        got = fq.Plan.load(PLAN).choose_all(self.SHAPES)
        self.assertEqual(got, {
            "token_embd.weight": "q8_0", "output_norm.weight": None, "blk.0.attn_norm.weight": None,
            "blk.0.attn_q.weight": "q4_0", "blk.0.attn_v.weight": "q8_0", "blk.0.ffn_gate.weight": "q4_k",
            "blk.0.ffn_down.weight": "q4_k", "blk.4.attn_k.weight": "q4_0", "blk.4.attn_output.weight": "q4_0",
            "blk.4.ffn_up.weight": "q2_k", "blk.4.ffn_down.weight": "q3_k", "blk.10.ffn_gate.weight": "q2_k"})

    def test_plain_type_output_rule_and_fallbacks(self):
        got = fq.Plan("Q2_K_M").choose_all(self.SHAPES)
        self.assertEqual(got["token_embd.weight"], "q6_k")      # tied: the output matrix
        self.assertEqual(got["blk.4.ffn_down.weight"], "q2_k")
        self.assertEqual(fq.Plan("q8_0").choose_all(self.SHAPES)["token_embd.weight"], "q8_0")
        shapes = {"output.weight": (10, 96), "token_embd.weight": (10, 48), "a.weight": (4, 96)}
        self.assertEqual(fq.Plan("q2_k").choose_all(shapes),
                         {"output.weight": "q8_0", "token_embd.weight": "f16", "a.weight": "q4_0"})

    def test_glob_is_literal_except_star_and_question(self):
        rx = fq.glob_regex("blk.?.ffn_[a]*")
        self.assertTrue(rx.fullmatch("blk.1.ffn_[a]x"))
        self.assertFalse(rx.fullmatch("blk.1.ffn_ax"))
        self.assertFalse(rx.fullmatch("blkx12.ffn_[a]"))

    def test_bad_plan_rule(self):
        p = fq.Plan("q2_k", [("x", fq.glob_regex("x"), "q2_k")])
        with self.assertRaises(ValueError):
            p.choose("x", (4, 96), False)
        with self.assertRaises(ValueError):
            fq.type_name("q9_9")


class GridTest(unittest.TestCase):
    def setUp(self):
        self.x = torch.from_numpy(test_rows())

    def test_q2_k_sub_blocks_hold_four_levels(self):
        y = fq.fake_quant("q2_k", self.x).reshape(-1, 16)
        for row in y[:2000]:
            self.assertLessEqual(len(torch.unique(row)), 4)

    def test_requantizing_f16_values_moves_them_little(self):
        # What `gannet quantize` does to a QAT export: the dequantized values, stored in F16, are
        # quantized again. Not exactly idempotent (F16 rounding; a block's extreme or range can
        # change), but the second pass moves them by < 10% of the first pass's error.
        for t in TYPES:
            y = fq.fake_quant(t, self.x).half().float()
            moved = float((fq.fake_quant(t, y) - y).norm() / (y - self.x).norm())
            self.assertLess(moved, 0.1, t)

    def test_error_decreases_with_bits(self):
        errs = [float((fq.fake_quant(t, self.x) - self.x).norm()) for t in ("q2_k", "q3_k", "q4_k", "q5_k", "q6_k")]
        self.assertEqual(errs, sorted(errs, reverse=True))

    def test_zero_and_constant_rows_are_exact_enough(self):
        z = torch.zeros(2, 256)
        for t in TYPES:
            self.assertTrue(torch.equal(fq.fake_quant(t, z), z), t)
        c = torch.full((1, 256), -0.02).half().float()
        for t in ("q2_k", "q4_k", "q5_k"):
            self.assertLess(float((fq.fake_quant(t, c) - c).abs().max()), 2e-4, t)

    def test_bad_row_length(self):
        with self.assertRaises(ValueError):
            fq.fake_quant("q2_k", torch.zeros(2, 96))


@unittest.skipUnless(find_gannet(), "no gannet binary with a quantize command")
class AgainstGannetTest(unittest.TestCase):
    def test_matches_gannet_quantize(self):
        res = compare(find_gannet())
        for t, r in res.items():
            if t in ("q4_0", "q8_0"):
                self.assertEqual(r["equal_frac"], 1.0, (t, r))      # reference rounding: byte-exact
            else:   # the same search; 100% equal when measured, float64 summation order aside
                self.assertGreater(r["equal_frac"], 0.999, (t, r))
                self.assertLess(r["diff_vs_err"], 0.01, (t, r))


if __name__ == "__main__":
    if "--model" in sys.argv:
        g = find_gannet()
        for qargs, plan in ((["--plan", PLAN], fq.Plan.load(PLAN)), (["--type", "q2_k"], fq.Plan("q2_k")),
                            (["--type", "q4_0"], fq.Plan("q4_0"))):
            r = compare_model(g, qargs, plan)
            fr = [v[1] for v in r["tensors"].values()]
            worst = min(r["tensors"].items(), key=lambda kv: kv[1][1])
            print(f"{' '.join(qargs)}: types as gannet chose them: {r['types_equal']}; elements equal: "
                  f"mean {np.mean(fr):.6f}, worst {worst[0]} ({worst[1][0]}) {worst[1][1]:.6f}")
    elif "--table" in sys.argv:
        g = find_gannet()
        if not g:
            sys.exit("no gannet binary with a quantize command (set GANNET)")
        print("| type | elements equal | max abs diff | ||diff|| / ||gannet error|| | rel RMSE gannet | rel RMSE torch |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for t, r in compare(g).items():
            print(f"| {t} | {r['equal_frac']:.4%} | {r['max_abs_diff']:.2e} | {r['diff_vs_err']:.4f} | "
                  f"{r['rel_rmse_gannet']:.4f} | {r['rel_rmse_torch']:.4f} |")
    else:
        unittest.main()
