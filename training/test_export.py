"""Pure-Python tests of gguf_writer / gguf_reader / export_hf / gguf_forward (numpy only, no torch).

    cd training && python3 -m unittest test_export -v
"""

from __future__ import annotations

import copy
import math
import json
import os
import struct
import tempfile
import unittest

import numpy as np

import export_hf
import gguf_forward
import make_reference_fixtures
from export_hf import HParams
from gguf_reader import GGUFError, GGUFFile
from gguf_writer import (GGMLType, GGUFWriter, ValueType, bf16_bits_to_f32, f32_to_bf16_bits,
                         round_to)


def bf16_reference(x: float) -> float:
    """Round-to-nearest-even to 8 significant bits, computed with Python floats."""
    if x == 0 or not math.isfinite(x):
        return x
    if abs(x) < 2.0**-126:        # subnormal: a fixed quantum of 2**-133
        return round(x * 2.0**133) * 2.0**-133  # Python's round is half-to-even
    m, e = math.frexp(x)          # x = m * 2**e, 0.5 <= |m| < 1
    scaled = m * 256              # 8 significant bits
    r = round(scaled)
    return math.ldexp(r / 256, e)


class WriterReaderTest(unittest.TestCase):
    def roundtrip(self, w: GGUFWriter) -> GGUFFile:
        return GGUFFile(w.to_bytes())

    def test_every_metadata_type(self):
        w = GGUFWriter()
        scalars = {
            "u8": (ValueType.U8, 255), "i8": (ValueType.I8, -128), "u16": (ValueType.U16, 65535),
            "i16": (ValueType.I16, -32768), "u32": (ValueType.U32, 4_000_000_000),
            "i32": (ValueType.I32, -2_000_000_000), "f32": (ValueType.F32, 1.5),
            "bool": (ValueType.BOOL, True), "str": (ValueType.STRING, "héllo ✓"),
            "u64": (ValueType.U64, 2**64 - 1), "i64": (ValueType.I64, -(2**63)),
            "f64": (ValueType.F64, 1e-300),
        }
        for key, (t, v) in scalars.items():
            w.add_scalar(key, v, t)
        w.add_string_array("a.str", ["a", "", "Ġthe", "<unused_0>"])
        w.add_array("a.i32", [1, -2, 3], ValueType.I32)
        w.add_array("a.f32", [0.5, -1.25], ValueType.F32)
        w.add_array("a.bool", [True, False], ValueType.BOOL)
        w.add_array("a.u64", [], ValueType.U64)
        f = self.roundtrip(w)
        self.assertEqual(f.version, 3)
        for key, (t, v) in scalars.items():
            self.assertEqual(f.kv[key].type, t, key)
            self.assertEqual(f.kv[key].value, v, key)
        self.assertEqual(f.kv["a.str"].elem_type, ValueType.STRING)
        self.assertEqual(f.value("a.str"), ["a", "", "Ġthe", "<unused_0>"])
        self.assertEqual(f.value("a.i32"), [1, -2, 3])
        self.assertEqual(f.value("a.f32"), [0.5, -1.25])
        self.assertEqual(f.value("a.bool"), [True, False])
        self.assertEqual(f.value("a.u64"), [])

    def test_header_bytes(self):
        w = GGUFWriter()
        w.add_u32("k", 7)
        blob = w.to_bytes()
        self.assertEqual(blob[:4], b"GGUF")
        self.assertEqual(struct.unpack("<IQQ", blob[4:24]), (3, 0, 1))
        self.assertEqual(struct.unpack("<Q", blob[24:32]), (1,))
        self.assertEqual(blob[32:33], b"k")
        self.assertEqual(struct.unpack("<II", blob[33:41]), (ValueType.U32, 7))
        self.assertEqual(len(blob) % 32, 0)

    def test_tensors_roundtrip_and_alignment(self):
        rng = np.random.default_rng(0)
        for alignment in (32, 64):
            w = GGUFWriter(alignment=alignment)
            a = rng.standard_normal((3, 5)).astype(np.float32)
            b = rng.standard_normal((7,)).astype(np.float32)
            c = rng.standard_normal((2, 3, 4)).astype(np.float32)
            w.add_tensor("a", a, GGMLType.F32)
            w.add_tensor("b", b, GGMLType.F16)
            w.add_tensor("c", c, GGMLType.BF16)
            blob = w.to_bytes()
            f = GGUFFile(blob)
            self.assertEqual(f.alignment, alignment)
            self.assertEqual(f.data_offset % alignment, 0)
            self.assertEqual(f.tensors["a"].dims, (5, 3))  # ggml order
            self.assertEqual(f.tensors["c"].dims, (4, 3, 2))
            self.assertEqual(f.tensors["c"].shape, (2, 3, 4))
            self.assertEqual([f.tensors[n].ggml_type for n in "abc"],
                             [GGMLType.F32, GGMLType.F16, GGMLType.BF16])
            for t in f.tensors.values():
                self.assertEqual(t.offset % alignment, 0)
            np.testing.assert_array_equal(f.tensor_f32("a"), a)
            np.testing.assert_array_equal(f.tensor_f32("b"), b.astype(np.float16).astype(np.float32))
            np.testing.assert_array_equal(f.tensor_f32("c"), round_to(c, GGMLType.BF16))

    def test_bf16_rounding_is_nearest_even(self):
        one = 1.0
        cases = [one, one + 2**-8, one + 3 * 2**-8, one + 2**-8 + 2**-20, -2.5, 3.14159265,
                 1e-30, 6.5e4, 3.0e38, -1e-40, 0.0]
        x = np.array(cases, dtype=np.float32)
        got = bf16_bits_to_f32(f32_to_bf16_bits(x))
        want = [bf16_reference(float(v)) for v in x]
        np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))
        self.assertEqual(float(got[1]), 1.0)              # tie rounds to even (down)
        self.assertEqual(float(got[2]), 1.0 + 2**-6)      # tie rounds to even (up)
        self.assertTrue(np.isnan(bf16_bits_to_f32(f32_to_bf16_bits(np.array([np.nan], np.float32))))[0])
        rng = np.random.default_rng(1)
        r = (rng.standard_normal(2000) * np.exp(rng.uniform(-20, 20, 2000))).astype(np.float32)
        np.testing.assert_array_equal(bf16_bits_to_f32(f32_to_bf16_bits(r)),
                                      np.array([bf16_reference(float(v)) for v in r], np.float32))

    def test_bad_files_raise(self):
        w = GGUFWriter()
        w.add_string("s", "x")
        w.add_tensor("t", np.ones((4, 4), np.float32), GGMLType.F32)
        blob = w.to_bytes()
        with self.assertRaises(GGUFError):
            GGUFFile(b"GGUX" + blob[4:])
        for cut in (3, 10, 30, len(blob) - 1):
            with self.assertRaises(GGUFError, msg=f"cut at {cut}"):
                GGUFFile(blob[:cut])
        bad_version = blob[:4] + struct.pack("<I", 9) + blob[8:]
        with self.assertRaises(GGUFError):
            GGUFFile(bad_version)

    def test_writer_rejects_bad_input(self):
        w = GGUFWriter()
        w.add_u32("k", 1)
        with self.assertRaises(ValueError):
            w.add_u32("k", 2)
        with self.assertRaises(struct.error):
            w.add_u8("big", 256)
        with self.assertRaises(ValueError):
            w.add_tensor("x" * 64, np.ones(2, np.float32), GGMLType.F32)
        with self.assertRaises(ValueError):
            w.add_tensor("big", np.array([1e6], np.float32), GGMLType.F16)


