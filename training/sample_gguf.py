"""Greedy text generation from a GGUF with a "gpt2" (byte-level BPE) vocabulary, in plain numpy:
the tokenizer keys of the file + gguf_forward.py. A check that a shipped model loads and writes
text, with no torch and no tokenizers library.

    python3 training/sample_gguf.py models/gannet-default.gguf -p "Once upon a time" -n 60

The pre-tokenizer is GPT-2's regex written for Python's `re` (letters = [^\\W\\d_], digits = \\d),
exact for ASCII text.
"""

from __future__ import annotations

import argparse
import re

import numpy as np

import gguf_forward
from export_hf import bytes_to_unicode
from gguf_reader import GGUFFile

GPT2_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")


class ByteBPE:
    def __init__(self, f: GGUFFile):
        if f.value("tokenizer.ggml.model") != "gpt2":
            raise ValueError("not a gpt2 (byte-level BPE) vocabulary")
        self.tokens = list(f.value("tokenizer.ggml.tokens"))
        self.id_of = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(f.value("tokenizer.ggml.merges"))}
        self.b2u = bytes_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.bos = f.value("tokenizer.ggml.bos_token_id")
        self.add_bos = bool(f.value("tokenizer.ggml.add_bos_token", False))
        self.types = list(f.value("tokenizer.ggml.token_type"))

    def _bpe(self, word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            best = min(range(len(parts) - 1),
                       key=lambda i: self.ranks.get((parts[i], parts[i + 1]), 1 << 30))
            if (parts[best], parts[best + 1]) not in self.ranks:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        return parts

    def encode(self, text: str) -> list[int]:
        ids = [self.bos] if self.add_bos else []
        for piece in GPT2_SPLIT.findall(text):
            mapped = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            ids += [self.id_of[p] for p in self._bpe(mapped)]
        return ids

    def decode(self, ids) -> str:
        out = bytearray()
        for i in ids:
            if self.types[i] != 1:          # control / unused tokens print nothing
                continue
            out += bytes(self.u2b[c] for c in self.tokens[i])
        return out.decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("-p", "--prompt", default="Once upon a time")
    ap.add_argument("-n", type=int, default=60)
    args = ap.parse_args()
    f = GGUFFile.open(args.gguf)
    tok = ByteBPE(f)
    ids = tok.encode(args.prompt)
    print("prompt tokens:", ids)
    out = []
    for _ in range(args.n):
        logits = gguf_forward.forward(f, ids + out, dtype=np.float32)
        out.append(int(np.argmax(logits[-1])))
    print("generated ids:", out)
    print(repr(args.prompt + tok.decode(out)))


if __name__ == "__main__":
    main()
