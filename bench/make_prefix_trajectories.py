#!/usr/bin/env python3
"""Writes N one-step trajectories that share a ~500-character system prompt, in the format of
../shared/data/agent-trajectories/, for the fixed-concurrency serving benchmark (docs/BENCHMARKS.md):
    bench/make_prefix_trajectories.py OUT_DIR [N]"""
import json
import os
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 160
os.makedirs(out, exist_ok=True)
system = ("You are a careful software agent working in a Debian shell. Answer with one shell command "
          "in a fenced bash block, then stop. Prefer standard tools: ls, cat, grep, sed, find, make. "
          "Never run commands that need the network. Explain nothing unless asked. ") * 2
with open(os.path.join(out, "prefix.steps.jsonl"), "w") as steps, \
        open(os.path.join(out, "prefix.text.jsonl"), "w") as text:
    for i in range(n):
        tid = f"prefix-{i}"
        steps.write(json.dumps({"id": tid, "steps": [{"output_tokens": 32, "next_request_gap_ms": None}]}) + "\n")
        text.write(json.dumps({"id": tid, "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": f"Task {i}: list the files of project number {i} and show the first lines of its README."},
            {"role": "assistant", "content": "ls"}]}) + "\n")
