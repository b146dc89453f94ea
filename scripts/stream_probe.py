#!/usr/bin/env python3
"""One streamed completion against an OpenAI-compatible server: time to first token and decode speed.

    scripts/stream_probe.py --url http://127.0.0.1:PORT --words 6000 --max-tokens 128 [--repeat 2]
        [--seed S] [--shared-prefix N]

The prompt is --words random lowercase words (seeded, a different seed per repeat so no prefix is
shared, unless --shared-prefix N makes the first N words the same for every request and process); the request is greedy with ignore_eos, so every token is generated. Prints one JSON line per
request: ttft_s (request sent -> first token), decode_tok_s (tokens after the first / time after the
first), prompt_tokens and completion_tokens from the final usage chunk. Standard library only.
"""
import argparse
import http.client
import json
import random
import sys
import time
import urllib.parse


def words(n, seed):
    rng = random.Random(seed)
    return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 3))) for _ in range(n))


def model_id(url):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("GET", "/v1/models")
    return json.loads(conn.getresponse().read())["data"][0]["id"]


def probe(url, prompt, max_tokens):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"model": model_id(url), "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
                       "stream": True, "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"stream_probe: HTTP {resp.status}: {resp.read()[:300]!r}")
    t_first = None
    t_last = None
    n_chunks = 0
    usage = {}
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        msg = json.loads(data)
        if msg.get("usage"):
            usage = msg["usage"]
        if msg.get("choices"):
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            t_last = now
            n_chunks += 1
    conn.close()
    n_tok = usage.get("completion_tokens", n_chunks)
    decode = (n_tok - 1) / (t_last - t_first) if t_first is not None and t_last > t_first else 0.0
    return {"ttft_s": round(t_first - t0, 4) if t_first else None, "decode_tok_s": round(decode, 2),
            "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": n_tok, "chunks": n_chunks}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--words", type=int, default=6000)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--shared-prefix", type=int, default=0)
    a = ap.parse_args()
    shared = words(a.shared_prefix, 7) + " " if a.shared_prefix > 0 else ""
    for i in range(a.repeat):
        r = probe(a.url, shared + words(a.words - a.shared_prefix, a.seed + i), a.max_tokens)
        r["words"] = a.words
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
