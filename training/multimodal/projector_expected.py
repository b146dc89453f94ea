"""Expected soft tokens for src/multimodal/projector_test.cc, computed with numpy (float64).

The test writes a tiny random projector (E=8, D=6, 4 positions per axis) whose weights come from the
LCG below, seeded per tensor; this script regenerates the same weights and runs papers.md §1's math:
LN1 (eps 1e-5) -> Linear+bias -> LN2 -> + pos[x,0] + pos[y,1] -> pos LN -> RMSNorm (no scale, 1e-6)
-> Linear (no bias); audio: RMSNorm over 640 samples -> Linear.
Run: /usr/bin/python3 training/multimodal/projector_expected.py  (prints C++ initialisers).
"""
import numpy as np

E, D, P, PATCH = 8, 6, 4, 6912


def lcg(seed, n, scale, offset=0.0):
    out = np.empty(n)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = offset + scale * (((s >> 8) / float(1 << 24)) * 2 - 1)
    return out.astype(np.float32).astype(np.float64)


def ln(x, w, b, eps=1e-5):
    m = x.mean()
    v = ((x - m) ** 2).mean()
    return (x - m) / np.sqrt(v + eps) * w + b


def rms(x, eps=1e-6):
    return x / np.sqrt((x * x).mean() + eps)


in_w, in_b = lcg(1, PATCH, 0.1, 1.0), lcg(2, PATCH, 0.1)
patch_w, patch_b = lcg(3, E * PATCH, 0.02).reshape(E, PATCH), lcg(4, E, 0.1)
e_w, e_b = lcg(5, E, 0.1, 1.0), lcg(6, E, 0.1)
pos = lcg(7, P * 2 * E, 0.5).reshape(P, 2, E)
p_w, p_b = lcg(8, E, 0.1, 1.0), lcg(9, E, 0.1)
proj = lcg(10, D * E, 0.3).reshape(D, E)
audio = lcg(11, D * 640, 0.05).reshape(D, 640)

# Patches: 3 across, 2 down; value k of patch p = ((k*7 + p*13) % 256) / 255.
out = []
for p in range(6):
    x = np.array([((k * 7 + p * 13) % 256) / 255.0 for k in range(PATCH)], dtype=np.float32).astype(np.float64)
    h = patch_w @ ln(x, in_w, in_b) + patch_b
    h = ln(h, e_w, e_b) + pos[p % 3, 0] + pos[p // 3, 1]
    out.append(proj @ rms(ln(h, p_w, p_b)))
print("// image")
print("{" + ", ".join(f"{v:.7g}f" for v in np.concatenate(out)) + "}")

# Audio: 700 samples 0.5*sin(0.01 i), two frames, the second zero-padded.
wave = np.zeros(1280)
wave[:700] = (0.5 * np.sin(0.01 * np.arange(700))).astype(np.float32)
frames = wave.reshape(2, 640)
print("// audio")
print("{" + ", ".join(f"{v:.7g}f" for v in np.concatenate([audio @ rms(f) for f in frames])) + "}")
