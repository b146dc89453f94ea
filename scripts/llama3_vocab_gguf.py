"""Writes a vocab-only GGUF of Llama 3's tokenizer (128,000 BPE tokens + 256 special tokens) for
`gannet bench constrain --vocab` (MaskBench at a 128k vocabulary, issue 16).

Source: the npm package llama3-tokenizer-js (MIT, belladore.ai), which bakes Llama 3's
tokenizer.json into base64 blobs: `llama_vocab_base64` (the BPE tokens in GPT-2 byte-to-unicode
form, '\\n'-separated, in id order) and `llama_merges_binary` (each merge as two 17-bit vocab ids,
packed MSB first, in priority order). Nothing is committed: fetch the package with
`npm pack llama3-tokenizer-js`, unpack it, and run

    python3 scripts/llama3_vocab_gguf.py --package /tmp/package --out /work/data/llama3/ggml-vocab-llama3.gguf

The special tokens are named as in Meta's release (<|begin_of_text|> = 128000, <|end_of_text|> =
128001, <|reserved_special_token_K|>, <|start_header_id|>, <|end_header_id|>, <|eot_id|> = 128009).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from gguf_writer import GGUFWriter, ValueType  # noqa: E402

N_BPE = 128000
N_SPECIAL = 256


def read_blob(js: str, name: str) -> bytes:
    m = re.search(r"const %s = \"([A-Za-z0-9+/=]+)\"" % name, js)
    if m is None:
        raise SystemExit("llama3_vocab_gguf: %s not found in data-converted.js" % name)
    return base64.b64decode(m.group(1))


def special_names() -> list[str]:
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
             "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|reserved_special_token_4|>", "<|eot_id|>"]
    k = 5
    while len(names) < N_SPECIAL:
        names.append("<|reserved_special_token_%d|>" % k)
        k += 1
    return names


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True, help="unpacked llama3-tokenizer-js package folder")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.package, "src", "data-converted.js"), encoding="utf-8") as f:
        js = f.read()
    tokens = read_blob(js, "llama_vocab_base64").decode("utf-8").split("\n")
    if len(tokens) != N_BPE:
        raise SystemExit("llama3_vocab_gguf: %d BPE tokens, expected %d" % (len(tokens), N_BPE))
    bits = "".join(format(b, "08b") for b in read_blob(js, "llama_merges_binary"))
    ids = [int(bits[i:i + 17], 2) for i in range(0, len(bits) - 16, 17)]
    merges = ["%s %s" % (tokens[ids[i]], tokens[ids[i + 1]]) for i in range(0, len(ids) - 1, 2)]
    w = GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_string("general.name", "llama3 vocab (llama3-tokenizer-js 1.2.0)")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "llama-bpe")
    w.add_string_array("tokenizer.ggml.tokens", tokens + special_names())
    w.add_array("tokenizer.ggml.token_type", [1] * N_BPE + [3] * N_SPECIAL, ValueType.I32)
    w.add_string_array("tokenizer.ggml.merges", merges)
    w.add_u32("tokenizer.ggml.bos_token_id", N_BPE)
    w.add_u32("tokenizer.ggml.eos_token_id", N_BPE + 9)  # <|eot_id|>, as in the Instruct models
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    w.write(args.out)
    print("%s: %d tokens, %d merges" % (args.out, len(tokens) + N_SPECIAL, len(merges)))


if __name__ == "__main__":
    main()