# --- a numpy forward pass written like transformers (HF layout, HF norms) ---------------------------

def rotate_half_rope(x, pos, base, dim):
    inv_freq = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    freqs = pos[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    rot = np.concatenate([-x[..., dim // 2:], x[..., :dim // 2]], axis=-1)
    return x * cos + rot * sin


def hf_style_forward(hp: HParams, sd: dict, tokens, query_pre_attn_scalar=None):
    gemma = hp.arch == "gemma3"
    def norm(x, w):  # w: the HF weight; HF adds gemma's 1 in float32
        w = (np.float32(1.0) + w.astype(np.float32)) if gemma else w
        return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + hp.rms_eps) * w
    W = lambda n: sd[n].astype(np.float64)  # noqa: E731  (float32 values, exactly)
    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    x = W("model.embed_tokens.weight")[tokens]
    if gemma:
        x = x * math.sqrt(hp.n_embd)
    scale = (query_pre_attn_scalar or hp.head_dim) ** -0.5
    for i in range(hp.n_layer):
        p = f"model.layers.{i}."
        h = norm(x, W(p + "input_layernorm.weight"))
        def proj(n):
            y = h @ W(p + f"self_attn.{n}_proj.weight").T
            if p + f"self_attn.{n}_proj.bias" in sd:
                y = y + W(p + f"self_attn.{n}_proj.bias")
            return y
        q = proj("q").reshape(T, hp.n_head, hp.head_dim)
        k = proj("k").reshape(T, hp.n_head_kv, hp.head_dim)
        v = proj("v").reshape(T, hp.n_head_kv, hp.head_dim)
        if p + "self_attn.q_norm.weight" in sd:
            q = norm(q, W(p + "self_attn.q_norm.weight"))
            k = norm(k, W(p + "self_attn.k_norm.weight"))
        swa = gemma and hp.layer_is_swa[i]
        base = hp.rope_theta_swa if swa else hp.rope_theta
        q, k = rotate_half_rope(q, pos, base, hp.head_dim), rotate_half_rope(k, pos, base, hp.head_dim)
        rep = hp.n_head // hp.n_head_kv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) * scale
        qi, ki = np.arange(T)[:, None], np.arange(T)[None, :]
        allowed = ki <= qi
        if swa:
            allowed &= ki > qi - hp.sliding_window
        s = np.where(allowed[None], s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", s, v).reshape(T, -1) @ W(p + "self_attn.o_proj.weight").T
        if gemma:
            o = norm(o, W(p + "post_attention_layernorm.weight"))
            x = x + o
            h = norm(x, W(p + "pre_feedforward_layernorm.weight"))
        else:
            x = x + o
            h = norm(x, W(p + "post_attention_layernorm.weight"))
        g = h @ W(p + "mlp.gate_proj.weight").T
        a = gguf_forward.gelu_tanh(g) if gemma else g / (1 + np.exp(-g))
        f = (a * (h @ W(p + "mlp.up_proj.weight").T)) @ W(p + "mlp.down_proj.weight").T
        if gemma:
            f = norm(f, W(p + "post_feedforward_layernorm.weight"))
        x = x + f
    x = norm(x, W("model.norm.weight"))
    out = W("model.embed_tokens.weight") if hp.tie_embeddings else W("lm_head.weight")
    return x @ out.T


def tiny_config(arch: str) -> dict:
    return copy.deepcopy(make_reference_fixtures.ARCH_CONFIGS[arch])


def random_state_dict(hp: HParams, rng) -> dict:
    d, hd = hp.n_embd, hp.head_dim
    sd = {"model.embed_tokens.weight": rng.standard_normal((hp.n_vocab, d)) * 0.5,
          "model.norm.weight": 1 + 0.1 * rng.standard_normal(d)}
    if not hp.tie_embeddings:
        sd["lm_head.weight"] = rng.standard_normal((hp.n_vocab, d)) * 0.1
    for i in range(hp.n_layer):
        p = f"model.layers.{i}."
        mats = {"self_attn.q_proj": (hp.n_head * hd, d), "self_attn.k_proj": (hp.n_head_kv * hd, d),
                "self_attn.v_proj": (hp.n_head_kv * hd, d), "self_attn.o_proj": (d, hp.n_head * hd),
                "mlp.gate_proj": (hp.n_ff, d), "mlp.up_proj": (hp.n_ff, d), "mlp.down_proj": (d, hp.n_ff)}
        for n, shape in mats.items():
            sd[p + n + ".weight"] = rng.standard_normal(shape) * 0.1
        norms = ["input_layernorm", "post_attention_layernorm"]
        if hp.arch == "gemma3":
            norms += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
        if hp.arch in ("qwen3", "gemma3"):
            sd[p + "self_attn.q_norm.weight"] = 1 + 0.1 * rng.standard_normal(hd)
            sd[p + "self_attn.k_norm.weight"] = 1 + 0.1 * rng.standard_normal(hd)
        for n in norms:
            sd[p + n + ".weight"] = 1 + 0.1 * rng.standard_normal(d)
        if hp.arch == "qwen2":
            for n in "qkv":
                rows = (hp.n_head if n == "q" else hp.n_head_kv) * hd
                sd[p + f"self_attn.{n}_proj.bias"] = 0.1 * rng.standard_normal(rows)
    if hp.arch == "gemma3":  # HF gemma stores w with x * (1 + w): centre the random norms at 0
        for k in list(sd):
            if k.endswith("norm.weight"):
                sd[k] = sd[k] - 1
    return {k: v.astype(np.float32) for k, v in sd.items()}


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_fixture_set_fits_the_size_budget(self):
        rng = np.random.default_rng(3)
        total = 0
        for arch in make_reference_fixtures.ARCH_CONFIGS:
            hp = export_hf.hparams_from_hf(tiny_config(arch))
            sd = random_state_dict(hp, rng)
            for outtype in (GGMLType.F32, GGMLType.F16, GGMLType.BF16):
                path = os.path.join(self.tmp.name, "x.gguf")
                export_hf.export_state_dict(hp, sd, path, outtype)
                total += os.path.getsize(path) + 4 * hp.n_vocab * make_reference_fixtures.N_TOKENS
        print(f"fixture set: {total} bytes")
        self.assertLess(total, 5.2e6)

    def test_permute_matches_rotate_half_pairs(self):
        n_head, hd = 2, 8
        w = np.arange(n_head * hd, dtype=np.float32)[:, None]
        p = export_hf.permute_rope_rows(w, n_head)[:, 0]
        for h in range(n_head):
            for j in range(hd):
                self.assertEqual(p[h * hd + j], h * hd + j // 2 + (j % 2) * hd // 2)

    def test_gemma3_rejects_what_llama_cpp_cannot_express(self):
        cfg = tiny_config("gemma3")
        cfg["query_pre_attn_scalar"] = 256
        with self.assertRaises(NotImplementedError):
            export_hf.hparams_from_hf(cfg)
        cfg = tiny_config("gemma3")
        cfg["layer_types"] = ["full_attention"] * 7
        with self.assertRaises(NotImplementedError):
            export_hf.hparams_from_hf(cfg)

    def test_vocab(self):
        v = export_hf.make_byte_vocab(384)
        self.assertEqual(len(v.tokens), 384)
        self.assertEqual(len(set(v.tokens)), 384)
        self.assertEqual(v.tokens[32], "Ġ")
        self.assertEqual(v.tokens[ord("A")], "A")
        self.assertEqual(v.tokens[v.bos_id], "<|bos|>")
        self.assertEqual(v.token_types[-1], 5)
        for m in v.merges:
            a, b = m.split(" ")
            self.assertIn(a + b, v.tokens)

    def _tokenizer_json(self, merges_as_pairs=True, drop=None):
        """A tokenizers-style byte-level BPE: 2 specials, 256 bytes, 2 merges."""
        b2u = export_hf.bytes_to_unicode()
        vocab = {}
        for b in range(256):
            if b != drop:
                vocab[b2u[b]] = 2 + len(vocab)
        vocab["Ġt"] = 2 + len(vocab)
        vocab["Ġth"] = 2 + len(vocab)
        merges = [["Ġ", "t"], ["Ġt", "h"]]
        tj = {"added_tokens": [{"id": 0, "content": "<|bos|>", "special": True},
                               {"id": 1, "content": "<|eos|>", "special": True}],
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
              "model": {"type": "BPE", "vocab": vocab,
                        "merges": merges if merges_as_pairs else [" ".join(m) for m in merges]}}
        path = os.path.join(self.tmp.name, "tokenizer.json")
        with open(path, "w") as fp:
            json.dump(tj, fp)
        return path

    def test_vocab_from_tokenizer_json(self):
        for pairs in (True, False):
            v = export_hf.vocab_from_tokenizer_json(self._tokenizer_json(pairs), eot=None)
            self.assertEqual(len(v.tokens), 260)
            self.assertEqual((v.bos_id, v.eos_id), (0, 1))
            self.assertEqual(v.token_types[:3], [3, 3, 1])
            self.assertEqual(v.tokens[2 + 32], "Ġ")
            self.assertEqual(v.merges, ["Ġ t", "Ġt h"])
            self.assertTrue(v.add_bos)
            self.assertEqual(v.pre, "gpt-2")
        hp = export_hf.hparams_from_hf({**tiny_config("llama"), "vocab_size": 260})
        sd = random_state_dict(hp, np.random.default_rng(3))
        path = os.path.join(self.tmp.name, "tok.gguf")
        export_hf.export_state_dict(hp, sd, path, GGMLType.F16, "t", v)
        f = GGUFFile.open(path)
        self.assertEqual(f.value("tokenizer.ggml.pre"), "gpt-2")
        self.assertEqual(list(f.value("tokenizer.ggml.merges")), ["Ġ t", "Ġt h"])
        self.assertIs(f.value("tokenizer.ggml.add_bos_token"), True)
        self.assertIn("<|im_start|>", f.value("tokenizer.chat_template"))
        with self.assertRaises(ValueError):       # vocabulary size differs from the model's
            export_hf.export_state_dict(export_hf.hparams_from_hf(tiny_config("llama")), sd,
                                        path, GGMLType.F16, "t", v)

    def test_vocab_from_tokenizer_json_rejects(self):
        with self.assertRaisesRegex(ValueError, "byte tokens missing"):
            export_hf.vocab_from_tokenizer_json(self._tokenizer_json(drop=65), eot=None)
        with self.assertRaisesRegex(ValueError, "no token"):
            export_hf.vocab_from_tokenizer_json(self._tokenizer_json())     # no <|im_end|>

    def test_each_arch_matches_hf_style_forward(self):
        rng = np.random.default_rng(42)
        tokens = rng.integers(0, 384, 24)
        for arch in ("llama", "qwen2", "qwen3", "gemma3"):
            with self.subTest(arch=arch):
                hp = export_hf.hparams_from_hf(tiny_config(arch))
                sd = random_state_dict(hp, rng)
                for outtype in (GGMLType.F32, GGMLType.F16, GGMLType.BF16):
                    path = os.path.join(self.tmp.name, f"{arch}-{int(outtype)}.gguf")
                    stored = export_hf.export_state_dict(hp, sd, path, outtype)
                    f = GGUFFile.open(path)
                    self.assertEqual(f.value("general.architecture"), arch)
                    self.assertEqual(f.value(f"{arch}.block_count"), hp.n_layer)
                    self.assertEqual(len(f.value("tokenizer.ggml.tokens")), 384)
                    self.assertEqual(set(f.tensors), set(stored))
                    self.assertEqual("output.weight" in f.tensors, not hp.tie_embeddings)
                    for name, (y, t) in stored.items():
                        self.assertEqual(f.tensors[name].shape, y.shape, name)
                        self.assertEqual(f.tensors[name].ggml_type, t, name)
                        if name.endswith("norm.weight") or name.endswith(".bias"):
                            self.assertEqual(t, GGMLType.F32, name)
                    ref = hf_style_forward(hp, export_hf.round_state_dict(sd, outtype), tokens)
                    got = gguf_forward.forward(f, tokens)
                    self.assertGreater(np.std(ref), 0.1)
                    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9 * np.abs(ref).max() + 1e-9)
                if arch == "gemma3":  # the sliding window must matter for this test to mean anything
                    no_swa = export_hf.HParams(**{**hp.__dict__, "sliding_window": 10**6})
                    self.assertGreater(np.abs(hf_style_forward(no_swa, sd, tokens)
                                              - hf_style_forward(hp, sd, tokens)).max(), 1e-3)


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "models")


class FixturesTest(unittest.TestCase):
    """The committed fixtures: our reader opens them and the numpy forward (llama.cpp conventions)
    reproduces transformers' logits to float32 noise."""

    def test_fixtures_match_numpy_forward(self):
        import json
        for arch in make_reference_fixtures.ARCH_CONFIGS:
            tokens_path = os.path.join(FIXTURES, f"{arch}.tokens.json")
            if not os.path.exists(tokens_path):
                self.skipTest("fixtures not generated")
            with open(tokens_path) as fp:
                meta = json.load(fp)
            for dtype in ("f32", "f16", "bf16"):
                with self.subTest(arch=arch, dtype=dtype):
                    f = GGUFFile.open(os.path.join(FIXTURES, f"{arch}-{dtype}.gguf"))
                    want = np.fromfile(os.path.join(FIXTURES, f"{arch}-{dtype}.logits.f32"), "<f4")
                    want = want.reshape(len(meta["tokens"]), meta["n_vocab"])
                    self.assertEqual(f.value(f"{arch}.vocab_size"), meta["n_vocab"])
                    got = gguf_forward.forward(f, meta["tokens"])
                    self.assertLess(np.abs(got - want).max(), 1e-4 * np.abs(want).max())
                    self.assertGreater(np.abs(got - want).max(), 0.0)  # float32 vs float64 differ


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT_FX = os.path.join(ROOT, "tests", "fixtures", "default-model")


def np_fake_q4_0(w):
    """ggml's Q4_0 round trip (as train.py's fake_q4_0), in numpy float32."""
    b = w.astype(np.float32).reshape(-1, 32)
    mx = b[np.arange(len(b)), np.abs(b).argmax(axis=1)][:, None]
    d = mx / np.float32(-8)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0))
    q = np.clip(np.floor(b * inv + np.float32(8.5)), 0, 15)
    return ((q - 8) * d.astype(np.float16).astype(np.float32)).reshape(w.shape)


class DefaultModelTest(unittest.TestCase):
    """The shipped default model (models/gannet-default*.gguf): it loads, its tokenizer keys agree
    with the tokenizer it was trained with, the numpy forward reproduces PyTorch's logits, and
    the QAT file's layer matrices lie on the Q4_0 grid."""

    def setUp(self):
        path = os.path.join(ROOT, "models", "gannet-default.gguf")
        if not os.path.exists(path):
            self.skipTest("models/gannet-default.gguf not present")
        self.f = GGUFFile.open(path)
        with open(os.path.join(DEFAULT_FX, "windows.json")) as fp:
            self.meta = json.load(fp)
        with open(os.path.join(DEFAULT_FX, "provenance.json")) as fp:
            self.prov = json.load(fp)

    def test_metadata_and_tokenizer(self):
        f = self.f
        self.assertEqual(f.value("general.architecture"), "llama")
        self.assertEqual(f.value("tokenizer.ggml.model"), "gpt2")
        self.assertEqual(f.value("tokenizer.ggml.pre"), "gpt-2")
        self.assertIs(f.value("tokenizer.ggml.add_bos_token"), True)
        self.assertNotIn("output.weight", f.tensors)     # tied embeddings
        v = export_hf.vocab_from_tokenizer_json(os.path.join(DEFAULT_FX, "tokenizer.json"))
        self.assertEqual(list(f.value("tokenizer.ggml.tokens")), v.tokens)
        self.assertEqual(list(f.value("tokenizer.ggml.merges")), v.merges)
        self.assertEqual(f.value("tokenizer.ggml.bos_token_id"), v.bos_id)
        import sample_gguf
        tok = sample_gguf.ByteBPE(f)
        want = self.prov["tokenizer"]["once_upon_a_time_ids"]    # from HF tokenizers
        self.assertEqual(tok.encode("Once upon a time"), [v.bos_id] + want)
        self.assertEqual(tok.decode(want), "Once upon a time")

    def test_logits_match_pytorch(self):
        want = np.fromfile(os.path.join(DEFAULT_FX, "last_logits.f32"), "<f4")
        want = want.reshape(len(self.meta["windows"]), self.meta["n_vocab"])
        window = self.meta["windows"][0]                # 64 tokens: a few seconds in numpy
        got = gguf_forward.forward(self.f, window)[-1]
        self.assertLess(np.abs(got - want[0]).max(), 1e-4 * np.abs(want[0]).max())
        self.assertEqual(int(got.argmax()), self.meta["top1"][0])

    def test_qat_weights_are_on_the_q4_0_grid(self):
        qat = GGUFFile.open(os.path.join(ROOT, "models", "gannet-default-qat.gguf"))
        for name in ("blk.0.attn_q.weight", "blk.9.ffn_down.weight"):
            w = qat.tensor_f32(name)
            np.testing.assert_allclose(np_fake_q4_0(w), w, rtol=0, atol=1e-3 * np.abs(w).max())
            base = self.f.tensor_f32(name)                 # the PTQ source is not on the grid
            self.assertGreater(np.abs(np_fake_q4_0(base) - base).max(), 1e-2 * np.abs(base).max())


if __name__ == "__main__":
    unittest.main()
